"""Spreadsheet cells that hold codes as numbers (issue #14): read back as the codes typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from techfin.services.interchange import _coerce_tabular, read_file


def _enterprise(**cells: object) -> dict[str, object]:
    return _coerce_tabular({"type": "enterprise", "ref": "E-1", "name": "某某科技", **cells})


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (440305, "440305"),
        (440305.0, "440305"),
        (510107, "510107"),
        ("440305", "440305"),  # text stays text
    ],
)
def test_numeric_region_cells(cell: object, expected: str) -> None:
    assert _enterprise(region=cell)["region"] == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (3911, "C3911"),
        (3911.0, "C3911"),
        (38, "C38"),  # "038" and "0038" are no codes: one reading only
        (6513, "I6513"),
        # Leading zeros lost: 111 is A0111 (稻谷种植) or B111 (a group): refused, not guessed.
        (111, 111),
        (511, 511),
        (3911.5, 3911.5),
        (99999, 99999),
    ],
)
def test_numeric_industry_cells(cell: object, expected: object) -> None:
    assert _enterprise(industry=cell)["industry"] == expected


def test_numeric_refs_and_patent_numbers() -> None:
    patent = _coerce_tabular(
        {"type": "patent", "ref": 1001.0, "enterprise_ref": 1001, "number": 201510102606.0}
    )
    assert patent["ref"] == "1001"
    assert patent["enterprise_ref"] == "1001"
    # "201510102606.0" typed into Excel is stored as a number; its check digit is 0.
    assert patent["number"] == "201510102606.0"
    # A body whose check digit is not 0 lost nothing it can be told apart from: the
    # validator then asks for the check digit.
    assert _coerce_tabular({"type": "patent", "number": 201710601862})["number"] == "201710601862"
    assert _coerce_tabular({"type": "patent", "number": 2017106018623})["number"] == "2017106018623"
    # "201710601862.3" from a CSV opened in LibreOffice: a decimal number, read back as typed.
    assert _coerce_tabular({"type": "patent", "number": 201710601862.3})["number"] == (
        "201710601862.3"
    )
    assert _coerce_tabular({"type": "patent", "number": 20051234.5})["number"] == "20051234.5"
    assert _coerce_tabular({"type": "patent", "number": 2017106.5})["number"] == 2017106.5


def test_numbers_beyond_double_precision_are_not_trusted() -> None:
    # An all-digit USCC typed as a number has been rounded by Excel already.
    rounded = 914403001922038216.0
    assert _enterprise(uscc=rounded)["uscc"] == rounded
    assert _enterprise(uscc=-5)["uscc"] == -5


def test_numeric_cells_in_lists() -> None:
    product = _coerce_tabular({"type": "product", "regions": 4420.0, "industries": 3911})
    assert product["regions"] == ["4420"]
    assert product["industries"] == ["C3911"]


def test_xlsx_numeric_cells_read_as_codes(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "enterprise"
    sheet.append(["ref", "name", "industry", "region", "employees"])
    sheet.append([7, "深圳南山某科技", 3911, 440305, 86.0])
    patents = book.create_sheet("patent")
    patents.append(["ref", "enterprise_ref", "number", "title", "kind", "status"])
    patents.append(["PT-1", 7, 201510102606.0, "一种灯具", "invention", "granted"])
    path = tmp_path / "register.xlsx"
    book.save(path)
    records = [record for _, record in read_file(path)]
    assert records[0] == {
        "ref": "7", "name": "深圳南山某科技", "industry": "C3911", "region": "440305",
        "employees": 86, "type": "enterprise",
    }  # fmt: skip
    assert records[1]["number"] == "201510102606.0"
    assert records[1]["enterprise_ref"] == "7"
