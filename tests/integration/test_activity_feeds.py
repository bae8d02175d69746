"""Dashboard activity feeds show an organisation only what it may see: entries about its own
records, or by its own members about nothing another organisation owns; people of other
organisations and platform staff are not named, and no entry's detail is shown."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import Enterprise, Funder, Need, Product, User
from techfin.services import audit, catalog, workspace

PASSWORD = "Lychee-Harbour-47"


def _one(model: type, **kw):  # noqa: ANN202
    return db.session.execute(db.select(model).filter_by(**kw)).scalar_one()


def _as(app, user: User, action, *args) -> None:  # noqa: ANN001
    """Run a service call as `user` inside a request (the audit trail reads the login)."""
    from flask_login import login_user

    with app.test_request_context():
        login_user(user)
        action(user, *args)


@pytest.fixture
def world(app, sample_data, make_user):
    for email, role, org in (("op@x.cn", "operator", None), ("e1@x.cn", "enterprise", "E-001"),
                             ("e2@x.cn", "enterprise", "E-002"),
                             ("bank@x.cn", "bank", "F-001")):  # fmt: skip
        make_user(email, role, org)
    with app.app_context():
        e1, e2 = _one(User, email="e1@x.cn"), _one(User, email="e2@x.cn")
        bank, op = _one(User, email="bank@x.cn"), _one(User, email="op@x.cn")
        n1 = _one(Need, ref="N-001")
        ent1 = _one(Enterprise, ref="E-001")
        # Another enterprise's member and a bank's member poking at E-001's records.
        audit.record("denied", n1, user=e2, detail={"reason": "SECRET-REASON-E2"})
        audit.record("denied", ent1, user=bank, detail={"reason": "SECRET-REASON-BANK"})
        # E-001's own member, and an operator, about E-001's records.
        _as(app, e1, catalog.update_need, n1, {"purpose": "新产品生产线流动资金扩产"})
        _as(app, op, catalog.update_enterprise, ent1, {"employees": 90})
        # The operator rejects, then verifies, the bank (with a private reason).
        _as(app, op, catalog.verify_funder, _one(Funder, ref="F-001"), False, "OPERATOR-NOTE-7781")
        _as(app, op, catalog.verify_funder, _one(Funder, ref="F-001"), True)
        # The bank's member edits its product; E-002's member its own profile.
        _as(
            app, bank, catalog.update_product, _one(Product, ref="P-001"), {"description": "新说明"}
        )
        _as(app, e2, catalog.update_enterprise, _one(Enterprise, ref="E-002"), {"employees": 30})
        db.session.commit()
    return app


def _feed(ref: str) -> list[workspace.Activity]:
    org = db.session.execute(
        db.select(Enterprise).filter_by(ref=ref)
        if ref.startswith("E")
        else db.select(Funder).filter_by(ref=ref)
    ).scalar_one()
    return workspace.recent_activity(org, limit=100)


def test_enterprise_feed_has_its_own_records_only_and_names_no_outsider(world):
    with world.app_context():
        e1 = _feed("E-001")
        assert {(a.action, a.object_ref) for a in e1} >= {
            ("update", "N-001"), ("update", "E-001"), ("denied", "N-001"), ("denied", "E-001"),
        }  # fmt: skip
        by = {(a.action, a.object_ref): (a.actor, a.actor_kind) for a in e1}
        assert by[("update", "N-001")] == ("e1@x.cn", "member")
        assert by[("update", "E-001")] == ("", "operator")
        assert by[("denied", "N-001")] == ("", "other")  # not e2@x.cn
        assert by[("denied", "E-001")] == ("", "other")  # not bank@x.cn
        # E-002's member poked at N-001: that is about E-001's record, not on E-002's feed.
        e2 = _feed("E-002")
        assert {a.object_ref for a in e2} == {"E-002"}
        assert all(a.actor in ("", "e2@x.cn") for a in e2)


def test_institution_feed_shows_no_other_organisations_records(world):
    with world.app_context():
        feed = _feed("F-001")
        refs = {(a.action, a.object_ref) for a in feed}
        assert ("update", "P-001") in refs and ("verify", "F-001") in refs
        assert not any(r in ("E-001", "N-001") for _a, r in refs)  # its member's denial
        by = {(a.action, a.object_ref): (a.actor, a.actor_kind) for a in feed}
        assert by[("verify", "F-001")] == ("", "operator")  # not op@x.cn
        assert by[("update", "P-001")] == ("bank@x.cn", "member")


def test_dashboards_show_neither_outsiders_nor_details(world):
    client = world.test_client()
    client.post("/auth/login", data={"email": "e1@x.cn", "password": PASSWORD})
    page = client.get("/dashboard").get_data(as_text=True).split('id="activity"')[1]
    for secret in ("e2@x.cn", "bank@x.cn", "op@x.cn", "SECRET-REASON"):
        assert secret not in page
    assert "e1@x.cn" in page and "N-001" in page
    client.post("/auth/login", data={"email": "e2@x.cn", "password": PASSWORD})
    page = client.get("/dashboard").get_data(as_text=True).split('id="activity"')[1]
    assert "N-001" not in page and "E-001" not in page
    client.post("/auth/login", data={"email": "bank@x.cn", "password": PASSWORD})
    page = client.get("/dashboard").get_data(as_text=True).split('id="activity"')[1]
    for secret in ("op@x.cn", "OPERATOR-NOTE-7781", "E-001", "N-001", "SECRET-REASON"):
        assert secret not in page
    assert "P-001" in page


def test_operators_audit_log_keeps_everything(world):
    client = world.test_client()
    client.post("/auth/login", data={"email": "op@x.cn", "password": PASSWORD})
    page = client.get("/operator/audit?per_page=100").get_data(as_text=True)
    assert "e2@x.cn" in page and "bank@x.cn" in page
    for who in ("e1@x.cn", "bank@x.cn"):
        client.post("/auth/login", data={"email": who, "password": PASSWORD})
        assert client.get("/operator/audit").status_code == 403
