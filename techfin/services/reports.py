"""Tables for pages and their CSV / XLSX downloads.

CSV is UTF-8 with a byte-order mark (Excel on Chinese Windows reads it as GBK without one);
text cells starting with = + - @ (or tab / carriage return) are prefixed with an apostrophe
so a spreadsheet never runs them as formulas. XLSX text cells are typed text, never
formulas; those same cells carry Excel's hidden quote prefix instead of a visible apostrophe.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from techfin.money import Wan, wan_text
from techfin.services.interchange import safe_cell

BOM = "\ufeff"
FORMATS = ("csv", "xlsx")
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet may start a formula


@dataclass
class Table:
    """A titled table: `columns` are display headers, `rows` plain values: money as `Wan`
    cells (shown in 万元, techfin.money), counts as int, dates as date."""

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
    if isinstance(value, Wan):
        return str(value.wan)  # the plain number: CSV is read by programs too
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


def _display_width(value: Any) -> int:
    """Columns wide enough for their content: CJK characters take two columns."""
    text = value if isinstance(value, str) else cell_text(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cell_text(value: Any, missing: str = "") -> str:
    """A table cell as a page shows it: thousands separators, money in 万元, ISO dates."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Wan):
        return wan_text(value.cny)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal | Fraction):
        return f"{float(value):,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _Formats:
    """Cell formats by kind, made once per workbook (xlsxwriter keeps each). Table cells are
    bordered; text a spreadsheet could take for a formula gets Excel's hidden quote prefix,
    which keeps it text even when edited, without a visible apostrophe."""

    # rates keep 4 places; 万元 show 2 (the cell keeps the exact value, to the yuan)
    NUMBER = {"int": "#,##0", "float": "#,##0.00##", "wan": "#,##0.00", "date": "yyyy-mm-dd"}

    def __init__(self, book: Any) -> None:
        self.book = book
        self.cache: dict[tuple[str, bool, bool], Any] = {}

    def __call__(self, kind: str, bold: bool = False, guarded: bool = False) -> Any:
        key = (kind, bold, guarded)
        if key not in self.cache:
            spec: dict[str, Any] = (
                {} if kind in ("title", "line") else {"border": 1, "valign": "top"}
            )
            if bold:
                spec["bold"] = True
            if kind in self.NUMBER:
                spec["num_format"] = self.NUMBER[kind]
            if kind == "header":
                spec.update(bold=True, bg_color="#E9ECEF", text_wrap=True)
            if kind == "title":
                spec.update(bold=True, font_size=14)
            if guarded:
                spec["quote_prefix"] = True
            self.cache[key] = self.book.add_format(spec)
        return self.cache[key]

    def text(
        self, sheet: Any, row: int, col: int, value: str, kind: str, bold: bool = False
    ) -> None:
        sheet.write_string(row, col, value, self(kind, bold, value[:1] in _TRIGGERS))


def to_xlsx(tables: Sequence[Table], *, date_cells: bool = True) -> bytes:
    """One worksheet per table, ready to print: title, preamble, a bordered table with a
    bold header (repeated on every page) and bold totals, thousands separators, columns
    as wide as their content, landscape A4 fitted to one page across."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(
        buf,
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
         "strings_to_numbers": False},
    )  # fmt: skip
    fmt = _Formats(book)
    used: set[str] = set()
    for table in tables:
        sheet = book.add_worksheet(_sheet_name(table.name, used))
        row = 0
        fmt.text(sheet, row, 0, table.title, "title")
        row += 1
        for line in table.preamble:
            fmt.text(sheet, row, 0, line, "line")
            row += 1
        header_row = row
        widths = [_display_width(h) for h in table.columns]
        for col, header in enumerate(table.columns):
            fmt.text(sheet, row, col, header, "header")
        for values in table.all_rows():
            row += 1
            bold = values is table.totals
            _write_row(sheet, row, values, fmt, bold, date_cells)
            for col, value in enumerate(values[: len(widths)]):
                widths[col] = max(widths[col], _display_width(value))
        for col, width in enumerate(widths):
            sheet.set_column(col, col, min(max(width + 2, 6), 60))
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)  # one page wide, as many long as it takes
        sheet.repeat_rows(header_row)
        sheet.freeze_panes(header_row + 1, 0)
        sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    book.close()
    return buf.getvalue()


def _write_row(
    sheet: Any, row: int, values: list[Any], fmt: _Formats, bold: bool, date_cells: bool
) -> None:
    for col, value in enumerate(values):
        if value is None or value == "":
            sheet.write_blank(row, col, None, fmt("text", bold))
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value, fmt("text", bold))
        elif isinstance(value, Wan):
            sheet.write_number(row, col, float(value.wan), fmt("wan", bold))
        elif isinstance(value, int):
            sheet.write_number(row, col, value, fmt("int", bold))
        elif isinstance(value, float | Decimal | Fraction):
            sheet.write_number(row, col, float(value), fmt("float", bold))
        elif isinstance(value, datetime):
            sheet.write_string(row, col, value.strftime("%Y-%m-%d %H:%M"), fmt("text", bold))
        elif isinstance(value, date):
            if date_cells:
                sheet.write_datetime(row, col, datetime(value.year, value.month, value.day),
                                     fmt("date", bold))  # fmt: skip
            else:
                sheet.write_string(row, col, value.isoformat(), fmt("text", bold))
        else:
            text = ";".join(map(str, value)) if isinstance(value, list) else str(value)
            fmt.text(sheet, row, col, text, "text", bold)


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
