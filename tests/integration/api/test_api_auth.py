"""Bearer tokens only: no, bad, revoked or suspended credentials get a JSON 401."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import ApiToken, AuditEntry, Need
from techfin.services import accounts

RESOURCES = ("enterprises", "patents", "needs", "funders", "products", "outcomes")


def _assert_401(resp) -> None:  # noqa: ANN001
    assert resp.status_code == 401
    assert resp.is_json and resp.json["error"]["code"] == "unauthorized"
    assert set(resp.json["error"]) == {"code", "message", "fields"}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("resource", RESOURCES)
def test_no_token_is_401_json(api, resource):
    _assert_401(api.get(f"/api/v1/{resource}"))
    _assert_401(api("POST", f"/api/v1/{resource}", json={}))
    _assert_401(api("DELETE", f"/api/v1/{resource}/1"))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Bearer ",
        "Bearer",
        "Token abc",
        "Basic ZTFAeC5jbjpwYXNzd29yZC0xMjM=",
        "Bearer " + "x" * 5000,
        "Bearer tf_\u00e9\u4e2d",
    ],
)
def test_bad_token_is_401(api, header):
    _assert_401(api.get("/api/v1/needs", headers={"Authorization": header}))


def test_valid_token_works_and_is_touched(app, api):
    assert api.get("/api/v1/needs", "enterprise").status_code == 200
    with app.app_context():
        user = accounts.find_user("e1@x.cn")
        row = db.session.execute(db.select(ApiToken).filter_by(user_id=user.id)).scalar_one()
        assert row.last_used_at is not None


def test_revoked_token_is_401_and_audited(app, api):
    with app.app_context():
        accounts.revoke_api_tokens(accounts.find_user("e1@x.cn"))
    _assert_401(api.get("/api/v1/needs", "enterprise"))
    with app.app_context():
        denied = db.session.execute(db.select(AuditEntry).filter_by(action="denied")).scalars()
        assert any(e.detail.get("reason") == "revoked token" for e in denied)


def test_suspended_user_is_401(app, api):
    with app.app_context():
        accounts.find_user("bank@x.cn").active = False
        db.session.commit()
    _assert_401(api.get("/api/v1/needs", "verified_institution"))
    _assert_401(api.get("/api/v1/funders", "verified_institution"))


def test_session_cookie_is_ignored(app, client, auth, tokens):
    assert auth.login("e1@x.cn").status_code == 302  # logged in to the pages
    assert client.get("/dashboard").status_code == 200
    _assert_401(client.get("/api/v1/needs"))
    _assert_401(client.post("/api/v1/needs", json={"kind": "loan", "amount_cny": 1000}))


def test_token_wins_over_session_cookie_including_the_audit(app, client, auth, tokens):
    auth.login("e1@x.cn")
    headers = {"Authorization": f"Bearer {tokens['enterprise2']}"}
    listed = client.get("/api/v1/needs", headers=headers).json["items"]
    assert {n["ref"] for n in listed} == {"N-002"}
    resp = client.post("/api/v1/needs", headers=headers, json={"kind": "loan", "amount_cny": 1000})
    assert resp.status_code == 201 and resp.json["enterprise_ref"] == "E-002"
    with app.app_context():
        need = db.session.execute(db.select(Need).filter_by(ref=resp.json["ref"])).scalar_one()
        entry = db.session.execute(
            db.select(AuditEntry).filter_by(action="create", object_type="need", object_id=need.id)
        ).scalar_one()
        assert entry.actor == "e2@x.cn"


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_api_is_csrf_exempt_with_a_token(api):
    resp = api("POST", "/api/v1/needs", "enterprise", json={"kind": "loan", "amount_cny": 1000})
    assert resp.status_code == 201


@pytest.mark.app_config(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute")
def test_rate_limit_is_429_json(api):
    codes = [api.get("/api/v1/needs", "enterprise").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    resp = api.get("/api/v1/funders", "enterprise")
    assert resp.status_code == 429 and resp.is_json
    assert resp.json["error"]["code"] == "too_many_requests"
