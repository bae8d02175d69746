"""The enterprise workspace: profile, patents, needs, sharing and the access log."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import AuditEntry, DataAccess, Enterprise, Need, Patent, SharingRule

PROFILE = {
    "name": "中山市明辉照明科技有限公司", "uscc": "91442000MA4UH1234Y", "industry": "C38",
    "region": "442000", "founded": "2012-05-18", "employees": "86", "revenue_cny": "4,200.5",
    "total_assets_cny": "３０００", "high_tech": "y", "stage": "growth",
    "description": "LED 智能灯饰研发与制造", "contact_email": "info@minghui.example.cn",
}  # fmt: skip


def _enterprise(app, ref="E-001") -> Enterprise:
    return db.session.execute(db.select(Enterprise).filter_by(ref=ref)).scalar_one()


def test_profile_saves_amounts_typed_in_wan_as_yuan(app, client, users, login, body):
    login("e1@x.cn")
    resp = client.post("/enterprise/profile", data=PROFILE)
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        e = _enterprise(app)
        assert e.revenue_cny == 42_005_000 and e.total_assets_cny == 30_000_000
        assert e.employees == 86 and e.high_tech and e.stage == "growth"
        assert e.size_class == "small"
    text = body(client.get("/enterprise/profile"))
    assert 'value="4200.5"' in text and 'value="3000"' in text
    assert 'id="size-class"' in text and "small" not in text.split('id="size-class"')[0]


def test_size_class_is_computed_never_typed(app, client, users, login, body):
    login("e1@x.cn")
    client.post("/enterprise/profile", data={**PROFILE, "employees": "5", "size_class": "large"})
    with app.app_context():
        assert _enterprise(app).size_class == "micro"
    assert 'name="size_class"' not in body(client.get("/enterprise/profile"))


def test_uscc_is_validated_with_a_clear_message(app, client, users, login, body):
    login("e1@x.cn")
    text = body(client.post("/enterprise/profile", data={**PROFILE, "uscc": "91442000MA4UH1234X"}))
    assert "is-invalid" in text and "统一社会信用代码校验位不正确" in text
    text = body(client.post("/enterprise/profile?lang=en", data={**PROFILE, "uscc": "91442000"}))
    assert "A unified social credit code has 18 characters, not 8" in text
    with app.app_context():
        assert _enterprise(app).uscc == "91442000MA4UH1234Y"


def test_uscc_of_another_enterprise_is_refused_on_the_field(app, client, users, login, body):
    login("e2@x.cn")
    text = body(client.post("/enterprise/profile", data={
        **PROFILE, "name": "成都云图软件有限公司", "industry": "I65", "region": "510100"}))  # fmt: skip
    assert "该信用代码已被其他企业使用" in text and "is-invalid" in text


def test_patent_crud_and_confidential_explained(app, client, users, login, body):
    login("e1@x.cn")
    form = body(client.get("/enterprise/patents/new?lang=en"))
    assert "hidden from every other organisation" in form
    # (E-001 already has 201710601862.3 in the sample data: a new number)
    data = {"number": "CN201810123456.5", "title": "新型灯具散热结构", "kind": "invention",
            "status": "granted", "filed": "2017-07-01", "granted": "2019-02-01",
            "valuation_cny": "12.5", "confidential": "y", "abstract": "散热"}  # fmt: skip
    assert client.post("/enterprise/patents/new", data=data).status_code == 302
    with app.app_context():
        patent = db.session.execute(
            db.select(Patent).filter_by(title="新型灯具散热结构")
        ).scalar_one()
        assert patent.valuation_cny == 125_000 and patent.confidential
        assert patent.number == "201810123456.5"
        pid = patent.id
    listing = body(client.get("/enterprise/patents"))
    assert "新型灯具散热结构" in listing and "12.5" in listing
    resp = client.post(f"/enterprise/patents/{pid}/edit", data={**data, "title": "改名后的专利",
                                                                  "confidential": ""})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        patent = db.session.get(Patent, pid)
        assert patent.title == "改名后的专利" and not patent.confidential
    assert client.post(f"/enterprise/patents/{pid}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Patent, pid) is None
        assert db.session.execute(
            db.select(AuditEntry).filter_by(action="delete", object_type="patent", object_id=pid)
        ).scalar_one()


def test_need_draft_publish_close_with_reason_reopen(app, client, users, login, body):
    login("e1@x.cn")
    resp = client.post("/enterprise/needs/new", data={
        "kind": "loan", "amount_cny": "12.5", "term_months": "12", "purpose": "流动资金"})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        need = db.session.execute(db.select(Need).filter_by(purpose="流动资金")).scalar_one()
        assert need.status == "draft" and need.amount_cny == 125_000
        nid = need.id
    assert "12.5" in body(client.get(f"/enterprise/needs/{nid}"))
    client.post(f"/enterprise/needs/{nid}/publish")
    with app.app_context():
        assert db.session.get(Need, nid).status == "published"
    # Closing needs a reason.
    text = body(client.post(f"/enterprise/needs/{nid}/close", data={"reason": "  "}))
    assert "is-invalid" in text
    with app.app_context():
        assert db.session.get(Need, nid).status == "published"
    client.post(f"/enterprise/needs/{nid}/close", data={"reason": "已获得银行贷款"})
    with app.app_context():
        need = db.session.get(Need, nid)
        assert need.status == "closed" and need.closed_reason == "已获得银行贷款"
    detail = body(client.get(f"/enterprise/needs/{nid}"))
    assert "已获得银行贷款" in detail
    # A closed need is not edited; it can be reopened.
    assert client.get(f"/enterprise/needs/{nid}/edit").status_code == 302
    client.post(f"/enterprise/needs/{nid}/publish")
    with app.app_context():
        assert db.session.get(Need, nid).status == "published"


def test_need_edit_and_draft_delete_but_published_is_closed_not_deleted(
    app, client, users, login, ids
):
    login("e2@x.cn")
    draft = ids("need", "N-002")
    resp = client.post(f"/enterprise/needs/{draft}/edit", data={
        "kind": "equity", "amount_cny": "2500", "purpose": "A 轮融资"})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Need, draft).amount_cny == 25_000_000
    assert client.post(f"/enterprise/needs/{draft}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Need, draft) is None
    login("e1@x.cn")
    published = ids("need", "N-001")
    client.post(f"/enterprise/needs/{published}/delete")
    with app.app_context():
        assert db.session.get(Need, published) is not None


def test_dashboard_explains_what_is_missing(app, client, users, login, body):
    login("e2@x.cn")  # E-002 has no total assets, no contact email, no patents
    text = body(client.get("/dashboard?lang=en"))
    assert 'data-missing="patents"' in text and 'data-missing="contact_email"' in text
    assert "IP-pledge loans and many technology products require at least one patent" in text
    assert "Banks&#39; products have revenue thresholds" not in text  # E-002 gave its revenue
    assert 'data-missing="revenue_cny"' not in text


@pytest.mark.parametrize(("count", "shown"), [(None, "—"), (7, "7")])
def test_open_needs_show_the_matching_hooks_count_or_a_dash(
    app, client, users, login, body, monkeypatch, count, shown
):
    from techfin.services import workspace

    with app.app_context():  # N-001 of the sample is funded: an open need of its own
        db.session.add(Need(ref="N-OPEN", enterprise=_enterprise(app), kind="loan",
                            amount_cny=1_000_000, status="published"))  # fmt: skip
        db.session.commit()
    monkeypatch.setattr(workspace, "need_match_count", lambda need: count)
    login("e1@x.cn")
    assert f'class="match-count">{shown}<' in body(client.get("/dashboard"))


def test_recent_activity_shows_own_org_only(app, client, users, login, body):
    login("e1@x.cn")
    client.post("/enterprise/needs/new", data={"kind": "loan", "amount_cny": "10"})
    login("e2@x.cn")
    client.post("/enterprise/needs/new", data={"kind": "equity", "amount_cny": "20"})
    text = body(client.get("/dashboard"))
    assert "e2@x.cn" in text.split('id="activity"')[1]
    assert "e1@x.cn" not in text.split('id="activity"')[1]


def test_sharing_rules_and_the_access_log(app, client, users, login, body, ids, verify_all):
    verify_all()
    bank, vc = ids("funder", "F-001"), ids("funder", "F-002")
    login("e1@x.cn")
    client.post("/enterprise/sharing", data={"funder": str(bank), "financials": "y"})
    with app.app_context():
        rule = db.session.execute(db.select(SharingRule).filter_by(funder_id=bank)).scalar_one()
        assert rule.financials and not rule.patents
    # The bank sees the revenue; the VC (no rule) sees only the basic profile.
    enterprise = ids("enterprise", "E-001")
    login("bank@x.cn")
    text = body(client.get(f"/dealflow/enterprises/{enterprise}"))
    assert "4,200" in text and "一种 LED 调光驱动电路" not in text
    login("vc@x.cn")
    text = body(client.get(f"/dealflow/enterprises/{enterprise}?lang=en"))
    assert "4,200" not in text and "has not shared its financials" in text
    with app.app_context():
        rows = db.session.execute(db.select(DataAccess)).scalars().all()
        assert {(r.funder_id, r.action) for r in rows} == {(bank, "view"), (vc, "view")}
        assert {r.what for r in rows} == {"profile,financials", "profile"}
    login("e1@x.cn")
    text = body(client.get("/enterprise/sharing"))
    log = text.split('id="access-log"')[1]
    assert "中国银行中山分行科技支行" in log and "盈创动力创业投资基金" in log
    # A rule for all verified institutions shares patents, never the confidential one.
    client.post("/enterprise/sharing", data={"funder": "", "patents": "y"})
    login("vc@x.cn")
    text = body(client.get(f"/dealflow/enterprises/{enterprise}"))
    assert "一种 LED 调光驱动电路" in text and "CANARY-7731" not in text
    # Removing the rule takes the patents back.
    login("e1@x.cn")
    with app.app_context():
        general = db.session.execute(
            db.select(SharingRule.id).filter_by(funder_id=None)
        ).scalar_one()
    client.post(f"/enterprise/sharing/{general}/delete")
    login("vc@x.cn")
    assert "一种 LED 调光驱动电路" not in body(client.get(f"/dealflow/enterprises/{enterprise}"))


def test_sharing_names_only_verified_institutions(app, client, users, login, body, ids):
    login("e1@x.cn")
    unverified = ids("funder", "F-002")
    text = body(client.get("/enterprise/sharing"))
    assert "盈创动力创业投资基金" not in text.split('id="access-log"')[0]
    resp = client.post("/enterprise/sharing", data={"funder": str(unverified), "patents": "y"})
    assert resp.status_code == 200 and "is-invalid" in body(resp)
    with app.app_context():
        assert db.session.execute(db.select(SharingRule)).first() is None


@pytest.mark.parametrize(
    "path", ["/enterprise/profile", "/enterprise/needs", "/enterprise/sharing"]
)
def test_institutions_and_operators_have_no_enterprise_workspace(client, users, login, path):
    for email in ("bank@x.cn", "vc@x.cn", "op@x.cn"):
        login(email)
        assert client.get(path).status_code == 403
