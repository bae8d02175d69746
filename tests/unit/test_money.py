"""The one money formatter and unit rule (techfin.money), and that templates use it."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from techfin.money import Wan, to_wan, wan_text, wan_with_unit
from techfin.services.reports import Table, cell_text, to_csv

ROOT = Path(__file__).resolve().parents[2] / "techfin"


@pytest.mark.parametrize(
    ("yuan", "exact", "shown"),
    [
        (5_000_000, False, "500"),
        (1_234_567, False, "123.46"),
        (1_234_567, True, "123.4567"),
        (123_456_789_012, False, "12,345,678.9"),
        (10_000, False, "1"),
        (1, True, "0.0001"),
        (None, False, "—"),
    ],
)
def test_wan_text(yuan: int | None, exact: bool, shown: str) -> None:
    assert wan_text(yuan, exact=exact) == shown


def test_wan_cells_add_up_and_render_by_the_rule() -> None:
    assert sum([Wan(10_000), Wan(25_000_000)]) == Wan(25_010_000)
    assert to_wan(25_010_000) == Decimal("2501")
    assert cell_text(Wan(123_456_789_000)) == "12,345,678.9"  # pages: 万元 with separators
    assert wan_with_unit(5_000_000) == "500 万元"
    csv = to_csv(Table("t", "t", ["金额（万元）"], [[Wan(123_456_789_012)]])).decode("utf-8-sig")
    assert csv.splitlines()[1] == "12345678.9012"  # CSV: the exact plain number in 万元


# Money printed in a template without the filters: a yuan field in `{{ }}` without
# `| wan` (or `| yuan`, the filed table's exception), hand-made separators, 元 after a figure.
_EXPRESSION = re.compile(r"\{\{[^}]*_cny\b[^}]*\}\}")
_FILTERED = re.compile(r"\|\s*(?:wan|yuan)\b")
_FORM_FIELD = re.compile(r"\{\{\s*(?:render_field\(form\.|money_input\()")


def test_templates_print_money_only_through_the_filters() -> None:
    problems = []
    for path in sorted((ROOT / "templates").rglob("*.*")):
        text = path.read_text(encoding="utf-8")
        for match in _EXPRESSION.finditer(text):
            if not _FORM_FIELD.match(match.group(0)) and not _FILTERED.search(match.group(0)):
                problems.append(f"{path.name}: {match.group(0)[:80]}")
        for bad in ("'{:,}'", '"{:,}"', "}} 元", "}}元"):
            if bad in text:
                problems.append(f"{path.name}: {bad}")
    assert problems == []


def test_python_formats_money_only_in_techfin_money() -> None:
    # Dividing by 10 000 to show a figure belongs to techfin.money (parsing 万元 input
    # multiplies, which is not matched).
    pattern = re.compile(r"/\s*10_?000\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.name != "money.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []
