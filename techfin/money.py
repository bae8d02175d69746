"""The one money formatter and the one unit rule.

Unit rule:
- Money is stored, imported, exported as interchange data (`export-data`) and sent through the
  JSON API as integer **yuan** (`*_cny`): programs need the exact figure.
- A person reads it in **万元** (10 000 yuan): pages, mail, notices, form messages, the dashboard
  with its charts and tables, and the CSV / XLSX downloads of those tables. The unit is said
  once per figure: in the column header ("Amount funded (万元)") or right after the figure.
  Pages and XLSX show thousands separators; a CSV cell holds the plain number (a separator
  would turn it into text for a spreadsheet in another locale).
- The one exception is the filed 科技贷款项目风险准备金申报汇总表 and its reconciliation: the
  bank's form counts to the yuan, so they stay in 元 and say so in the header.

Templates print money only through the `wan` / `money` filters; services build table cells
as `Wan` values, which the page, CSV and XLSX writers each render by this rule. Nothing here
imports Flask, so the matching library uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

YUAN_PER_WAN = 10_000
UNIT_ZH = "万元"


def to_wan(amount_cny: int | float | Decimal | None) -> Decimal | None:
    """Yuan → 万元, exact (one yuan is 0.0001 万元), without trailing zeros."""
    if amount_cny is None:
        return None
    value = Decimal(str(amount_cny)) / YUAN_PER_WAN
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def wan_text(amount_cny: int | float | Decimal | None, *, exact: bool = False,
             missing: str = "—") -> str:  # fmt: skip
    """The figure in 万元 as a person reads it, with thousands separators: 5000000 → "500",
    1234567 → "123.46", 123456789012 → "12,345,678.9". `exact` keeps all four decimals a
    yuan needs (for a limit the reader must type back into a 万元 field)."""
    value = to_wan(amount_cny)
    if value is None:
        return missing
    if not exact:
        value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def wan_with_unit(amount_cny: int | float | Decimal | None, *, exact: bool = False) -> str:
    """ "500 万元": a figure in running text, the unit right after it."""
    if amount_cny is None:
        return "—"
    return f"{wan_text(amount_cny, exact=exact)} {UNIT_ZH}"


def chart_value(amount_cny: int | None) -> float:
    """A chart's data point in 万元 (two decimals is what an axis can show)."""
    return round((amount_cny or 0) / YUAN_PER_WAN, 2)


@dataclass(frozen=True, order=True)
class Wan:
    """A money cell of a report table: holds yuan, renders in 万元 everywhere (page, CSV, XLSX).
    Adds up, so a totals row is a plain `sum`."""

    cny: int = 0

    def __add__(self, other: Any) -> Wan:
        if isinstance(other, Wan):
            return Wan(self.cny + other.cny)
        if isinstance(other, int) and not isinstance(other, bool):
            return Wan(self.cny + other)
        return NotImplemented

    __radd__ = __add__

    @property
    def wan(self) -> Decimal:
        return to_wan(self.cny) or Decimal(0)

    def __str__(self) -> str:
        return wan_text(self.cny)
