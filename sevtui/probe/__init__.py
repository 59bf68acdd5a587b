"""The memory-exposure probe: can the host read a guest's memory?"""
