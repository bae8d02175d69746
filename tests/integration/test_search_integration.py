"""The search index follows the database through the outbox, and respects access rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from techfin.extensions import db
from techfin.models import Need, User
from techfin.services import catalog, search_sync
from techfin.services import search as search_service


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def _refs(user: User, **args: str) -> set[str]:
    return {item["ref"] for item in search_service.search(user, args)["items"]}


@pytest.fixture
def indexed(app, sample_data, make_user):
    for email, role, org in (("op@x.cn", "operator", None), ("e1@x.cn", "enterprise", "E-001"),
                             ("e2@x.cn", "enterprise", "E-002"), ("bank@x.cn", "bank", "F-001"),
                             ("vc@x.cn", "investor", "F-002")):  # fmt: skip
        make_user(email, role, org)
    with app.app_context():
        assert search_sync.reindex() > 0
    return app


def test_chinese_queries_and_access(indexed):
    with indexed.app_context():
        op, e2, bank = _user("op@x.cn"), _user("e2@x.cn"), _user("bank@x.cn")
        assert {"E-001", "N-001"} <= _refs(op, q="照明")
        assert "P-001" in _refs(op, q="知识产权质押")
        assert "N-002" in _refs(op, q="A 轮融资")  # operators see drafts
        assert "N-002" not in _refs(bank, q="A 轮融资")  # a draft is nobody else's business
        assert "N-001" in _refs(bank, q="生产线")
        assert _refs(e2, q="生产线") == set()  # another enterprise's need
        assert _refs(_user("vc@x.cn"), q="生产线") == set()  # unverified institution


def test_confidential_patent_never_found(indexed):
    with indexed.app_context():
        for email in ("op@x.cn", "e1@x.cn", "e2@x.cn", "bank@x.cn"):
            result = search_service.search(_user(email), {"q": "CANARY-7731 机密配方"})
            assert "CANARY" not in str(result["items"]) + str(result["facets"])
            assert "CANARY" not in str(result["suggestion"])


def test_facet_counts_equal_database_counts(indexed):
    with indexed.app_context():
        result = search_service.search(_user("op@x.cn"), {"type": "need"})
        by_kind = result["facets"]["kind"]
        for kind, count in by_kind.items():
            assert count == db.session.scalar(
                db.select(db.func.count()).select_from(Need).where(Need.kind == kind)
            )


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_a_committed_change_is_searchable_after_the_request(indexed):
    with indexed.app_context():
        e1 = _user("e1@x.cn")
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        with indexed.test_request_context():
            catalog.update_need(e1, need, {"purpose": "石墨烯散热模组量产"})
        assert "N-001" in _refs(_user("op@x.cn"), q="石墨烯")


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_the_scheduled_check_merges_the_segments_writes_left(indexed, runner, monkeypatch):
    """Each request's sync adds a segment and merges only tiny ones; the hourly check merges
    the host's index once it has COMPACT_AT segments, and so does `flask search compact`."""
    from techfin.search import engine as engine_module

    monkeypatch.setattr(engine_module, "COMPACT_AT", 3)
    monkeypatch.setattr(engine_module, "NODE_COMPACT_DOCS", 0)  # too big for a web node
    with indexed.app_context():
        e1, eng = _user("e1@x.cn"), search_sync.engine()
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        assert eng.segment_count() == 1
        assert search_sync.scheduled_check() == "index consistent"  # nothing to merge
        for i in range(3):
            with indexed.test_request_context():
                catalog.update_need(e1, need, {"purpose": f"石墨烯散热模组第{i}代"})
        before = eng.segment_count()
        assert before == 4
        # The writes' segments merge into one beside the rebuilt one.
        assert search_sync.scheduled_check() == "index consistent; merged 4 segments into 2"
        assert eng.segment_count() == 2
        assert "N-001" in _refs(_user("op@x.cn"), q="石墨烯")
    result = runner.invoke(args=["search", "compact", "--all"])
    assert result.exit_code == 0 and "2 before, 1 after" in result.output, result.output
    with indexed.app_context():
        assert search_sync.engine().segment_count() == 1
        assert "N-001" in _refs(_user("op@x.cn"), q="石墨烯")


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_a_web_node_merges_what_its_writes_added_after_the_response(indexed, monkeypatch):
    """No scheduler has to run beside a web node: once its index has COMPACT_AT segments
    and the merge is small, the work after a response merges them."""
    from techfin.search import engine as engine_module

    monkeypatch.setattr(engine_module, "COMPACT_AT", 3)
    with indexed.app_context():
        e1, eng = _user("e1@x.cn"), search_sync.engine()
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        counts = []
        for i in range(6):
            with indexed.test_request_context():
                catalog.update_need(e1, need, {"purpose": f"石墨烯散热模组第{i}代"})
            counts.append(eng.segment_count())
        assert max(counts) < 3 and counts[-1] == 2, counts  # the rebuilt one and the rest
        assert "N-001" in _refs(_user("op@x.cn"), q="石墨烯散热模组第5代")


def test_crash_between_commit_and_index_write_is_caught_up(indexed, runner):
    with indexed.app_context():
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        # SEARCH_SYNC_OFF is on: the commit lands, the index write never happens (a killed worker).
        catalog.update_need(_user("e1@x.cn"), need, {"purpose": "钙钛矿电池中试线"})
        assert "N-001" not in _refs(_user("op@x.cn"), q="钙钛矿")
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code != 0 and "stale: need" in result.output
    assert runner.invoke(args=["search", "sync"]).exit_code == 0
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 0, result.output
    with indexed.app_context():
        assert "N-001" in _refs(_user("op@x.cn"), q="钙钛矿")


def test_deleted_index_gives_a_clear_message_then_reindex_restores(indexed, runner):
    client = indexed.test_client()
    client.post("/auth/login", data={"email": "op@x.cn", "password": "Lychee-Harbour-47"})
    assert client.get("/search/?q=照明").status_code == 200
    shutil.rmtree(Path(indexed.config["INDEX_DIR"]))
    resp = client.get("/search/?q=照明")
    assert resp.status_code == 503 and "flask search reindex" in resp.get_data(as_text=True)
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    assert client.get("/search/?q=照明").status_code == 200


@pytest.mark.parametrize("q", ['"unbalanced', "title:x", "*" * 500, "?" * 300, "a" * 10000,
                               "\x00\x01\x1b", "(((", "AND OR NOT", "<script>alert(1)</script>"])  # fmt: skip
def test_hostile_queries_answer_cleanly(indexed, q):
    client = indexed.test_client()
    client.post("/auth/login", data={"email": "op@x.cn", "password": "Lychee-Harbour-47"})
    resp = client.get("/search/", query_string={"q": q, "page": "x", "per_page": "-5"})
    assert resp.status_code == 200
    assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)


def test_stored_html_is_escaped_in_results(indexed):
    with indexed.app_context():
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        catalog.update_need(
            _user("e1@x.cn"), need, {"purpose": "<img src=x onerror=alert(1)> 照明"}
        )
        search_sync.sync()
    client = indexed.test_client()
    client.post("/auth/login", data={"email": "op@x.cn", "password": "Lychee-Harbour-47"})
    page = client.get("/search/?q=照明").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img" in page


@pytest.mark.parametrize("kind", ["copyright", "trademark"])
def test_copyrights_and_trademarks_are_found_by_those_allowed(indexed, kind):
    """Issue #15: software copyrights and trademarks are searchable like patents: the owner
    and operators find them, an institution only once the enterprise shares its IP with it,
    other enterprises never, a confidential one nobody; the index follows the outbox."""
    from techfin.models import Enterprise, Funder

    data = {"copyright": {"number": "2021SR0123456", "title": "星河灯控嵌入式软件 V2.0",
                          "status": "registered", "registered": "2021-06-01"},
            "trademark": {"number": "30123456", "name": "星河灯控", "nice_class": 11,
                          "status": "registered", "registered": "2020-03-15"}}[kind]  # fmt: skip
    with indexed.app_context():
        e1 = _user("e1@x.cn")
        ent = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        item = catalog.create_ip(e1, kind, ent, data)
        hidden = catalog.create_ip(e1, kind, ent, {**data, "number": data["number"][:-1] + "9",
                                                   "confidential": True})  # fmt: skip
        search_sync.sync()
        for email in ("op@x.cn", "e1@x.cn"):
            assert item.ref in _refs(_user(email), q="星河灯控", type=kind)
        assert hidden.ref not in _refs(_user("op@x.cn"), q="星河灯控")
        assert _refs(_user("e2@x.cn"), q="星河灯控") == set()
        bank = _user("bank@x.cn")
        before = _refs(bank, q="星河灯控")
        bank_id = db.session.execute(db.select(Funder.id).filter_by(ref="F-001")).scalar_one()
        catalog.set_sharing(e1, ent, bank_id, financials=False, patents=True)
        db.session.commit()
        search_sync.sync()
        assert item.ref not in before and item.ref in _refs(bank, q="星河灯控")
        assert hidden.ref not in _refs(bank, q="星河灯控")
