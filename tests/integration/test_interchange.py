from __future__ import annotations

import json
from pathlib import Path

import pytest

from techfin.extensions import db
from techfin.models import AuditEntry, Enterprise, Funder, Need, Outcome, Patent, Product
from techfin.services.interchange import export_file, export_records, import_file

SAMPLE = Path(__file__).parent.parent / "data" / "sample.jsonl"


def _counts() -> dict[str, int]:
    return {
        m.__name__: db.session.scalar(db.select(db.func.count()).select_from(m))
        for m in (Enterprise, Funder, Patent, Need, Product, Outcome)
    }


def test_import_creates_every_type(app, sample_data):
    with app.app_context():
        assert _counts() == {"Enterprise": 2, "Funder": 2, "Patent": 2, "Need": 2,
                             "Product": 2, "Outcome": 2}  # fmt: skip
        e = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        assert e.revenue_cny == 42000000 and e.high_tech and e.size_class == "small"
        f2 = db.session.execute(db.select(Funder).filter_by(ref="F-002")).scalar_one()
        assert f2.status == "pending"
        pt = db.session.execute(db.select(Patent).filter_by(ref="PT-002")).scalar_one()
        assert not pt.number.startswith("CN")


def test_second_import_changes_nothing(app, sample_data):
    with app.app_context():
        before = {n.ref: n.updated_at for n in db.session.execute(db.select(Need)).scalars()}
        report = import_file(SAMPLE)
        assert report.committed
        assert report.created == {} and report.updated == {}
        assert sum(report.unchanged.values()) == 12
        after = {n.ref: n.updated_at for n in db.session.execute(db.select(Need)).scalars()}
        assert before == after


def test_changed_record_updates(app, sample_data, tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    changed = []
    for line in lines:
        rec = json.loads(line)
        if rec.get("ref") == "N-001":
            rec["amount_cny"] = 6000000
        changed.append(json.dumps(rec, ensure_ascii=False))
    path = tmp_path / "changed.jsonl"
    path.write_text("\n".join(changed), encoding="utf-8")
    with app.app_context():
        report = import_file(path)
        assert report.updated == {"need": 1}
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        assert need.amount_cny == 6000000


@pytest.mark.parametrize("suffix", [".jsonl", ".xlsx", ".csv"])
def test_round_trip_is_identical(app, sample_data, tmp_path, suffix):
    with app.app_context():
        first = list(export_records())
        path = tmp_path / f"out{suffix}"
        assert export_file(path) == len(first) == 12
        _truncate_business(app)
        report = import_file(path)
        assert report.committed, [str(e) for e in report.errors]
        assert sum(report.created.values()) == 12
        assert list(export_records()) == first


def _truncate_business(app) -> None:
    for model in (Outcome, Product, Need, Patent):
        db.session.execute(db.delete(model))
    for model in (Enterprise, Funder):
        for row in db.session.execute(db.select(model)).scalars():
            db.session.delete(row)
    db.session.commit()


def test_a_bad_line_commits_nothing_and_is_named(app, tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[6])
    bad["amount_cny"] = "lots"
    lines[6] = json.dumps(bad, ensure_ascii=False)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with app.app_context():
        report = import_file(path)
        assert not report.committed
        errors = [str(e) for e in report.errors]
        assert errors[0] == "line 7: amount_cny: Not a valid integer."
        # The two outcomes of that need say why they cannot be imported either.
        assert errors[1:] == [
            f"line {n}: need_ref: refers to need 'N-001', which is invalid (line 7)"
            for n in (11, 12)
        ]
        assert _counts() == dict.fromkeys(_counts(), 0)


def test_skip_invalid_commits_the_rest(app, tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    lines.insert(2, json.dumps({"type": "enterprise", "ref": "E-X", "name": "坏企业",
                                "industry": "Z99", "region": "442000", "colour": "red"}))  # fmt: skip
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with app.app_context():
        report = import_file(path, skip_invalid=True)
        assert report.committed
        messages = {(e.location, e.field) for e in report.errors}
        assert messages == {("line 3", "industry"), ("line 3", "colour")}
        assert _counts()["Enterprise"] == 2


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"type": "enterprise", "ref": "E-9", "name": "某某科技", "industry": "C38", "region": "442000",
          "uscc": "91442000MA4UH12340"}, "uscc"),
        ({"type": "patent", "ref": "PT-9", "enterprise_ref": "E-001", "number": "201710601862.4",
          "title": "t", "kind": "invention", "status": "granted"}, "number"),
        ({"type": "need", "ref": "N-9", "enterprise_ref": "E-404", "kind": "loan",
          "amount_cny": 100}, "enterprise_ref"),
        ({"type": "product", "ref": "P-9", "funder_ref": "F-001", "name": "x", "kind": "loan",
          "min_amount_cny": 500, "max_amount_cny": 100}, "max_amount_cny"),
        ({"type": "need", "ref": "N-9", "enterprise_ref": "E-001", "kind": "loan",
          "amount_cny": 100, "purpose": "a\x00b"}, "purpose"),
        ({"type": "mystery", "ref": "X"}, "type"),
        ({"type": "need", "ref": "N-9", "enterprise_ref": "E-001", "kind": "loan",
          "amount_cny": -5}, "amount_cny"),
    ],
)  # fmt: skip
def test_invalid_records_are_reported_by_field(app, sample_data, tmp_path, record, field):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    with app.app_context():
        report = import_file(path)
        assert not report.committed
        assert field in {e.field for e in report.errors}
        assert all(e.location == "line 1" for e in report.errors)


def test_not_json_is_reported(app, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"type": "enterprise"\n', encoding="utf-8")
    with app.app_context():
        report = import_file(path)
        assert str(report.errors[0]).startswith("line 1: record: not valid JSON")


def test_cli_import_export(runner, app, tmp_path):
    result = runner.invoke(args=["import-data", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "enterprise: 2 created" in result.output
    again = runner.invoke(args=["import-data", str(SAMPLE)])
    assert again.exit_code == 0 and "0 created, 0 updated, 2 unchanged" in again.output
    out = tmp_path / "all.jsonl"
    result = runner.invoke(args=["export-data", str(out)])
    assert result.exit_code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 12
    with app.app_context():
        actions = set(db.session.execute(db.select(AuditEntry.action)).scalars())
        assert {"import", "export"} <= actions


def test_cli_import_refuses_bad_file(runner, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "need", "ref": "N-1"}\n', encoding="utf-8")
    result = runner.invoke(args=["import-data", str(path)])
    assert result.exit_code != 0
    assert "line 1: enterprise_ref: Missing data for required field." in result.output
    assert "nothing was imported" in result.output


def test_demo_data_is_deterministic_and_valid(app):
    from techfin.services import demo

    first = list(demo.generate(enterprises=30, seed=7))
    second = list(demo.generate(enterprises=30, seed=7))
    assert first == second
    assert list(demo.generate(enterprises=30, seed=8)) != first
    with app.app_context():
        from techfin.services.interchange import import_records

        report = import_records(first)
        assert report.committed, [str(e) for e in report.errors[:5]]
        assert report.created["enterprise"] == 30
        assert report.created.get("outcome", 0) > 0
