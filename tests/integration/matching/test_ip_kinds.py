"""IP beyond patents (issue #15): software copyrights and trademarks imported, exported and
counted by the products that accept them, and only by those."""

from __future__ import annotations

import json

import pytest

from techfin.extensions import db

SOFTWARE_FIRM = [
    {"type": "enterprise", "ref": "E-SW", "name": "中山市云码软件有限公司", "industry": "I65",
     "region": "442000", "employees": 30, "revenue_cny": 8000000, "stage": "growth",
     "description": "企业管理软件"},
    {"type": "copyright", "ref": "CR-1", "enterprise_ref": "E-SW", "number": "2021SR0123456",
     "title": "云码进销存管理系统 V1.0", "status": "registered", "registered": "2021-03-02",
     "valuation_cny": 1500000},
    {"type": "copyright", "ref": "CR-2", "enterprise_ref": "E-SW", "number": "2022sr0654321",
     "title": "云码财务软件 V2.0", "status": "registered", "valuation_cny": 900000},
    {"type": "copyright", "ref": "CR-3", "enterprise_ref": "E-SW", "number": "2023SR1000001",
     "title": "云码移动端 V1.0", "status": "pending"},
    {"type": "trademark", "ref": "TM-1", "enterprise_ref": "E-SW", "number": "30123456",
     "name": "云码", "nice_class": 9, "status": "registered", "registered": "2019-06-01",
     "valuation_cny": 200000, "confidential": True},
    {"type": "need", "ref": "N-SW", "enterprise_ref": "E-SW", "kind": "ip_pledge",
     "amount_cny": 1000000, "term_months": 12, "purpose": "研发投入"},
    {"type": "product", "ref": "P-CR", "funder_ref": "F-001", "name": "软著质押贷",
     "kind": "ip_pledge", "min_amount_cny": 500000, "max_amount_cny": 5000000,
     "requires_patent": True, "accepted_ip": ["software_copyright", "invention"],
     "min_ip_count": 2},
    {"type": "product", "ref": "P-PAT", "funder_ref": "F-001", "name": "专利质押贷",
     "kind": "ip_pledge", "min_amount_cny": 500000, "max_amount_cny": 5000000,
     "requires_patent": True},
]  # fmt: skip


@pytest.fixture
def software(app, sample_data, ctx):
    from techfin.services.interchange import import_records

    with ctx():
        report = import_records([(f"line {i}", r) for i, r in enumerate(SOFTWARE_FIRM)])
        assert report.committed, [str(e) for e in report.errors]
        assert report.created["copyright"] == 3 and report.created["trademark"] == 1


def _matches(ctx, need_ref: str) -> dict[str, dict]:
    from techfin.models import Need, User
    from techfin.services import matching

    with ctx():
        op = User(email="op-ip@x.cn", role="operator", name="op", password_hash="x")
        db.session.add(op)
        db.session.flush()
        need = db.session.execute(db.select(Need).filter_by(ref=need_ref)).scalar_one()
        result = matching.matches_for_need(op, need, 20, locale="zh_CN")
        db.session.rollback()
    return {m["product"]["ref"]: m for m in result["matches"] if m["type"] == "product"}


def test_a_software_firm_with_copyrights_matches_a_copyright_accepting_pledge(ctx, software):
    found = _matches(ctx, "N-SW")
    assert found["P-CR"]["eligible"] is True
    # Patents only (the default kinds): almost eligible, and told which kind is missing.
    pat = found["P-PAT"]
    assert pat["eligible"] is False and pat["fixable"] is True
    assert [g["code"] for g in pat["gaps"]] == ["ip_required"]
    assert "发明专利" in pat["missing"][0]
    # The pledged value counts the registered copyrights the product accepts (2.4 M / 1 M).
    assert any("2.4" in r for r in found["P-CR"]["reasons"]), found["P-CR"]["reasons"]


def test_only_registered_items_count_and_min_ip_count_holds(ctx, software):
    from techfin.models import Copyright

    with ctx():  # through the ORM, as a service does: the enterprise's needs are marked
        db.session.execute(
            db.select(Copyright).filter_by(ref="CR-2")
        ).scalar_one().status = "pending"
        db.session.commit()
    found = _matches(ctx, "N-SW")
    cr = found["P-CR"]
    assert cr["eligible"] is False and [g["rule"] for g in cr["gaps"]] == ["patent"]
    assert "软件著作权" in cr["missing"][0]


def test_a_granted_invention_patent_still_satisfies_a_default_product(ctx, sample_data):
    # E-001 holds a granted invention patent; P-001 requires a patent and lists no kinds.
    found = _matches(ctx, "N-001")
    assert found["P-001"]["eligible"] is True


def test_import_export_round_trip_and_bad_numbers(app, ctx, software, tmp_path):
    from techfin.models import Product
    from techfin.services.interchange import export_file, import_file, import_records

    path = tmp_path / "all.jsonl"
    with ctx():
        export_file(path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_ref = {r.get("ref"): r for r in records}
    assert by_ref["CR-2"]["number"] == "2022SR0654321"  # canonical upper case
    assert by_ref["TM-1"] == {"type": "trademark", "ref": "TM-1", "enterprise_ref": "E-SW",
                              "number": "30123456", "name": "云码", "nice_class": 9,
                              "status": "registered", "registered": "2019-06-01",
                              "valuation_cny": 200000, "confidential": True}  # fmt: skip
    assert by_ref["P-CR"]["accepted_ip"] == ["software_copyright", "invention"]
    assert by_ref["P-CR"]["min_ip_count"] == 2
    with ctx():
        again = import_file(path)
        assert again.committed and again.changed == 0
        assert db.session.execute(
            db.select(Product.accepted_ip).filter_by(ref="P-PAT")
        ).scalar_one() == []  # fmt: skip
    bad = [
        {"type": "copyright", "ref": "CR-X", "enterprise_ref": "E-SW", "number": "SR123",
         "title": "x", "status": "registered"},
        {"type": "trademark", "ref": "TM-X", "enterprise_ref": "E-SW", "number": "12A",
         "name": "x", "nice_class": 46, "status": "registered"},
        {"type": "trademark", "ref": "TM-Y", "enterprise_ref": "E-SW", "number": "1",
         "name": "x", "nice_class": 3, "status": "lapsed"},
        {"type": "product", "ref": "P-X", "funder_ref": "F-001", "name": "x", "kind": "loan",
         "accepted_ip": ["know_how"], "min_ip_count": 0},
        {"type": "copyright", "ref": "CR-Y", "enterprise_ref": "E-NONE",
         "number": "2021SR0000001", "title": "x", "status": "registered"},
    ]  # fmt: skip
    with ctx():
        report = import_records([(f"line {i + 1}", r) for i, r in enumerate(bad)])
    assert not report.committed
    fields = {(e.location, e.field) for e in report.errors}
    assert {("line 1", "number"), ("line 2", "number"), ("line 2", "nice_class"),
            ("line 3", "status"), ("line 4", "min_ip_count"),
            ("line 5", "enterprise_ref")} <= fields  # fmt: skip
    assert any(e.location == "line 4" and e.field.startswith("accepted_ip")
               for e in report.errors)  # fmt: skip
    assert any("2021SR0123456" in e.reason for e in report.errors if e.location == "line 1")


def test_a_trademark_number_read_from_a_numeric_cell(ctx, software):
    from techfin.models import Trademark
    from techfin.services.interchange import import_records

    with ctx():
        record = {"type": "trademark", "ref": "TM-2", "enterprise_ref": "E-SW",
                  "number": "12345678.0", "name": "码云", "nice_class": 42,
                  "status": "pending"}  # fmt: skip
        assert import_records([("line 1", record)]).committed
        number = db.session.execute(db.select(Trademark.number).filter_by(ref="TM-2"))
        assert number.scalar_one() == "12345678"


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_spreadsheet_round_trip_keeps_ip_records(ctx, software, tmp_path, suffix):
    from techfin.services.interchange import export_file, export_records, import_file

    path = tmp_path / f"all{suffix}"
    with ctx():
        before = list(export_records())
        export_file(path)
        report = import_file(path)
        assert report.committed and report.changed == 0, [str(e) for e in report.errors[:5]]
        assert list(export_records()) == before
    kinds = {r["type"] for r in before}
    assert {"copyright", "trademark"} <= kinds
