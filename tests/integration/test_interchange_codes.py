"""Register extracts with county codes, class codes and numeric cells import (issue #14)."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import Workbook

from techfin.extensions import db
from techfin.models import Enterprise, Patent, Product
from techfin.services.interchange import import_file


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def _enterprise(ref: str, industry: object, region: object) -> dict:
    return {"type": "enterprise", "ref": ref, "name": f"{ref} 科技有限公司",
            "industry": industry, "region": region}  # fmt: skip


def test_codes_refused_before_are_imported_in_canonical_form(app, tmp_path):
    path = _write_jsonl(tmp_path / "register.jsonl", [
        _enterprise("E-NS", "C3911", "440305"),  # 深圳南山
        _enterprise("E-WH", "3911", "510107"),  # 成都武侯, class without its letter
        _enterprise("E-BJ", "i6513", "110100"),  # Beijing as its 市辖区 grouping code
        {"type": "funder", "ref": "F-9", "name": "某银行科技支行", "kind": "bank"},
        {"type": "product", "ref": "P-9", "funder_ref": "F-9", "name": "科创贷", "kind": "loan",
         "industries": ["3911", "C39"], "regions": ["440305"]},
    ])  # fmt: skip
    with app.app_context():
        report = import_file(path)
        assert report.committed, [str(e) for e in report.errors]
        stored = {
            e.ref: (e.industry, e.region)
            for e in db.session.execute(db.select(Enterprise)).scalars()
        }
        assert stored == {
            "E-NS": ("C3911", "440305"),
            "E-WH": ("C3911", "510107"),
            "E-BJ": ("I6513", "110000"),
        }
        product = db.session.execute(db.select(Product).filter_by(ref="P-9")).scalar_one()
        assert product.industries == ["C3911", "C39"]


def test_unknown_codes_are_still_refused_by_field(app, tmp_path):
    path = _write_jsonl(tmp_path / "bad.jsonl", [_enterprise("E-X", "3999", "440399")])
    with app.app_context():
        report = import_file(path)
        assert not report.committed
        assert {e.field for e in report.errors} == {"industry", "region"}


def test_xlsx_with_numeric_code_cells_imports(app, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "enterprise"
    sheet.append(["ref", "name", "industry", "region"])
    sheet.append([1001, "深圳南山某科技有限公司", 3911, 440305])
    patents = book.create_sheet("patent")
    patents.append(["ref", "enterprise_ref", "number", "title", "kind", "status"])
    patents.append(["PT-1", 1001, 201510102606.0, "一种灯具", "invention", "granted"])
    path = tmp_path / "register.xlsx"
    book.save(path)
    with app.app_context():
        report = import_file(path)
        assert report.committed, [str(e) for e in report.errors]
        ent = db.session.execute(db.select(Enterprise).filter_by(ref="1001")).scalar_one()
        assert (ent.industry, ent.region) == ("C3911", "440305")
        patent = db.session.execute(db.select(Patent).filter_by(ref="PT-1")).scalar_one()
        assert patent.number == "201510102606.0"
