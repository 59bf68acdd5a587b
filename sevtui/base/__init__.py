"""Foundations every layer uses: errors, processes, private state folders, sizes,
VM kinds, values, names from outside, and safe input and output files."""
