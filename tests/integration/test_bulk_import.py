"""The batched import path: all-or-nothing across batches, idempotent, and it keeps the
side effects the ORM flush hooks used to give (search outbox rows, matching invalidation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from techfin.extensions import db
from techfin.models import (
    DirtyMark,
    Enterprise,
    Funder,
    Need,
    Outcome,
    Patent,
    Product,
    SearchOutbox,
)
from techfin.services import demo, interchange, search_sync
from techfin.services.interchange import export_records, import_records

MODELS = (Enterprise, Funder, Patent, Need, Product, Outcome)


def _counts() -> dict[str, int]:
    return {
        m.__name__: db.session.scalar(db.select(db.func.count()).select_from(m)) for m in MODELS
    }


def _outbox() -> list[tuple[str, int]]:
    rows = db.session.execute(db.select(SearchOutbox.doc_type, SearchOutbox.doc_id))
    return [(t, i) for t, i in rows]


def _many_needs(n: int) -> list[tuple[str, dict[str, Any]]]:
    """One enterprise with n needs: enough lines for several write batches."""
    records: list[dict[str, Any]] = [
        {"type": "enterprise", "ref": "E-1", "name": "中山市测试照明科技有限公司",
         "industry": "C38", "region": "442000"},
    ]  # fmt: skip
    records += [
        {"type": "need", "ref": f"N-{i:05d}", "enterprise_ref": "E-1", "kind": "loan",
         "amount_cny": 1000000 + i, "term_months": 12}
        for i in range(n)
    ]  # fmt: skip
    return [(f"line {number}", r) for number, r in enumerate(records, start=1)]


def test_a_bad_record_in_the_middle_of_a_batch_commits_nothing(app):
    records = _many_needs(2 * interchange.BATCH + 500)
    middle = interchange.BATCH + 250  # inside the second batch of needs
    records[middle][1]["amount_cny"] = "lots"
    with app.app_context():
        report = import_records(records)
        assert not report.committed
        assert [str(e) for e in report.errors] == [
            f"line {middle + 1}: amount_cny: Not a valid integer."
        ]
        assert _counts() == dict.fromkeys(_counts(), 0)
        assert _outbox() == []


@pytest.fixture
def failing_need(app):
    """A real database refusal (a trigger) on one need, to fail the write pass midway."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            statements = [
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.ref = 'N-BOOM' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END "
                "$$ LANGUAGE plpgsql",
                "CREATE TRIGGER boom BEFORE INSERT ON needs FOR EACH ROW EXECUTE FUNCTION boom()",
            ]
            drop = ["DROP TRIGGER boom ON needs", "DROP FUNCTION boom()"]
        else:
            statements = [
                "CREATE TRIGGER boom BEFORE INSERT ON needs WHEN NEW.ref = 'N-BOOM' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            ]
            drop = ["DROP TRIGGER boom"]
        with db.engine.begin() as conn:
            for sql in statements:
                conn.execute(text(sql))
    yield
    with app.app_context(), db.engine.begin() as conn:
        for sql in drop:
            conn.execute(text(sql))


def test_a_refusal_by_the_database_midway_commits_nothing(app, failing_need):
    records = _many_needs(2 * interchange.BATCH + 500)
    records[interchange.BATCH + 250][1]["ref"] = "N-BOOM"  # after a whole batch went in
    with app.app_context():
        with pytest.raises(Exception, match="boom"):
            import_records(records)
        assert _counts() == dict.fromkeys(_counts(), 0)
        assert _outbox() == []


def test_demo_import_twice_changes_nothing_the_second_time(app):
    records = list(demo.generate(enterprises=60, seed=3))
    with app.app_context():
        first = import_records(records)
        assert first.committed and first.updated == {} and first.unchanged == {}
        marks = db.session.execute(db.select(DirtyMark.kind)).scalars().all()
        assert "everything" in marks  # mark_all_dirty was called
        db.session.execute(db.delete(DirtyMark))
        db.session.commit()
        stamps = {n.ref: n.updated_at for n in db.session.execute(db.select(Need)).scalars()}
        outbox = len(_outbox())
        exported = list(export_records())

        again = import_records(records)
        assert again.committed and again.created == {} and again.updated == {}
        assert sum(again.unchanged.values()) == len(records)
        # Nothing changed: no outbox rows, no matching work, no timestamps moved.
        assert len(_outbox()) == outbox
        assert db.session.execute(db.select(DirtyMark.id)).first() is None
        assert {
            n.ref: n.updated_at for n in db.session.execute(db.select(Need)).scalars()
        } == stamps
        assert list(export_records()) == exported


def test_every_imported_indexed_record_gets_an_outbox_row(app, sample_data):
    with app.app_context():
        expected = set()
        for doc_type, (model, _builder) in search_sync.MODELS.items():
            expected |= {(doc_type, i) for i in db.session.execute(db.select(model.id)).scalars()}
        assert set(_outbox()) == expected
        # …and an empty index brought up to date from them alone matches the database.
        search_sync.engine().rebuild([], upto_seq=0)
        assert search_sync.sync() == len(expected)
        assert search_sync.check() == {"missing": [], "stale": [], "extra": []}


def _hook_keys(change) -> set[tuple[str, int]]:  # noqa: ANN001
    """Outbox rows the ORM flush hook writes for a change; the change is rolled back."""
    start = db.session.scalar(db.select(db.func.coalesce(db.func.max(SearchOutbox.seq), 0)))
    change()
    db.session.flush()
    keys = _outbox_after(start)
    db.session.rollback()
    return keys


def _import_keys(path: Path, edit: dict[str, dict[str, Any]]) -> set[tuple[str, int]]:
    """Outbox rows the import writes for the same change made through a file."""
    start = db.session.scalar(db.select(db.func.coalesce(db.func.max(SearchOutbox.seq), 0)))
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec.update(edit.get(rec.get("ref"), {}))
        lines.append((f"line {len(lines) + 1}", rec))
    report = import_records(lines)
    assert report.committed and sum(report.updated.values()) == 1, report.summary()
    return _outbox_after(start)


def _outbox_after(seq: int) -> set[tuple[str, int]]:
    query = db.select(SearchOutbox.doc_type, SearchOutbox.doc_id).where(SearchOutbox.seq > seq)
    return {(t, i) for t, i in db.session.execute(query)}


def _one(model: type, ref: str) -> Any:
    return db.session.execute(db.select(model).filter_by(ref=ref)).scalar_one()


@pytest.mark.parametrize(
    ("model", "ref", "edit"),
    [
        (Enterprise, "E-001", {"name": "中山市新名字照明科技有限公司"}),
        (Funder, "F-001", {"name": "新名字科技支行"}),
        (Need, "N-001", {"amount_cny": 6000000}),
        (Product, "P-001", {"name": "新名字知识产权质押贷"}),
        (Patent, "PT-001", {"title": "一种新名字的方法"}),
    ],
)
def test_import_writes_the_outbox_rows_the_flush_hook_would(app, sample_data, model, ref, edit):
    with app.app_context():
        db.session.execute(db.delete(SearchOutbox))
        db.session.commit()

        def change() -> None:
            obj = _one(model, ref)
            for key, value in edit.items():
                setattr(obj, key, value)

        by_hook = _hook_keys(change)
        assert by_hook  # the ORM path does write something for this change
        assert _import_keys(sample_data, {ref: edit}) == by_hook


def test_cli_progress_bar_goes_to_stderr(runner, app, tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for _location, rec in _many_needs(2100):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    result = runner.invoke(args=["import-data", str(path)])
    assert result.exit_code == 0, result.output
    assert "Importing" in result.stderr
    assert "Importing" not in result.stdout
    assert result.stdout.strip().endswith("need: 2100 created, 0 updated, 0 unchanged")


def test_demo_data_is_the_same_for_a_seed(runner, app):
    def load() -> list[dict[str, Any]]:
        result = runner.invoke(
            args=["demo-data", "--enterprises", "40", "--seed", "5", "--no-accounts"]
        )
        assert result.exit_code == 0, result.output
        with app.app_context():
            records = list(export_records())
            for model in (Outcome, Product, Need, Patent):
                db.session.execute(db.delete(model))
            for model in (Enterprise, Funder):
                for row in db.session.execute(db.select(model)).scalars():
                    db.session.delete(row)
            db.session.commit()
        return records

    first = load()
    assert first == load()
    assert {r["type"] for r in first} == {
        "enterprise", "funder", "patent", "copyright", "trademark", "need", "product", "outcome"
    }  # fmt: skip


def test_a_bulk_import_leaves_the_planner_statistics_fresh(app, monkeypatch):
    """PostgreSQL: after a region's import the tables are ANALYZEd (autovacuum may be late,
    or off); without statistics the planner joined every need for one dealflow page."""
    from techfin.services.interchange import import_file
    from techfin.tools import planner_stats

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("planner statistics are PostgreSQL's")
        monkeypatch.setattr(planner_stats, "BULK_ROWS", 1)  # the sample stands for a region
        db.session.execute(text("SELECT pg_stat_reset()"))
        db.session.commit()
        assert import_file(Path(__file__).parent.parent / "data" / "sample.jsonl").committed
        analysed = db.session.execute(
            text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'needs'")
        ).scalar()
    assert analysed
