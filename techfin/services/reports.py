"""Tables for pages and their CSV / XLSX downloads.

CSV is UTF-8 with a byte-order mark (Excel on Chinese Windows reads it as GBK without one);
text cells starting with = + - @ (or tab / carriage return) are prefixed with an apostrophe
so a spreadsheet never runs them as formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from techfin.services.interchange import safe_cell

BOM = "\ufeff"
FORMATS = ("csv", "xlsx")


@dataclass
class Table:
    """A titled table: `columns` are display headers, `rows` plain values (yuan, dates)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    totals: list[Any] | None = None
    # Extra lines printed above the header in the XLSX (the title is always the first).
    preamble: list[str] = field(default_factory=list)

    def all_rows(self) -> list[list[Any]]:
        return self.rows + ([self.totals] if self.totals is not None else [])


def neutralise(value: Any) -> Any:
    """A cell value that no spreadsheet evaluates as a formula."""
    if isinstance(value, str):
        return safe_cell(value)
    return value


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Fraction):
        return f"{float(value):.2f}"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int | float):
        return value
    return neutralise(str(value))


def to_csv(table: Table) -> bytes:
    """The table as UTF-8 CSV with a BOM; CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in table.columns])
    for row in table.all_rows():
        writer.writerow([_plain(v) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")


def to_xlsx(tables: Sequence[Table], *, date_cells: bool = True) -> bytes:
    """One worksheet per table: title, preamble, bold header, rows, bold totals."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(
        buf,
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
         "strings_to_numbers": False},
    )  # fmt: skip
    bold = book.add_format({"bold": True})
    title_fmt = book.add_format({"bold": True, "font_size": 14})
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    used: set[str] = set()
    for table in tables:
        sheet = book.add_worksheet(_sheet_name(table.name, used))
        row = 0
        sheet.write_string(row, 0, neutralise(table.title), title_fmt)
        row += 1
        for line in table.preamble:
            sheet.write_string(row, 0, neutralise(line))
            row += 1
        for col, header in enumerate(table.columns):
            sheet.write_string(row, col, neutralise(header), bold)
            sheet.set_column(col, col, max(10, min(40, len(str(header)) * 2 + 2)))
        for values in table.rows:
            row += 1
            _write_row(sheet, row, values, None, date_fmt if date_cells else None)
        if table.totals is not None:
            row += 1
            _write_row(sheet, row, table.totals, bold, date_fmt if date_cells else None)
    book.close()
    return buf.getvalue()


def _write_row(sheet: Any, row: int, values: list[Any], fmt: Any, date_fmt: Any) -> None:
    for col, value in enumerate(values):
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value, fmt)
        elif isinstance(value, int | float):
            sheet.write_number(row, col, value, fmt)
        elif isinstance(value, Decimal | Fraction):
            sheet.write_number(row, col, float(value), fmt)
        elif isinstance(value, datetime):
            sheet.write_string(row, col, value.strftime("%Y-%m-%d %H:%M"), fmt)
        elif isinstance(value, date):
            if date_fmt is not None:
                sheet.write_datetime(row, col, datetime(value.year, value.month, value.day),
                                     date_fmt)  # fmt: skip
            else:
                sheet.write_string(row, col, value.isoformat(), fmt)
        else:
            sheet.write_string(row, col, neutralise(str(value)), fmt)


_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _sheet_name(name: str, used: set[str]) -> str:
    base = (name.translate(_SHEET_FORBIDDEN).strip("'") or "Sheet")[:28]
    candidate, n = base, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{base}_{n}"
    used.add(candidate.lower())
    return candidate


def download_name(table: Table, fmt: str) -> str:
    return f"{table.name}.{fmt}"


def mimetype(fmt: str) -> str:
    """The bare type: a text/* response gets `; charset=utf-8` from Werkzeug once."""
    if fmt == "csv":
        return "text/csv"
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(table: Table, fmt: str) -> bytes:
    return to_csv(table) if fmt == "csv" else to_xlsx([table])
