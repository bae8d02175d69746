"""Create, read, update and delete through the API, for each role where the role may."""

from __future__ import annotations

from techfin.extensions import db
from techfin.models import AuditEntry, DataAccess, Need

PATENT = {
    "number": "CN202110123456.7",
    "title": "一种低功耗 LED 驱动",
    "kind": "invention",
    "status": "pending",
    "filed": "2021-02-03",
}


def _audited(app, action: str, object_type: str, actor: str) -> bool:  # noqa: ANN001
    with app.app_context():
        return bool(
            db.session.scalar(
                db.select(AuditEntry.id).filter_by(
                    action=action, object_type=object_type, actor=actor
                )
            )
        )


def test_enterprise_patent_lifecycle(app, api):
    created = api("POST", "/api/v1/patents", "enterprise", json=PATENT)
    assert created.status_code == 201, created.json
    patent = created.json
    assert patent["enterprise_ref"] == "E-001" and patent["ref"].startswith("PT-")
    assert patent["number"] == "202110123456.7" and patent["filed"] == "2021-02-03"
    url = f"/api/v1/patents/{patent['id']}"
    assert api.get(url, "enterprise").json == patent
    changed = api("PATCH", url, "enterprise", json={"status": "granted", "granted": "2023-01-01"})
    assert changed.status_code == 200
    assert (changed.json["status"], changed.json["granted"]) == ("granted", "2023-01-01")
    assert changed.json["title"] == PATENT["title"]  # partial: the rest stays
    deleted = api("DELETE", url, "enterprise")
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert api.get(url, "enterprise").status_code == 404
    assert _audited(app, "create", "patent", "e1@x.cn") and _audited(
        app, "delete", "patent", "e1@x.cn"
    )


def test_enterprise_need_lifecycle(app, api):
    created = api("POST", "/api/v1/needs", "enterprise",
                  json={"kind": "loan", "amount_cny": 3_000_000, "term_months": 24,
                        "purpose": "研发投入", "ref": "N-API-1"})  # fmt: skip
    assert created.status_code == 201, created.json
    need = created.json
    assert (need["ref"], need["status"], need["enterprise_ref"]) == ("N-API-1", "draft", "E-001")
    url = f"/api/v1/needs/{need['id']}"
    # A draft is invisible to institutions until published.
    assert api.get(url, "verified_institution").status_code == 404
    assert api("PATCH", url, "enterprise", json={"status": "published"}).status_code == 200
    assert api.get(url, "verified_institution").status_code == 200
    refused = api("PATCH", url, "enterprise", json={"status": "closed"})
    assert refused.status_code == 422 and "closed_reason" in refused.json["error"]["fields"]
    closed = api("PATCH", url, "enterprise", json={"status": "closed", "closed_reason": "已获融资"})
    assert closed.status_code == 200 and closed.json["closed_reason"] == "已获融资"
    assert api("PATCH", url, "enterprise", json={"purpose": "x"}).status_code == 409
    # Institutions may have read it: closed, never deleted (only a draft is, as on the pages).
    assert api("DELETE", url, "enterprise").status_code == 409
    draft = api("POST", "/api/v1/needs", "enterprise",
                json={"kind": "loan", "amount_cny": 1_000_000, "ref": "N-API-2"})  # fmt: skip
    assert api("DELETE", f"/api/v1/needs/{draft.json['id']}", "enterprise").status_code == 204
    assert _audited(app, "update", "need", "e1@x.cn")


def test_enterprise_edits_its_own_profile_only(api, lookup):
    own = f"/api/v1/enterprises/{lookup('enterprise', 'E-001')}"
    resp = api("PATCH", own, "enterprise", json={"description": "新的简介", "employees": 90})
    assert resp.status_code == 200
    assert (resp.json["description"], resp.json["employees"]) == ("新的简介", 90)
    assert resp.json["name"] == "中山市明辉照明科技有限公司"
    other = f"/api/v1/enterprises/{lookup('enterprise', 'E-002')}"
    assert api("PATCH", other, "enterprise", json={"description": "x"}).status_code == 404
    assert api("POST", "/api/v1/enterprises", "enterprise", json={}).status_code == 403


def test_enterprise_cannot_post_for_another_enterprise(app, api):
    resp = api("POST", "/api/v1/needs", "enterprise",
               json={"kind": "loan", "amount_cny": 1000, "enterprise_ref": "E-002"})  # fmt: skip
    assert resp.status_code == 422 and "enterprise_ref" in resp.json["error"]["fields"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Need)) == 2


def test_enterprise_expresses_interest_but_cannot_fund(api):
    # a fresh need: the sample's N-001 × P-001 deal has ended (funded)
    need = api("POST", "/api/v1/needs", "enterprise", json={
        "kind": "ip_pledge", "amount_cny": 2_000_000, "ref": "N-API-3", "status": "published"})  # fmt: skip
    assert need.status_code == 201, need.json
    body = {"need_ref": "N-API-3", "product_ref": "P-001", "date": "2026-11-01"}
    ok = api("POST", "/api/v1/outcomes", "enterprise", json=body | {"stage": "contacted"})
    assert ok.status_code == 201 and ok.json["ref"] == "N-API-3/P-001/contacted/2026-11-01"
    assert (
        api(
            "POST", "/api/v1/outcomes", "enterprise", json=body | {"stage": "contacted"}
        ).status_code
        == 409
    )
    assert (
        api("POST", "/api/v1/outcomes", "enterprise", json=body | {"stage": "funded"}).status_code
        == 403
    )
    assert (
        api(
            "PATCH", f"/api/v1/outcomes/{ok.json['id']}", "enterprise", json={"note": "x"}
        ).status_code
        == 403
    )


def test_institution_product_lifecycle(app, api):
    body = {"name": "科技成长贷", "kind": "loan", "min_amount_cny": 500_000,
            "max_amount_cny": 5_000_000, "rate_min": 3.6, "rate_max": 4.8,
            "regions": ["4420"], "industries": ["C", "I65"], "stages": ["growth"]}  # fmt: skip
    created = api("POST", "/api/v1/products", "verified_institution", json=body)
    assert created.status_code == 201, created.json
    product = created.json
    assert product["funder_ref"] == "F-001" and product["status"] == "active"
    url = f"/api/v1/products/{product['id']}"
    # Everyone logged in sees an active product of a verified institution.
    assert api.get(url, "enterprise").status_code == 200
    changed = api("PATCH", url, "verified_institution", json={"status": "paused"})
    assert changed.status_code == 200 and changed.json["max_amount_cny"] == 5_000_000
    assert api.get(url, "enterprise").status_code == 404  # paused: off the market
    assert api("PATCH", url, "operator", json={"description": "运营修改"}).status_code == 200
    assert api("DELETE", url, "verified_institution").status_code == 204
    assert _audited(app, "create", "product", "bank@x.cn")


def test_institution_cannot_post_for_another_funder(api):
    resp = api("POST", "/api/v1/products", "verified_institution",
               json={"name": "x", "kind": "loan", "funder_ref": "F-002"})  # fmt: skip
    assert resp.status_code == 422 and "funder_ref" in resp.json["error"]["fields"]
    # The unverified institution may prepare products; they stay off the market.
    own = api(
        "POST",
        "/api/v1/products",
        "unverified_institution",
        json={"name": "天使投资", "kind": "equity"},
    )
    assert own.status_code == 201 and own.json["funder_ref"] == "F-002"
    assert api.get(f"/api/v1/products/{own.json['id']}", "enterprise").status_code == 404


def test_institution_moves_the_pipeline_and_edits_its_profile(api, lookup):
    pair = {"need_ref": "N-001", "product_ref": "P-001"}
    # The sample deal was funded on 2026-10-10: ended until an operator reopens it.
    refused = api("POST", "/api/v1/outcomes", "verified_institution",
                  json=pair | {"stage": "meeting", "date": "2026-10-20"})  # fmt: skip
    assert refused.status_code == 409 and "stage" in refused.json["error"]["fields"]
    reopened = api("POST", "/api/v1/outcomes/reopen", "operator",
                   json=pair | {"reason": "放款撤销"})  # fmt: skip
    assert reopened.status_code == 200 and reopened.json["reopened_at"]
    backdated = api("POST", "/api/v1/outcomes", "verified_institution",
                    json=pair | {"stage": "meeting", "date": "2026-09-20"})  # fmt: skip
    assert backdated.status_code == 409 and "date" in backdated.json["error"]["fields"]
    step = api("POST", "/api/v1/outcomes", "verified_institution",
               json=pair | {"stage": "meeting", "date": "2026-10-20", "note": "银企对接会"})  # fmt: skip
    assert step.status_code == 201, step.json
    url = f"/api/v1/outcomes/{step.json['id']}"
    fixed = api("PATCH", url, "verified_institution", json={"note": "路演后面谈"})
    assert fixed.status_code == 200 and fixed.json["note"] == "路演后面谈"
    assert api("DELETE", url, "verified_institution").status_code == 403
    funder = f"/api/v1/funders/{lookup('funder', 'F-001')}"
    profile = api(
        "PATCH", funder, "verified_institution", json={"description": "科技支行 · 知识产权质押"}
    )
    assert profile.status_code == 200 and profile.json["verified"] is True
    verify = api("PATCH", f"/api/v1/funders/{lookup('funder', 'F-002')}", "unverified_institution",
                 json={"verified": True})  # fmt: skip
    assert verify.status_code == 422 and "verified" in verify.json["error"]["fields"]


def test_operator_manages_everything(app, api, lookup):
    ent = api("POST", "/api/v1/enterprises", "operator",
              json={"name": "中山市新锐传感科技有限公司", "industry": "C39", "region": "442000",
                    "employees": 12, "revenue_cny": 3_000_000, "stage": "startup"})  # fmt: skip
    assert ent.status_code == 201, ent.json
    assert ent.json["ref"].startswith("E-") and ent.json["revenue_cny"] == 3_000_000
    need = api("POST", "/api/v1/needs", "operator",
               json={"enterprise_ref": ent.json["ref"], "kind": "loan", "amount_cny": 800_000,
                     "status": "published"})  # fmt: skip
    assert need.status_code == 201 and need.json["enterprise_ref"] == ent.json["ref"]
    patent = api("POST", "/api/v1/patents", "operator", json=PATENT | {"enterprise_ref": "E-002"})
    assert patent.status_code == 201 and patent.json["enterprise_ref"] == "E-002"
    missing_owner = api("POST", "/api/v1/patents", "operator", json=PATENT)
    assert (
        missing_owner.status_code == 422
        and "enterprise_ref" in missing_owner.json["error"]["fields"]
    )

    funder = api("POST", "/api/v1/funders", "operator",
                 json={"name": "中山市融资担保有限公司", "kind": "guarantee", "regions": ["4420"]})  # fmt: skip
    assert funder.status_code == 201 and funder.json["verified"] is True
    product = api("POST", "/api/v1/products", "operator",
                  json={"funder_ref": funder.json["ref"], "name": "科技担保", "kind": "guarantee"})  # fmt: skip
    assert product.status_code == 201

    e2 = f"/api/v1/enterprises/{lookup('enterprise', 'E-002')}"
    assert api("PATCH", e2, "operator", json={"high_tech": True}).json["high_tech"] is True
    funded = f"/api/v1/outcomes/{lookup('outcome', 'N-001/P-001/funded/2026-10-10')}"
    assert api("PATCH", funded, "operator", json={"rate": 4.2}).json["rate"] == 4.2
    assert api("DELETE", funded, "operator").status_code == 204

    assert api("DELETE", f"/api/v1/products/{product.json['id']}", "operator").status_code == 204
    assert api("DELETE", f"/api/v1/funders/{funder.json['id']}", "operator").status_code == 204
    assert api("DELETE", f"/api/v1/enterprises/{ent.json['id']}", "operator").status_code == 204
    in_use = api("DELETE", f"/api/v1/enterprises/{lookup('enterprise', 'E-001')}", "operator")
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "conflict"
    # Operators are not institutions: reading an enterprise logs no data access.
    api.get(e2, "operator")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(DataAccess)) == 0


def test_duplicates_conflict(api):
    dup_ref = api(
        "POST",
        "/api/v1/needs",
        "enterprise",
        json={"ref": "N-001", "kind": "loan", "amount_cny": 1},
    )
    assert dup_ref.status_code == 409 and "ref" in dup_ref.json["error"]["fields"]
    dup_uscc = api("POST", "/api/v1/enterprises", "operator",
                   json={"name": "重复企业", "industry": "C38", "region": "442000",
                         "uscc": "91442000MA4UH1234Y"})  # fmt: skip
    assert dup_uscc.status_code == 409 and "uscc" in dup_uscc.json["error"]["fields"]


def test_markup_is_stored_as_text_and_returned_escaped(api):
    script = '<script>alert("x")</script> & <b>粗体</b>'
    created = api("POST", "/api/v1/needs", "enterprise",
                  json={"kind": "loan", "amount_cny": 1000, "purpose": script})  # fmt: skip
    assert created.status_code == 201
    resp = api.get(f"/api/v1/needs/{created.json['id']}", "enterprise")
    assert resp.json["purpose"] == script
    raw = resp.get_data(as_text=True)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    assert resp.mimetype == "application/json"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
