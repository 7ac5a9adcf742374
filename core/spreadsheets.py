"""Excel workbooks written row by row (openpyxl write-only mode): memory stays flat for any number of rows."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel's limits; a sheet name may not hold []:*?/\\
MAX_ROWS = 1_048_576
_BAD_TITLE_CHARS = str.maketrans({c: " " for c in "[]:*?/\\\\"})


def sheet_title(text: str) -> str:
    return (str(text).translate(_BAD_TITLE_CHARS).strip() or "Sheet")[:31]


def write_workbook(title: str, header: list[str], rows: Iterable[list], extra_sheets=()):
    """A temporary file holding the workbook, positioned at its start (the caller streams and closes it)."""
    workbook = Workbook(write_only=True)
    _write_sheet(workbook, title, header, rows)
    for sheet_name, sheet_header, sheet_rows in extra_sheets:
        _write_sheet(workbook, sheet_name, sheet_header, sheet_rows)
    handle = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(handle)
    handle.seek(0)
    return handle


def _write_sheet(workbook, title, header, rows) -> None:
    sheet = workbook.create_sheet(sheet_title(title))
    bold = Font(bold=True)
    cells = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=str(text))
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for count, row in enumerate(rows, start=2):
        if count > MAX_ROWS:
            break  # Excel cannot open more; CSV export has no limit
        sheet.append(row)
