"""Write a DataTable cell without repainting the whole table: the one place that uses
DataTable internals (`_data`, `_update_count`), pinned by the exact Textual version.

DataTable.update_cell repaints every row; for the VM table, whose uptime and CPU cells
change every second, that was most of the app's idle CPU. tests/tui check that these
internals still exist and that the written cell appears on screen.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey


def write_cell_quietly(table: DataTable[Any], row: str, column: str, value: Any) -> None:
    """Store VALUE in the cell without a repaint; call repaint_row afterwards."""
    table._data[RowKey(row)][ColumnKey(column)] = value


def repaint_row(table: DataTable[Any], row: str) -> None:
    """Invalidate the table's render caches (keyed by its update count) and repaint ROW."""
    table._update_count += 1
    table.refresh_row(table.get_row_index(row))
