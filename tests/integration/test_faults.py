"""Faults (issue #8): killed workers, a database restart, a damaged index lose nothing.

The drills live in bench/faults.py (full counts: `.venv/bin/python bench/faults.py`); these
run them small: 3 kills, one short PostgreSQL outage on a private cluster.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from techfin.extensions import db
from techfin.models import Enterprise, Need
from techfin.models.search import SearchOutbox
from techfin.services import search_sync

ROOT = Path(__file__).resolve().parents[2]


def _load_drills():  # noqa: ANN202 - the bench module
    spec = importlib.util.spec_from_file_location(
        "techfin_fault_drills", ROOT / "bench" / "faults.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


drills = _load_drills()


def _report(result) -> str:  # noqa: ANN001
    return (
        drills.table([result])
        + "\n"
        + "\n".join([f"{k}: {v}" for k, v in result.notes.items()] + result.problems)
    )


def test_killed_workers_lose_no_acknowledged_write(migrated, tmp_path):
    """SIGKILL a gunicorn worker 3 times under concurrent API writes (SQLite or PostgreSQL)."""
    result, site, tokens = drills.kill_workers(
        migrated, tmp_path, kills=3, threads=3, check_before_sync=False, in_process_cli=True
    )
    try:
        assert result.ok, _report(result)
        assert result.notes["kills"] == 3 and result.writes_2xx > 0
        for damage in ("short", "same-length"):
            corrupt = drills.corrupt_index(site, tokens[0], rounds=2, damage=damage)
            assert corrupt.ok and corrupt.clean_503 == 4, _report(corrupt)
    finally:
        site.stop()


@pytest.mark.one_pass("postgresql")  # a private cluster whatever the suite's database
def test_postgres_restart_answers_503_then_recovers(tmp_path):
    # A private cluster, so restarting it disturbs no one; PostgreSQL 15's server binaries
    # are on every development and CI machine (the project's production database).
    assert drills.PrivateCluster.available(), (
        f"{drills.PG_BIN / 'initdb'} is missing: `apt-get install postgresql-15`"
    )
    result = drills.pg_restart(tmp_path, outage=1.5)
    assert result.ok, _report(result)
    assert result.clean_503 > 0 and result.writes_2xx > 0
    assert result.recovery_s is not None and result.recovery_s < 10, _report(result)


# ---------------------------------------------------------------- search index follows late commits


@pytest.fixture
def indexed(app, sample_data):
    app.config["SEARCH_SYNC_OFF"] = True  # the test decides when each sync runs
    with app.app_context():
        search_sync.reindex()
    return app


def _commit_late_with_a_lower_number(fresh_process: bool) -> None:
    """What PostgreSQL does to the outbox, written out so it happens on any database: a
    number is taken (here: a row deleted again leaves its number free below the others),
    a later change commits and is indexed past it, then the first change commits with that
    lower number."""
    n001 = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
    held, above = (SearchOutbox(doc_type="need", doc_id=n001.id) for _ in range(2))
    db.session.add_all([held, above])
    db.session.commit()
    hole = held.seq
    db.session.delete(held)
    db.session.commit()
    n001.purpose = "先提交的修改"
    db.session.commit()
    search_sync.sync()  # the index position moves past the hole
    assert search_sync.engine().applied_seq() > hole
    enterprise = db.session.execute(db.select(Enterprise).filter_by(ref="E-002")).scalar_one()
    late = Need(ref="N-LATE-SIM", enterprise_id=enterprise.id, kind="loan",
                amount_cny=1_000_000, purpose="迟到的提交", status="published")  # fmt: skip
    db.session.add(late)
    db.session.flush()
    db.session.execute(
        db.update(SearchOutbox)
        .where(SearchOutbox.doc_type == "need", SearchOutbox.doc_id == late.id)
        .values(seq=hole)
    )
    db.session.commit()
    if fresh_process:
        search_sync._GAPS.clear()  # the worker that saw the gap was killed
    search_sync.sync()
    assert search_sync.check() == {"missing": [], "stale": [], "extra": []}


@pytest.mark.parametrize("fresh_process", [False, True], ids=["same-process", "fresh-process"])
def test_a_commit_that_lands_after_a_later_one_reaches_the_index(indexed, fresh_process):
    """PostgreSQL hands out outbox numbers at insert time, so a transaction can commit after
    one holding a larger number. The index must still pick its change up, also in a process
    that never saw the gap (a killed worker's replacement, `flask search sync`).

    On every database the interleaving is replayed with explicit numbers; on PostgreSQL it
    is also made to happen for real, with two open transactions (SQLite cannot: it lets
    one writer in at a time, so its numbers always commit in order)."""
    with indexed.app_context():
        _commit_late_with_a_lower_number(fresh_process)
        if db.engine.dialect.name != "postgresql":
            return
        enterprise = db.session.execute(db.select(Enterprise).filter_by(ref="E-002")).scalar_one()
        early = Session(db.engine)
        try:
            early.add(Need(ref="N-LATE", enterprise_id=enterprise.id, kind="loan",
                           amount_cny=1_000_000, purpose="迟到的提交", status="published"))  # fmt: skip
            early.flush()  # takes the smaller outbox number, commits last
            need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
            need.purpose = "先提交的修改"
            db.session.commit()
            search_sync.sync()  # the index position moves past the early number
            early.commit()
        finally:
            early.close()
        if fresh_process:
            search_sync._GAPS.clear()  # the worker that saw the gap was killed
        search_sync.sync()
        assert search_sync.check() == {"missing": [], "stale": [], "extra": []}


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_a_new_worker_catches_up_what_a_killed_one_committed(app, sample_data, runner):
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    with app.app_context():
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        need.purpose = "钙钛矿电池中试线"
        db.session.commit()  # committed outside a request: its worker died before the sync
        assert search_sync.check()["stale"] == [("need", need.id)]
    # The replacement worker's first request, a read, syncs.
    assert app.test_client().get("/auth/login").status_code == 200
    with app.app_context():
        assert search_sync.check() == {"missing": [], "stale": [], "extra": []}


# ---------------------------------------------------------------- corrupted index (in-process)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "same-length", "empty-generation"])
def test_corrupted_index_answers_503_until_reindex(app, sample_data, make_user, runner, damage):
    make_user("e1@x.cn", "enterprise", "E-001")
    token = runner.invoke(args=["api-token", "create", "e1@x.cn"]).output.split()[-1]
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    web = app.test_client()
    web.post("/auth/login", data={"email": "e1@x.cn", "password": "Lychee-Harbour-47"})
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert web.get("/search/?q=照明").status_code == 200
    assert api.get("/api/v1/search?q=照明", headers=bearer).status_code == 200
    index = Path(app.config["INDEX_DIR"])
    gen = index / (index / "CURRENT").read_text().strip()
    for f in gen.iterdir():
        if damage == "garbage":
            f.write_bytes(os.urandom(64))
        elif damage == "truncate":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
        elif damage == "same-length" and f.suffix == ".seg":  # read as an index without digests
            f.write_bytes(os.urandom(f.stat().st_size))
    if damage == "empty-generation":
        shutil.rmtree(gen)
        gen.mkdir()
    page = web.get("/search/?q=照明")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert "flask search reindex" in page.get_data(as_text=True)
    body = api.get("/api/v1/search?q=照明", headers=bearer)
    assert body.status_code == 503 and body.json["error"]["code"] == "search_unavailable"
    # Writes do not depend on the index: committed and acknowledged, indexed after the rebuild.
    created = api.post("/api/v1/needs", headers=bearer,
                       json={"kind": "loan", "amount_cny": 2_000_000, "term_months": 12,
                             "purpose": "损坏期间的融资需求", "ref": f"N-DAMAGE-{damage}"})  # fmt: skip
    assert created.status_code == 201, created.json
    for command in ("check", "sync"):  # one clear line for the operator, not a traceback
        result = runner.invoke(args=["search", command])
        assert result.exit_code == 1 and result.exception is not None
        assert isinstance(result.exception, SystemExit), result.exception
        assert "rebuild" in result.output and "Traceback" not in result.output
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    assert web.get("/search/?q=照明").status_code == 200
    assert api.get("/api/v1/search?q=照明", headers=bearer).json["total"] >= 1
    with app.app_context():
        assert db.session.get(Need, created.json["id"]).purpose == "损坏期间的融资需求"
    assert runner.invoke(args=["search", "check"]).exit_code == 0


# ---------------------------------------------------------------- the database cannot be had


@pytest.mark.app_config(
    SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
)
def test_an_exhausted_pool_answers_503_pages_and_api(app, sample_data, make_user, runner):
    make_user("e1@x.cn", "enterprise", "E-001")
    token = runner.invoke(args=["api-token", "create", "e1@x.cn"]).output.split()[-1]
    web = app.test_client()
    web.post("/auth/login", data={"email": "e1@x.cn", "password": "Lychee-Harbour-47"})
    bearer = {"Authorization": f"Bearer {token}"}
    with app.app_context():
        held = db.engine.connect()  # the only connection: checkout times out
        try:
            page = web.get("/enterprise/needs")
            assert page.status_code == 503 and page.mimetype == "text/html"
            assert "503" in page.get_data(as_text=True)
            body = app.test_client().get("/api/v1/needs", headers=bearer)
            assert body.status_code == 503 and body.json["error"]["code"] == "unavailable"
        finally:
            held.close()
    assert web.get("/enterprise/needs").status_code == 200
    assert app.test_client().get("/api/v1/needs", headers=bearer).status_code == 200


def test_what_counts_as_a_lost_database():
    import psycopg
    from sqlalchemy.exc import IntegrityError, InterfaceError, StatementError

    from techfin.errors import database_unreachable

    driver = psycopg.InterfaceError("the connection is closed")
    assert database_unreachable(InterfaceError("SELECT 1", {}, driver))
    assert database_unreachable(psycopg.OperationalError("server closed the connection"))
    wrapped = StatementError("x", "SELECT 1", {}, None)
    wrapped.__cause__ = driver
    assert database_unreachable(wrapped)
    assert not database_unreachable(IntegrityError("INSERT", {}, Exception("duplicate")))
    bug = KeyError("x")
    bug.__context__ = psycopg.OperationalError("earlier, handled")
    assert not database_unreachable(bug)  # a bug raised later stays a 500
