"""Derived-data work of a write (the node's search index, the queue's wake-up) runs after
the answer is sent, not while the client waits (techfin.after_response)."""

from __future__ import annotations

import gzip
import json

import pytest
from flask import Flask

from techfin.extensions import db
from techfin.models import Need
from techfin.services import accounts, search, search_sync


def _index_lag(app: Flask) -> int:
    with app.app_context():
        return search_sync.max_seq() - search_sync.engine().applied_seq()


def _found(app: Flask, q: str) -> set[str]:
    with app.app_context():
        operator = accounts.find_user("op@x.cn")
        return {item["ref"] for item in search.search(operator, {"q": q})["items"]}


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_the_index_is_written_once_the_answer_is_out(app, api, lookup):
    with app.app_context():
        assert search_sync.reindex() > 0
    need_id = lookup("need", "N-001")
    api.get("/api/v1/ping", "enterprise")  # the process's first request syncs too
    assert _index_lag(app) == 0

    # Like a WSGI server: the body is read first, close() comes after it was sent. (Gzip:
    # the compressed answer keeps the hook; Flask-Compress changes the response in place.)
    resp = api("PATCH", f"/api/v1/needs/{need_id}", "enterprise", buffered=False,
               json={"purpose": "石墨烯散热模组量产" * 40},
               headers={"Accept-Encoding": "gzip"})  # fmt: skip
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers.get("Content-Encoding") == "gzip"
    body = json.loads(gzip.decompress(resp.get_data()))
    assert body["purpose"] == "石墨烯散热模组量产" * 40
    assert _index_lag(app) > 0  # committed, answered, not yet in this node's index
    resp.close()
    assert _index_lag(app) == 0
    assert "N-001" in _found(app, "石墨烯")


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_a_failure_after_the_answer_loses_nothing(app, api, lookup, monkeypatch):
    with app.app_context():
        assert search_sync.reindex() > 0
    need_id = lookup("need", "N-001")

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(search_sync, "sync", broken)
        resp = api("PATCH", f"/api/v1/needs/{need_id}", "enterprise",
                   json={"purpose": "钙钛矿电池中试线"})  # fmt: skip
    assert resp.status_code == 200
    with app.app_context():
        assert db.session.get(Need, need_id).purpose == "钙钛矿电池中试线"
        assert search_sync.max_seq() > search_sync.engine().applied_seq()  # the outbox kept it
        search_sync.sync()
    assert "N-001" in _found(app, "钙钛矿")
