"""The command line: the parser, the commands, and how they print."""
