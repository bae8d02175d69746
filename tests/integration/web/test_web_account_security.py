"""Account security (issue #13): invitations, the role hierarchy, sessions, CSRF, passwords."""

from __future__ import annotations

import re
import statistics
import time
from email.message import EmailMessage

import pytest

from techfin.errors import Conflict, DomainError, Forbidden
from techfin.extensions import db
from techfin.models import ApiToken, AuditEntry, Membership, User
from techfin.services import accounts, moderation, team

STRONG = "Lychee-Harbour-47"  # the fixtures' password (tests/conftest.py, web/conftest.py)
OTHER = "Mango-Lantern-58"  # also passes the policy


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def _actions(action: str) -> list[AuditEntry]:
    return list(db.session.execute(db.select(AuditEntry).filter_by(action=action)).scalars())


class MailBag:
    """A mailer that keeps what it is given (services take their collaborators as arguments)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def compose(self, user: User, link: str) -> EmailMessage:
        msg = EmailMessage()
        msg["To"] = user.email
        msg.set_content(link)
        return msg

    def send(self, msg: EmailMessage) -> None:
        self.sent.append(msg)


def _invite(inviter_email: str, email: str, bag: MailBag) -> team.Invitation:
    inviter = _user(inviter_email)
    return team.invite(inviter, inviter.organization, email, "x",
                       link_for=lambda t: f"http://localhost/auth/welcome/{t}",
                       compose=bag.compose, send=bag.send)  # fmt: skip


# ------------------------------------------------------------------ 1. invitations


@pytest.mark.parametrize("victim", ["admin@x.cn", "op2@x.cn", "e2@x.cn", "removed@bank.cn"])
def test_an_invitation_never_touches_an_existing_account(app, users, add_user, runner, victim):
    # The attack: the owner of an unverified institution (F-002) invites a suspended staff
    # account's email to get it back, with its old API token and a set-password link.
    add_user("admin@x.cn", "admin")
    add_user("op2@x.cn", "operator")
    add_user("removed@bank.cn", "bank")  # removed from F-001: suspended, no membership
    token = runner.invoke(args=["api-token", "create", victim]).output.split()[-1]
    with app.app_context():
        target = _user(victim)
        if victim != "e2@x.cn":  # e2 stays active: another organisation's account
            target.active = False
            target.session_version += 1
        db.session.commit()
        before = (target.active, target.session_version, target.password_hash, target.role,
                  target.name)  # fmt: skip
        audit_count = db.session.scalar(db.select(db.func.count(AuditEntry.id)))
        bag = MailBag()
        with pytest.raises(Conflict) as err:
            _invite("vc@x.cn", victim, bag)
        assert "email" in err.value.fields
        db.session.rollback()
        target = _user(victim)
        after = (target.active, target.session_version, target.password_hash, target.role,
                 target.name)  # fmt: skip
        assert after == before and bag.sent == []
        members = db.session.execute(db.select(Membership).filter_by(user_id=target.id))
        assert [m.organization.ref for m in members.scalars()] == (
            ["E-002"] if victim == "e2@x.cn" else []
        )
        assert db.session.scalar(db.select(db.func.count(AuditEntry.id))) == audit_count
        assert db.session.execute(db.select(ApiToken)).scalar_one().revoked_at is None
    if victim != "e2@x.cn":
        api = app.test_client().get("/api/v1/needs", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 401  # the old token stays dead


def test_inviting_a_member_again_says_so(app, users, add_user):
    add_user("member@bank.cn", "bank", "F-001", "member")
    with app.app_context(), pytest.raises(Conflict) as err:
        _invite("bank@x.cn", "member@bank.cn", MailBag())
    assert err.value.fields["email"] == ["已是本机构成员"]


def test_the_invitation_page_refuses_a_suspended_operator_in_both_languages(
    app, client, users, login, add_user, body
):
    add_user("op2@x.cn", "operator")
    with app.app_context():
        _user("op2@x.cn").active = False
        db.session.commit()
    login("vc@x.cn")
    zh = body(client.post("/institution/team", data={"email": "op2@x.cn", "name": "x"}))
    assert "该邮箱已有账户" in zh
    en = body(client.post("/institution/team?lang=en", data={"email": "op2@x.cn", "name": "x"}))
    assert "an invitation cannot add an existing or suspended account" in en
    with app.app_context():
        assert not _user("op2@x.cn").active and not _actions("invite")


# ------------------------------------------------------------------ 2. the role hierarchy


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("op@x.cn", "e1@x.cn", True),
        ("op@x.cn", "bank@x.cn", True),
        ("op@x.cn", "op2@x.cn", False),
        ("op@x.cn", "admin@x.cn", False),
        ("admin@x.cn", "op@x.cn", True),
        ("admin@x.cn", "admin2@x.cn", True),
        ("admin@x.cn", "e1@x.cn", True),
    ],
)
def test_who_may_suspend_whom(app, users, add_user, actor, target, allowed):
    add_user("op2@x.cn", "operator")
    add_user("admin@x.cn", "admin")
    add_user("admin2@x.cn", "admin")
    with app.app_context():
        a, t = _user(actor), _user(target)
        version = t.session_version
        if allowed:
            moderation.set_user_active(a, t, False)
            assert not t.active and t.session_version == version + 1
            moderation.set_user_active(a, t, True)
            assert t.active
        else:
            with pytest.raises(Forbidden):
                moderation.set_user_active(a, t, False)
            db.session.rollback()
            assert _user(target).active


def test_an_operator_cannot_suspend_an_admin_through_the_page(
    app, client, users, login, add_user, body
):
    admin = add_user("admin@x.cn", "admin")
    login("op@x.cn")
    resp = client.post(f"/operator/users/{admin}/suspend", follow_redirects=True)
    assert "只有管理员" in body(resp)
    with app.app_context():
        assert _user("admin@x.cn").active and not _actions("suspend")
    # The list offers no suspend button for an account the operator may not manage.
    page = body(client.get("/operator/users?q=admin@x.cn"))
    assert f"/operator/users/{admin}/suspend" not in page


# ------------------------------------------------------------------ 3. sessions end


def _password_login(client, email: str, password: str = STRONG):  # noqa: ANN001, ANN202
    resp = client.post("/auth/login", data={"email": email, "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return resp


def _session_cookie(client) -> str:  # noqa: ANN001
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_cookie_copied_before_logout_is_anonymous_afterwards(app, make_user):
    make_user("a@x.cn", "operator")
    browser, other_device = app.test_client(), app.test_client()
    _password_login(browser, "a@x.cn")
    _password_login(other_device, "a@x.cn")
    stolen = _session_cookie(browser)
    assert browser.get("/dashboard").status_code == 200
    assert browser.post("/auth/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen, domain="localhost")
    resp = thief.get("/dashboard")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    # Logout ends every session of the account, the other device's too.
    assert other_device.get("/dashboard").status_code == 302
    with app.app_context():
        assert _actions("logout")


def test_a_password_change_ends_every_other_session_and_keeps_api_tokens(app, make_user, runner):
    make_user("a@x.cn", "operator")
    token = runner.invoke(args=["api-token", "create", "a@x.cn"]).output.split()[-1]
    one, two = app.test_client(), app.test_client()
    _password_login(one, "a@x.cn")
    _password_login(two, "a@x.cn")
    stolen = _session_cookie(two)
    resp = one.post("/auth/account", data={
        "pw-old_password": STRONG, "pw-password": OTHER, "pw-confirm": OTHER, "pw-submit": "1"})  # fmt: skip
    assert resp.status_code == 302
    assert one.get("/dashboard").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", stolen, domain="localhost")
    assert thief.get("/dashboard").status_code == 302
    # Tokens are issued on the server only and survive (decision in accounts.set_password).
    api = app.test_client().get("/api/v1/needs", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200


# ------------------------------------------------------------------ 4. CSRF token rotation


def _csrf_field(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token field on the page"
    return match.group(1)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_csrf_token_is_rotated_at_login(app, client, make_user):
    make_user("a@x.cn", "operator")
    before = _csrf_field(client.get("/auth/login").get_data(as_text=True))
    with client.session_transaction() as session:
        raw_before = session["csrf_token"]
    resp = client.post("/auth/login", data={"email": "a@x.cn", "password": STRONG,
                                            "csrf_token": before})  # fmt: skip
    assert resp.status_code == 302
    after = _csrf_field(client.get("/auth/account").get_data(as_text=True))
    with client.session_transaction() as session:
        assert session["csrf_token"] != raw_before
    # The token known before login (e.g. planted by an attacker) is refused afterwards.
    data = {"loc-locale": "en", "loc-submit": "1"}
    assert client.post("/auth/account", data={**data, "csrf_token": before}).status_code == 400
    assert client.post("/auth/account", data={**data, "csrf_token": after}).status_code == 302


# ------------------------------------------------------------------ 5. the password policy


WEAK = ["12345678", "1234567890", "password-123", "qwertyuiop", "zhang@example.cn"]


@pytest.mark.parametrize("password", WEAK)
def test_weak_passwords_are_refused(app, password):
    with app.app_context(), pytest.raises(DomainError) as err:
        accounts.check_password_strength(password, ["zhang@example.cn", "张三"])
    assert "password" in err.value.fields


def test_the_demo_password_passes_for_every_demo_account(app):
    from techfin.services import demo

    with app.app_context():
        for email, _role, _org, name in demo.DEMO_ACCOUNTS:
            assert accounts.password_problems(demo.DEMO_PASSWORD, [email, name]) == []


def test_registration_refuses_a_weak_password_in_the_users_language(client, body, app):
    data = {"account_type": "enterprise", "org_name": "测试科技有限公司", "industry": "C38",
            "region": "442000", "funder_kind": "bank", "name": "张三", "email": "z@x.cn",
            "password": "1234567890", "confirm": "1234567890"}  # fmt: skip
    assert "太容易被猜到" in body(client.post("/auth/register", data=data))
    # Reported together with the other fields' problems, not one round trip later.
    both = body(client.post("/auth/register", data={**data, "region": "999999"}))
    assert "太容易被猜到" in both and "地区代码无效" in both
    assert "too easy to guess" in body(client.post("/auth/register?lang=en", data=data))
    short = {**data, "password": "a1b2c3d4", "confirm": "a1b2c3d4"}
    assert "at least 10 characters" in body(client.post("/auth/register?lang=en", data=short))
    with app.app_context():
        assert accounts.find_user("z@x.cn") is None


def test_every_way_of_setting_a_password_applies_the_policy(
    app, client, users, login, add_user, runner, body
):
    # set-password link of an invitation
    with app.app_context():
        invitation = _invite("bank@x.cn", "new@bank.cn", MailBag())
        welcome = invitation.link.removeprefix("http://localhost")
        reset = "/auth/reset/" + accounts.password_reset_token(_user("e1@x.cn"))
    weak = {"password": "password-123", "confirm": "password-123"}
    assert "太容易被猜到" in body(client.post(welcome, data=weak))
    assert "太容易被猜到" in body(client.post(reset, data=weak))
    login("e2@x.cn")
    resp = client.post("/auth/account", data={
        "pw-old_password": STRONG, "pw-password": "1234567890",
        "pw-confirm": "1234567890", "pw-submit": "1"})  # fmt: skip
    assert "太容易被猜到" in body(resp)
    result = runner.invoke(args=["create-user", "x@x.cn", "--role", "operator",
                                 "--password", "1234567890"])  # fmt: skip
    assert result.exit_code != 0 and "password" in result.output
    with app.app_context():
        assert _user("e2@x.cn").check_password(STRONG)
        assert not _actions("password_change")
        assert accounts.find_user("x@x.cn") is None


# ------------------------------------------------------------------ 6. login timing


def _median_seconds(fn, rounds: int = 7) -> float:  # noqa: ANN001
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_login_costs_a_hash_for_unknown_emails_too(app, make_user):
    make_user("known@x.cn", "operator")
    with app.app_context():
        accounts.authenticate("nobody@x.cn", "wrong-password")  # warm the dummy hash
        known = _median_seconds(lambda: accounts.authenticate("known@x.cn", "wrong-password"))
        unknown = _median_seconds(lambda: accounts.authenticate("nobody@x.cn", "wrong-password"))
    # Without the dummy hash the unknown path is ~20x faster (a query and no scrypt); with
    # it both cost one scrypt. Half is a wide margin for a loaded machine.
    assert unknown > 0.5 * known, (known, unknown)


# ------------------------------------------------------------------ 7. administrators' pages


def test_an_admin_creates_accounts_with_the_policy_and_an_audit_entry(
    app, client, users, login, add_user, body, invalid
):
    add_user("admin@x.cn", "admin")
    login("admin@x.cn")
    data = {"email": "New@Bank.cn", "name": "新员工", "role": "bank", "org_ref": "F-001",
            "password": "1234567890"}  # fmt: skip
    weak = client.post("/admin/users/new", data=data)
    assert invalid(body(weak), "password")
    wrong_kind = client.post("/admin/users/new", data={**data, "org_ref": "E-001",
                                                         "password": STRONG})  # fmt: skip
    assert invalid(body(wrong_kind), "org_ref")
    staff_with_org = client.post("/admin/users/new", data={**data, "role": "operator",
                                                             "password": STRONG})  # fmt: skip
    assert invalid(body(staff_with_org), "org_ref")
    resp = client.post("/admin/users/new", data={**data, "password": STRONG})
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        user = _user("new@bank.cn")
        assert user.role == "bank" and user.organization.ref == "F-001"
        assert user.check_password(STRONG)
        entry = db.session.execute(
            db.select(AuditEntry).filter_by(
                action="create", object_type="user", object_id=user.id
            )  # fmt: skip
        ).scalar_one()
        assert entry.actor == "admin@x.cn"


def test_an_admin_changes_roles_within_a_kind(app, client, users, login, add_user, ids, body):
    add_user("admin@x.cn", "admin")
    op = ids("user", "op@x.cn")
    bank = ids("user", "bank@x.cn")
    enterprise = ids("user", "e1@x.cn")
    me = ids("user", "admin@x.cn")
    other = app.test_client()
    _session_of(app, other, "op@x.cn")
    assert other.get("/operator/users").status_code == 200
    login("admin@x.cn")
    assert client.post(f"/admin/users/{op}/role", data={"role-role": "admin"}).status_code == 302
    assert client.post(f"/admin/users/{bank}/role",
                       data={"role-role": "investor"}).status_code == 302  # fmt: skip
    refused = client.post(f"/admin/users/{enterprise}/role", data={"role-role": "operator"})
    assert "create a new account" in body(client.post(
        f"/admin/users/{enterprise}/role?lang=en", data={"role-role": "operator"}))  # fmt: skip
    assert refused.status_code == 200
    client.post(f"/admin/users/{me}/role", data={"role-role": "operator"})
    with app.app_context():
        assert _user("op@x.cn").role == "admin" and _user("bank@x.cn").role == "investor"
        assert _user("e1@x.cn").role == "enterprise" and _user("admin@x.cn").role == "admin"
        changes = _actions("role_change")
        assert [(e.detail["from"], e.detail["to"]) for e in changes] == [
            ("operator", "admin"), ("bank", "investor")]  # fmt: skip
    # The promoted account's old session ended: it logs in again under its new role.
    assert other.get("/operator/users").status_code == 302


def _session_of(app, client, email: str) -> None:  # noqa: ANN001
    with app.app_context():
        user_id = _user(email).get_id()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True


def test_an_admin_resets_a_password_and_ends_its_sessions(
    app, client, users, login, add_user, ids, body, invalid
):
    add_user("admin@x.cn", "admin")
    target = ids("user", "e1@x.cn")
    victim = app.test_client()
    _session_of(app, victim, "e1@x.cn")
    login("admin@x.cn")
    weak = client.post(f"/admin/users/{target}/password",
                       data={"pw-password": "password-123", "pw-confirm": "password-123"})  # fmt: skip
    assert invalid(body(weak), "pw-password")
    assert victim.get("/dashboard").status_code == 200
    resp = client.post(f"/admin/users/{target}/password",
                       data={"pw-password": OTHER, "pw-confirm": OTHER})  # fmt: skip
    assert resp.status_code == 302
    assert victim.get("/dashboard").status_code == 302
    with app.app_context():
        assert _user("e1@x.cn").check_password(OTHER)
        (entry,) = _actions("password_reset")
        assert entry.actor == "admin@x.cn" and entry.object_id == target


def test_operators_cannot_use_the_admin_services_or_pages(app, client, users, login, ids):
    from techfin.services import administration

    target = ids("user", "e1@x.cn")
    login("op@x.cn")
    assert client.post(f"/admin/users/{target}/password",
                       data={"pw-password": OTHER, "pw-confirm": OTHER}).status_code == 403  # fmt: skip
    with app.app_context():
        op, e1 = _user("op@x.cn"), _user("e1@x.cn")
        with pytest.raises(Forbidden):
            administration.reset_password(op, e1, OTHER)
        with pytest.raises(Forbidden):
            administration.change_role(op, e1, "operator")
        with pytest.raises(Forbidden):
            administration.create_account(op, email="n@x.cn", role="operator", password=STRONG)
        db.session.rollback()
        assert _user("e1@x.cn").check_password(STRONG)
        assert accounts.find_user("n@x.cn") is None


# ------------------------------------------------------------------ the hierarchy through the API


def test_the_api_keeps_the_hierarchy(app, users, add_user, runner, ids):
    add_user("admin@x.cn", "admin")
    add_user("op2@x.cn", "operator")

    def token(email: str) -> dict[str, str]:
        value = runner.invoke(args=["api-token", "create", email]).output.split()[-1]
        return {"Authorization": f"Bearer {value}"}

    op, admin = token("op@x.cn"), token("admin@x.cn")
    off = {"active": False}
    api = app.test_client()
    for target in ("admin@x.cn", "op2@x.cn"):
        resp = api.patch(f"/api/v1/users/{ids('user', target)}", headers=op, json=off)
        assert resp.status_code == 403, resp.json
    assert api.patch(f"/api/v1/users/{ids('user', 'op@x.cn')}", headers=op,
                     json=off).status_code == 409  # fmt: skip
    resp = api.patch(f"/api/v1/users/{ids('user', 'e1@x.cn')}", headers=op, json=off)
    assert resp.status_code == 200 and resp.json["active"] is False
    resp = api.patch(f"/api/v1/users/{ids('user', 'op2@x.cn')}", headers=admin, json=off)
    assert resp.status_code == 200 and resp.json == {
        "id": ids("user", "op2@x.cn"), "email": "op2@x.cn", "name": "op2", "role": "operator",
        "active": False}  # fmt: skip
    with app.app_context():
        assert _user("admin@x.cn").active and not _user("op2@x.cn").active
        denied = _actions("denied")
        assert len(denied) == 2  # each refusal is in the audit log


def test_the_admin_pages_render_in_both_languages(app, client, users, login, add_user, ids, body):
    add_user("admin@x.cn", "admin")
    login("admin@x.cn")
    target, me = ids("user", "bank@x.cn"), ids("user", "admin@x.cn")
    listing = body(client.get("/operator/users"))
    assert 'id="account-new-link"' in listing and f"/admin/users/{target}" in listing
    assert "新建账户" in body(client.get("/admin/users/new"))
    page = body(client.get(f"/admin/users/{target}"))
    assert 'id="role-form"' in page and 'id="password-form"' in page and "重置密码" in page
    own = body(client.get(f"/admin/users/{me}?lang=en"))
    assert 'id="not-manageable"' in own and 'id="role-form"' not in own
    assert "Reset password" in body(client.get(f"/admin/users/{target}"))
    assert client.get("/admin/users/999999").status_code == 404
