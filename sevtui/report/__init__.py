"""What a study ends in: figures and a report folder, drawn from the database only.

The constants here are what the command line needs to describe the options; the
drawing (matplotlib) loads only when a figure is drawn.
"""

PLOT_KINDS = ("overhead", "along", "by-host", "repetitions")
ONE_COLUMN_IN = 3.3
"""One column of a two-column paper; `--width 7` is a full page width."""
