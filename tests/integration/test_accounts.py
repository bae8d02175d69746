from __future__ import annotations

import time

import pytest

from techfin.errors import DomainError
from techfin.extensions import db
from techfin.models import AuditEntry, User
from techfin.services import accounts


def _user(email="a@example.cn"):
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def test_register_enterprise_logs_in_and_shows_size(client, app):
    resp = client.post("/auth/register", data={
        "account_type": "enterprise", "org_name": "中山市测试照明科技有限公司", "industry": "C38",
        "region": "442000", "funder_kind": "bank", "name": "张三", "email": "Zhang@Example.cn",
        "password": "Lychee-Harbour-47", "confirm": "Lychee-Harbour-47"}, follow_redirects=True)  # fmt: skip
    assert resp.status_code == 200
    assert "中山市测试照明科技有限公司" in resp.get_data(as_text=True)
    with app.app_context():
        assert _user("zhang@example.cn").role == "enterprise"


def test_register_rejects_bad_codes_with_field_messages(client):
    resp = client.post("/auth/register", data={
        "account_type": "enterprise", "org_name": "某公司", "industry": "Q99x", "region": "999999",
        "funder_kind": "bank", "name": "n", "email": "n@example.cn",
        "password": "Lychee-Harbour-47", "confirm": "Lychee-Harbour-47"})  # fmt: skip
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "行业代码无效" in text and "地区代码无效" in text


def test_institution_registers_unverified(client, app):
    client.post("/auth/register", data={
        "account_type": "bank", "org_name": "某某银行科技支行", "funder_kind": "bank", "name": "李四",
        "email": "li@bank.cn", "password": "Lychee-Harbour-47", "confirm": "Lychee-Harbour-47"})  # fmt: skip
    with app.app_context():
        user = _user("li@bank.cn")
        assert user.organization.status == "pending"
        assert not accounts.can_see_enterprise_data(user)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'id="unverified-notice"' in page


def test_login_logout_and_audit(client, app, make_user, auth):
    make_user("a@example.cn", "operator")
    assert auth.login("a@example.cn", "wrong-password").status_code == 200
    resp = auth.login("a@example.cn")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200
    auth.logout()
    assert client.get("/dashboard").status_code == 302
    with app.app_context():
        actions = [a for a in db.session.execute(db.select(AuditEntry.action)).scalars()]
        assert "login_failed" in actions and "login" in actions


@pytest.mark.parametrize("target", [
    "https://evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "http:/evil.example", " //evil.example", "/\t/evil.example",
])  # fmt: skip
def test_next_redirect_is_never_offsite(client, make_user, target):
    make_user("a@example.cn", "operator")
    resp = client.post("/auth/login?next=" + target,
                       data={"email": "a@example.cn", "password": "Lychee-Harbour-47"})  # fmt: skip
    assert resp.status_code == 302
    assert resp.headers["Location"] in ("/dashboard", "http://localhost/dashboard")


def test_next_redirect_keeps_local_paths(client, make_user):
    make_user("a@example.cn", "operator")
    resp = client.post("/auth/login?next=/auth/account",
                       data={"email": "a@example.cn", "password": "Lychee-Harbour-47"})  # fmt: skip
    assert resp.headers["Location"].endswith("/auth/account")


def test_password_reset_token_is_single_use(app, make_user):
    make_user("a@example.cn", "enterprise")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@example.cn")).scalar_one()
        token = accounts.password_reset_token(user)
        accounts.reset_password(token, "new-password-1")
        assert user.check_password("new-password-1")
        with pytest.raises(DomainError) as err:
            accounts.reset_password(token, "another-password")
        assert "token" in err.value.fields


def test_password_reset_token_expires(app, make_user):
    make_user("a@example.cn", "enterprise")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@example.cn")).scalar_one()
        token = accounts.password_reset_token(user)
        time.sleep(1.1)  # itsdangerous counts whole seconds
        with pytest.raises(DomainError, match="expired"):
            accounts.reset_password(token, "new-password-1", max_age=0)
        with pytest.raises(DomainError, match="invalid"):
            accounts.reset_password(token + "x", "new-password-1")


def test_change_password_logs_out_other_sessions(app, make_user):
    make_user("a@example.cn", "operator")
    one, two = app.test_client(), app.test_client()
    for c in (one, two):
        c.post("/auth/login", data={"email": "a@example.cn", "password": "Lychee-Harbour-47"})
        assert c.get("/dashboard").status_code == 200
    resp = one.post("/auth/account", data={
        "pw-old_password": "Lychee-Harbour-47", "pw-password": "Mango-Lantern-58",
        "pw-confirm": "Mango-Lantern-58", "pw-submit": "1"})  # fmt: skip
    assert resp.status_code == 302
    assert one.get("/dashboard").status_code == 200
    assert two.get("/dashboard").status_code == 302


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
def test_login_is_rate_limited(client, make_user):
    make_user("a@example.cn", "operator")
    codes = [
        client.post(
            "/auth/login", data={"email": "a@example.cn", "password": "bad-password"}
        ).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_cli_create_user_and_token(runner, app, sample_data):
    result = runner.invoke(args=["create-user", "bank@x.cn", "--role", "bank", "--org", "F-001",
                                 "--password", "Lychee-Harbour-47"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-user", "bad@x.cn", "--role", "bank", "--org", "E-001",
                                 "--password", "Lychee-Harbour-47"])  # fmt: skip
    assert result.exit_code != 0 and "funder" in result.output
    result = runner.invoke(args=["create-user", "short@x.cn", "--role", "operator",
                                 "--password", "short"])  # fmt: skip
    assert result.exit_code != 0 and "password" in result.output
    result = runner.invoke(args=["api-token", "create", "bank@x.cn"])
    assert result.exit_code == 0
    token = result.output.split()[-1]
    assert token.startswith("tf_")
    with app.app_context():
        from techfin.models import ApiToken

        row = db.session.execute(db.select(ApiToken)).scalar_one()
        assert row.token_hash == ApiToken.hash(token) and token not in row.token_hash


def test_api_token_revoke(runner, app, make_user):
    make_user("a@example.cn", "operator")
    runner.invoke(args=["api-token", "create", "a@example.cn"])
    result = runner.invoke(args=["api-token", "revoke", "a@example.cn"])
    assert result.exit_code == 0 and "revoked 1" in result.output
