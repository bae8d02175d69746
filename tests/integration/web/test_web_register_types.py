"""Registration by type: the institution kind follows "I am", each type's section only,
the operator corrects a kind (audited), and only verified banks are pool partners."""

from __future__ import annotations

import json
import re

import pytest

from techfin.extensions import db
from techfin.models import AuditEntry, Funder, User

PASSWORD = "Lychee-Harbour-47"


def _form(**extra: str) -> dict[str, str]:
    return {"org_name": "深圳前海某创投基金管理有限公司", "name": "王五", "email": "w@vc.cn",
            "password": PASSWORD, "confirm": PASSWORD, **extra}  # fmt: skip


def _registered(app, email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def test_the_page_groups_kinds_by_type_for_the_script(client, body):
    page = body(client.get("/auth/register?lang=zh_CN"))
    assert 'data-for-type="enterprise"' in page and 'data-for-type="bank investor"' in page
    attr = re.search(r'data-kinds="([^"]+)"', page).group(1).replace("&#34;", '"')
    kinds = json.loads(attr.replace("&quot;", '"'))
    assert kinds == {"bank": ["bank", "guarantee", "microloan", "insurer"],
                     "investor": ["vc", "guidance_fund"]}  # fmt: skip
    assert "register.js" in page


def test_an_investor_who_leaves_the_kind_blank_is_a_vc(app, client):
    resp = client.post("/auth/register", data=_form(account_type="investor", funder_kind="",
                                                    industry="Q99x", region="999999"))  # fmt: skip
    assert resp.status_code == 302  # the enterprise fields of an institution are ignored
    with app.app_context():
        user = _registered(app, "w@vc.cn")
        assert user.role == "investor" and user.organization.kind == "vc"


@pytest.mark.parametrize(
    ("lang", "text"), [("zh_CN", "该机构类型与所选身份不符"), ("en", "belongs to the other")]
)
def test_an_investor_cannot_register_as_a_bank_kind(app, client, body, invalid, lang, text):
    client.get(f"/auth/register?lang={lang}")
    page = body(client.post("/auth/register", data=_form(account_type="investor",
                                                         funder_kind="bank")))  # fmt: skip
    assert text in page and invalid(page, "funder_kind")
    with app.app_context():
        assert db.session.execute(db.select(User).filter_by(email="w@vc.cn")).first() is None


def test_an_enterprise_ignores_the_institution_kind(app, client):
    resp = client.post("/auth/register", data=_form(account_type="enterprise", funder_kind="vc",
                                                    industry="C38", region="442000",
                                                    org_name="中山市某照明有限公司"))  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        assert _registered(app, "w@vc.cn").organization.type == "enterprise"


def test_the_operator_corrects_the_kind_and_the_staff_role(app, client, users, login, body):
    client.post("/auth/register", data=_form(account_type="bank", funder_kind="bank"))
    with app.app_context():
        funder_id = _registered(app, "w@vc.cn").organization.id
    login("op@x.cn")
    page = body(client.get("/operator/institutions?status=pending&lang=zh_CN"))
    assert f"/operator/institutions/{funder_id}/kind" in page
    resp = client.post(f"/operator/institutions/{funder_id}/kind",
                       data={"kind": "vc", "status": "pending"})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        funder = db.session.get(Funder, funder_id)
        assert funder.kind == "vc" and _registered(app, "w@vc.cn").role == "investor"
        change = db.session.execute(db.select(AuditEntry).filter_by(
            action="type_change", object_id=funder_id)).scalar_one()  # fmt: skip
        assert change.detail == {"from": "bank", "to": "vc"}
    log = body(client.get("/operator/audit?lang=zh_CN"))
    assert "机构类型已更正" in log and "创业投资机构" in log
    bad = client.post(f"/operator/institutions/{funder_id}/kind", data={"kind": "bogus"},
                      follow_redirects=True)  # fmt: skip
    assert "请选择机构类型" in bad.get_data(as_text=True)


def test_only_verified_banks_are_pool_partners(app, client, users, login, body):
    client.post("/auth/register", data=_form(account_type="bank", funder_kind="bank",
                                             org_name="被驳回的某某银行"))  # fmt: skip
    with app.app_context():
        funder = _registered(app, "w@vc.cn").organization
        funder.status = "rejected"
        db.session.commit()
        rejected_id = funder.id
    login("op@x.cn")
    page = body(client.get("/operations/pools/new"))
    assert "被驳回的某某银行" not in page
    assert "中国银行中山分行科技支行" in page  # F-001: a verified bank
    from techfin.services import pool

    with app.app_context():
        assert rejected_id not in dict(pool.bank_choices())
