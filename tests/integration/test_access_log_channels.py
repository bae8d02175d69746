""" "Who looked at my data": every channel an institution reads shared data through is logged,
one entry per enterprise per request, in one INSERT however long the list."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from techfin.extensions import db
from techfin.models import DataAccess, Enterprise, Funder, Patent, User
from techfin.services import accounts, catalog, search_sync

PASSWORD = "Lychee-Harbour-47"


def _id(model: type, ref: str) -> int:
    return db.session.execute(db.select(model.id).filter_by(ref=ref)).scalar_one()


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


@pytest.fixture
def world(app, sample_data, make_user):
    for email, role, org in (("op@x.cn", "operator", None), ("e1@x.cn", "enterprise", "E-001"),
                             ("e2@x.cn", "enterprise", "E-002"),
                             ("bank@x.cn", "bank", "F-001")):  # fmt: skip
        make_user(email, role, org)
    with app.app_context():
        bank_id = _id(Funder, "F-001")
        for email, ref in (("e1@x.cn", "E-001"), ("e2@x.cn", "E-002")):
            enterprise = db.session.get(Enterprise, _id(Enterprise, ref))
            catalog.set_sharing(_user(email), enterprise, bank_id, financials=True, patents=True)
        e1 = db.session.get(Enterprise, _id(Enterprise, "E-001"))
        catalog.create_patent(_user("e1@x.cn"), e1, {
            "number": "201810012345.7", "title": "一种 LED 散热结构", "kind": "invention",
            "status": "pending", "filed": "2018-01-05", "confidential": False,
        })  # fmt: skip
        search_sync.reindex()
        tokens = {who: accounts.create_api_token(_user(f"{who}@x.cn"), "t")
                  for who in ("bank", "op", "e1")}  # fmt: skip
        ids = {"E-001": _id(Enterprise, "E-001"), "E-002": _id(Enterprise, "E-002"),
               "PT-001": _id(Patent, "PT-001")}  # fmt: skip
    return app, tokens, ids


def _log(app) -> Counter:  # noqa: ANN001
    with app.app_context():
        rows = db.session.execute(db.select(DataAccess)).scalars()
        refs = {v: k for k, v in db.session.execute(db.select(Enterprise.ref, Enterprise.id))}
        return Counter((refs[r.enterprise_id], r.action) for r in rows)


@contextmanager
def _inserts(app) -> Iterator[list[str]]:  # noqa: ANN001
    """Statements inserting into the access log while the block runs."""
    seen: list[str] = []

    def spy(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("INSERT INTO DATA_ACCESS_LOG"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def _get(client, url: str, token: str | None = None, **kw):  # noqa: ANN001, ANN202
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = client.get(url, headers=headers, **kw)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp


def test_each_channel_logs_once_per_enterprise_per_request(world):
    app, tokens, ids = world
    client = app.test_client()
    bank = tokens["bank"]
    e1, e2 = ids["E-001"], ids["E-002"]
    assert _log(app) == Counter()

    # API list: both enterprises, one entry each, one INSERT for the request.
    with _inserts(app) as stmts:
        body = _get(client, "/api/v1/enterprises?per_page=100", bank).get_json()
    assert {i["ref"] for i in body["items"]} == {"E-001", "E-002"}
    assert len(stmts) == 1
    assert _log(app) == Counter({("E-001", "api_list"): 1, ("E-002", "api_list"): 1})

    _get(client, "/api/v1/enterprises", bank, query_string={"ref": "E-001"})
    # Two patents of E-001 in one list: one entry.
    with _inserts(app) as stmts:
        body = _get(client, "/api/v1/patents", bank, query_string={"enterprise_ref": "E-001"})
    assert len(body.get_json()["items"]) == 2 and len(stmts) == 1
    assert _log(app)[("E-001", "api_list")] == 3 and _log(app)[("E-002", "api_list")] == 1

    # API items.
    _get(client, f"/api/v1/enterprises/{e1}", bank)
    _get(client, f"/api/v1/patents/{ids['PT-001']}", bank)
    assert _log(app)[("E-001", "api")] == 2

    # Pages, export and search results through the browser session.
    client.post("/auth/login", data={"email": "bank@x.cn", "password": PASSWORD})
    _get(client, f"/dealflow/enterprises/{e2}")
    csv = _get(client, f"/dealflow/enterprises/{e1}.csv").get_data(as_text=True)
    assert "4200" in csv and "LED" in csv  # shared: revenue (万元) and patents are in it
    _get(client, f"/dealflow/enterprises/{e1}.xlsx")
    with _inserts(app) as stmts:
        page = _get(client, "/search/", query_string={"q": "LED"}).get_data(as_text=True)
    assert 'data-ref="E-001"' in page and 'data-ref="PT-001"' in page
    assert len(stmts) == 1  # the enterprise hit and its patent hits: one entry
    _get(client, "/api/v1/search", bank, query_string={"q": "LED"})

    log = _log(app)
    assert log[("E-002", "view")] == 1
    assert log[("E-001", "export")] == 2
    assert log[("E-001", "search")] == 2
    assert sum(log.values()) == 4 + 2 + 1 + 2 + 2  # lists, items, page, exports, searches
    with app.app_context():
        whats = {
            (r.action, r.what)
            for r in db.session.execute(db.select(DataAccess).filter_by(enterprise_id=e1)).scalars()
        }
    assert ("search", "profile,patents") in whats
    assert ("export", "profile,financials,patents") in whats
    assert ("api_list", "profile,financials") in whats


def test_unshared_data_and_other_roles_leave_no_entry(world):
    app, tokens, ids = world
    client = app.test_client()
    with app.app_context():
        e2 = db.session.get(Enterprise, ids["E-002"])
        catalog.set_sharing(_user("e2@x.cn"), e2, _id(Funder, "F-001"),
                            financials=False, patents=False)  # fmt: skip
        db.session.execute(db.delete(DataAccess))
        db.session.commit()
    # E-002 is no longer visible to the bank (no published need, nothing shared).
    body = _get(client, "/api/v1/enterprises?per_page=100", tokens["bank"]).get_json()
    assert [i["ref"] for i in body["items"]] == ["E-001"]
    for who in ("op", "e1"):
        _get(client, "/api/v1/enterprises?per_page=100", tokens[who])
        _get(client, "/api/v1/patents?per_page=100", tokens[who])
        _get(client, f"/api/v1/enterprises/{ids['E-001']}", tokens[who])
    assert _log(app) == Counter({("E-001", "api_list"): 1})
    client.post("/auth/login", data={"email": "bank@x.cn", "password": PASSWORD})
    assert client.get(f"/dealflow/enterprises/{ids['E-002']}.csv").status_code == 404
    # An empty page writes nothing at all.
    with _inserts(app) as stmts:
        _get(client, "/api/v1/patents", tokens["bank"], query_string={"enterprise_ref": "E-002"})
    assert stmts == []


def test_the_enterprise_sees_the_channels_on_its_sharing_page(world):
    app, tokens, ids = world
    client = app.test_client()
    _get(client, "/api/v1/enterprises?per_page=100", tokens["bank"])
    _get(client, "/api/v1/enterprises?per_page=100", tokens["bank"])
    client.post("/auth/login", data={"email": "e1@x.cn", "password": PASSWORD})
    page = _get(client, "/enterprise/sharing").get_data(as_text=True)
    assert page.count("Listed through the API") + page.count("通过 API 列表读取") == 2
