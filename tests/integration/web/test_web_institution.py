"""The institution workspace: profile, team (invite by email, remove), products, dealflow."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy

import pytest

from techfin.extensions import db
from techfin.models import AuditEntry, Funder, Membership, Product, User

PRODUCT = {
    "name": "科技成长贷", "kind": "loan", "min_amount_cny": "50", "max_amount_cny": "1,000.5",
    "min_term_months": "6", "max_term_months": "36", "rate_min": "3.85", "rate_max": "5.5",
    "industries": "C38, I65", "regions": "442000,510000", "stages": ["startup", "growth"],
    "requires_patent": "y", "requires_high_tech": "y", "description": "面向科技型中小企业",
}  # fmt: skip


def _user(email: str) -> User | None:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()


def test_institution_profile_saves_regions_as_prefixes(app, client, users, login, ids, body):
    login("bank@x.cn")
    resp = client.post("/institution/profile", data={
        "name": "中国银行中山分行科技支行", "regions": "442000, 440300",
        "description": "科技支行", "contact_email": "tech@boc.example.cn"})  # fmt: skip
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        funder = db.session.get(Funder, ids("funder", "F-001"))
        assert funder.regions == ["4403", "4420"] and funder.status == "verified"
    text = body(client.get("/institution/profile"))
    assert "中山市" in text and "深圳市" in text  # the picker shows names, not bare codes


def _invite(client, email="new@bank.cn", name="王五"):  # noqa: ANN001, ANN202
    return client.post("/institution/team", data={"email": email, "name": name})


def test_invite_without_mail_shows_the_link_then_the_link_works_once(
    app, client, users, login, body
):
    login("bank@x.cn")
    resp = _invite(client)  # SMTP_PORT=1: nothing listens, sending fails
    text = body(resp)
    assert resp.status_code == 200 and 'id="invite-fallback"' in text
    link = re.search(r'<code id="invite-link">([^<]+)</code>', text).group(1)
    with app.app_context():
        user = _user("new@bank.cn")
        assert user.role == "bank" and user.organization.ref == "F-001"
        assert user.memberships[0].role == "member"
        assert db.session.execute(db.select(AuditEntry).filter_by(action="invite")).scalar_one()
    path = link.removeprefix("http://localhost")
    client.post("/auth/logout")
    assert "new@bank.cn" in body(client.get(path))
    resp = client.post(path, data={"password": "a-new-password", "confirm": "a-new-password"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    assert "中国银行中山分行科技支行" in body(client.get("/dashboard"))
    client.post("/auth/logout")
    assert client.get(path).status_code == 400  # used
    login_resp = client.post("/auth/login", data={"email": "new@bank.cn",
                                                  "password": "a-new-password"})  # fmt: skip
    assert login_resp.status_code == 302


@pytest.fixture
def smtp_server(app):
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            self.messages.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    yield sink
    controller.stop()


def test_invite_is_mailed_in_text_and_html(app, client, users, login, body, smtp_server):
    login("bank@x.cn")
    resp = _invite(client, "colleague@bank.cn", "赵六")
    assert resp.status_code == 302
    assert "invite-fallback" not in body(client.get("/institution/team"))
    assert len(smtp_server.messages) == 1
    msg = message_from_bytes(smtp_server.messages[0], policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "colleague@bank.cn"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    link = re.search(r"http://localhost/auth/welcome/\S+", text).group(0)
    assert link in html and "中国银行中山分行科技支行" in text


def test_only_owners_invite_and_remove(app, client, users, login, add_user, ids):
    add_user("member@bank.cn", "bank", "F-001", "member")
    login("member@bank.cn")
    assert _invite(client).status_code == 403
    owner = ids("user", "bank@x.cn")
    assert client.post(f"/institution/team/{owner}/remove").status_code == 403
    with app.app_context():
        assert _user("new@bank.cn") is None


def test_remove_member_logs_them_out_and_blocks_login(app, client, users, login, add_user, ids):
    member = add_user("member@bank.cn", "bank", "F-001", "member")
    login("bank@x.cn")
    assert client.post(f"/institution/team/{member}/remove").status_code == 302
    with app.app_context():
        user = db.session.get(User, member)
        assert not user.active and not user.memberships
    resp = client.post(
        "/auth/login", data={"email": "member@bank.cn", "password": "Lychee-Harbour-47"}
    )
    assert resp.status_code == 200  # refused
    # The owner cannot remove itself; another institution's member is not found.
    login("bank@x.cn")
    client.post(f"/institution/team/{ids('user', 'bank@x.cn')}/remove")
    with app.app_context():
        assert _user("bank@x.cn").active
    login("vc@x.cn")
    other = add_user("member2@bank.cn", "bank", "F-001", "member")
    assert client.post(f"/institution/team/{other}/remove").status_code == 404


def test_a_removed_member_is_not_revived_by_an_invitation(
    app, client, users, login, add_user, body, invalid
):
    # A removed member is a suspended account: only an administrator may bring it back.
    member = add_user("member@bank.cn", "bank", "F-001", "member")
    login("bank@x.cn")
    client.post(f"/institution/team/{member}/remove")
    resp = _invite(client, "member@bank.cn")
    text = body(resp)
    assert resp.status_code == 200 and 'id="invite-fallback"' not in text
    assert invalid(text, "email") and "邀请不能添加已有或已停用的账户" in text
    with app.app_context():
        assert not _user("member@bank.cn").active
        assert db.session.execute(db.select(Membership).filter_by(user_id=member)).first() is None


def test_product_create_pause_resume_retire(app, client, users, login, body):
    login("bank@x.cn")
    resp = client.post("/institution/products/new", data=PRODUCT)
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        p = db.session.execute(db.select(Product).filter_by(name="科技成长贷")).scalar_one()
        assert (p.min_amount_cny, p.max_amount_cny) == (500_000, 10_005_000)
        assert (p.rate_min, p.rate_max) == (3.85, 5.5)
        assert p.industries == ["C38", "I65"] and p.regions == ["4420", "51"]
        assert sorted(p.stages) == ["growth", "startup"] and p.status == "active"
        assert p.requires_patent and p.requires_high_tech and not p.requires_collateral
        pid = p.id
    edit = body(client.get(f"/institution/products/{pid}/edit"))
    assert 'value="1000.5"' in edit and "四川省" in edit
    for status in ("paused", "active", "paused", "retired"):
        client.post(f"/institution/products/{pid}/status", data={"status": status})
        with app.app_context():
            assert db.session.get(Product, pid).status == status
    # Retired is final: no edit, no reactivation.
    assert client.get(f"/institution/products/{pid}/edit").status_code == 302
    client.post(f"/institution/products/{pid}/status", data={"status": "active"})
    client.post(f"/institution/products/{pid}/edit", data={**PRODUCT, "name": "改名"})
    with app.app_context():
        p = db.session.get(Product, pid)
        assert p.status == "retired" and p.name == "科技成长贷"


@pytest.mark.parametrize(
    ("low", "high", "field"),
    [
        (("min_amount_cny", "500"), ("max_amount_cny", "100"), "max_amount_cny"),
        (("min_term_months", "36"), ("max_term_months", "6"), "max_term_months"),
        (("rate_min", "6"), ("rate_max", "4.5"), "rate_max"),
    ],
)
def test_product_minimum_above_maximum_is_refused(
    app, client, users, login, body, invalid, low, high, field
):
    login("bank@x.cn")
    data = {**PRODUCT, low[0]: low[1], high[0]: high[1]}
    text = body(client.post("/institution/products/new?lang=en", data=data))
    assert invalid(text, field) and "The maximum is below the minimum." in text
    with app.app_context():
        assert db.session.execute(db.select(Product).filter_by(name="科技成长贷")).first() is None


def test_another_institutions_product_is_not_found(client, users, login, ids):
    login("vc@x.cn")
    pid = ids("product", "P-001")
    assert client.get(f"/institution/products/{pid}/edit").status_code == 404
    resp = client.post(f"/institution/products/{pid}/status", data={"status": "paused"})
    assert resp.status_code == 404


def test_unverified_institution_sees_no_dealflow(client, users, login, ids, body):
    login("vc@x.cn")
    resp = client.get("/dealflow/needs")
    assert resp.status_code == 403 and 'id="unverified-notice"' in body(resp)
    assert client.get(f"/dealflow/enterprises/{ids('enterprise', 'E-001')}").status_code == 403


def test_verified_institution_sees_published_needs_only(client, users, login, ids, body):
    login("bank@x.cn")
    text = body(client.get("/dealflow/needs"))
    assert (
        "中山市明辉照明科技有限公司" in text and "成都云图软件有限公司" not in text
    )  # N-002 is a draft
    assert client.get(f"/dealflow/enterprises/{ids('enterprise', 'E-002')}").status_code == 404


def test_published_needs_count_stops_at_the_list_limit(app, client, users, login, ids, body,
                                                      monkeypatch):  # fmt: skip
    """At region scale the list counted every published need on each visit: it counts at
    most LIST_COUNT_LIMIT and says "more than" (pages go up to the limit's), newest first."""
    from datetime import datetime, timedelta

    from techfin.models import Need
    from techfin.services import marketplace

    with app.app_context():
        eid = ids("enterprise", "E-001")
        start = datetime.now() + timedelta(days=1)  # newer than the sample's needs
        for i in range(7):
            db.session.add(Need(ref=f"N-CAP-{i}", enterprise_id=eid, kind="loan",
                                amount_cny=1_000_000, purpose=f"扩产{i}", status="published",
                                created_at=start + timedelta(days=i)))  # fmt: skip
        db.session.commit()
        published = db.session.scalar(
            db.select(db.func.count()).select_from(Need).where(Need.status == "published")
        )
    assert published > 6
    login("bank@x.cn")
    exact = body(client.get("/dealflow/needs?per_page=20"))
    assert f"共 {published} 条" in exact
    monkeypatch.setattr(marketplace, "LIST_COUNT_LIMIT", 4)
    page = marketplace.published_needs
    with app.test_request_context():
        from techfin.services import accounts

        bank = accounts.find_user("bank@x.cn")
        first = page(bank, page=1, per_page=2)
        assert (first.total, first.capped, first.pages) == (4, True, 2)
        assert [n.ref for n in first.items] == ["N-CAP-6", "N-CAP-5"]  # newest first
        beyond = page(bank, page=9, per_page=2)  # past the counted pages: the last of them
        assert beyond.page == 2 and [n.ref for n in beyond.items] == ["N-CAP-4", "N-CAP-3"]
        assert page(bank, page=1, per_page=20).capped  # 7+ published, counted to 4
    html = body(client.get("/dealflow/needs"))
    assert "超过 4 条" in html and "共 " not in html.split("超过 4 条")[0][-40:]


def test_published_needs_are_read_from_their_index(app, sample_data):
    """The list of published needs, newest first, is a walk down ix_needs_status_created
    (0019) on PostgreSQL and SQLite alike, not a sort of every need."""
    from sqlalchemy import select as sa_select
    from sqlalchemy import text

    from techfin.models import Need

    stmt = (sa_select(Need.id).where(Need.status == "published")
            .order_by(Need.created_at.desc(), Need.id.desc()).limit(20))  # fmt: skip
    with app.app_context():
        sql = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
        if db.engine.dialect.name == "postgresql":
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                db.session.execute(text(f"SET LOCAL {setting} = off"))
            plan = "\n".join(db.session.execute(text(f"EXPLAIN {sql}")).scalars())
        else:
            found = db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
            plan = "\n".join(str(row[-1]) for row in found)
        db.session.rollback()
    assert "ix_needs_status_created" in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan
