"""Software copyrights and trademarks through /api/v1 (issue #15): CRUD by the owner,
validation in both languages, confidentiality and sharing, products' accepted_ip."""

from __future__ import annotations


def _share_patents(app, lookup) -> None:
    from techfin.extensions import db
    from techfin.models import Enterprise, User
    from techfin.services import catalog

    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="e1@x.cn")).scalar_one()
        enterprise = db.session.get(Enterprise, lookup("enterprise", "E-001"))
        catalog.set_sharing(user, enterprise, lookup("funder", "F-001"),
                            financials=False, patents=True)  # fmt: skip


def test_copyright_crud_and_validation(api, app, lookup):
    body = {"number": "2021sr0123456", "title": "灯控软件 V1.0", "status": "registered",
            "registered": "2021-03-02", "valuation_cny": 800000}  # fmt: skip
    created = api("POST", "/api/v1/copyrights", "enterprise", json=body)
    assert created.status_code == 201, created.json
    item = created.json
    assert item["number"] == "2021SR0123456" and item["enterprise_ref"] == "E-001"
    assert item["ref"].startswith("CR-")
    # One registration once per enterprise.
    again = api("POST", "/api/v1/copyrights", "enterprise", json=body)
    assert again.status_code == 409 and "number" in again.json["error"]["fields"]
    bad = api("POST", "/api/v1/copyrights", "enterprise",
              json={**body, "number": "ABC", "status": "granted"})  # fmt: skip
    assert bad.status_code == 422
    fields = bad.json["error"]["fields"]
    assert "软件著作权登记号" in fields["number"][0] and "status" in fields
    url = f"/api/v1/copyrights/{item['id']}"
    patched = api("PATCH", url, "enterprise", json={"confidential": True})
    assert patched.status_code == 200 and patched.json["confidential"] is True
    listed = api.get("/api/v1/copyrights?enterprise_ref=E-001", "enterprise").json
    assert [c["ref"] for c in listed["items"]] == [item["ref"]]
    # Another enterprise neither sees nor changes it.
    assert api.get(url, "enterprise2").status_code == 404
    assert api("PATCH", url, "enterprise2", json={"title": "x"}).status_code == 404
    assert api("DELETE", url, "enterprise").status_code == 204
    assert api.get(url, "enterprise").status_code == 404


def test_trademarks_follow_the_sharing_rules(api, app, lookup):
    base = {"name": "明辉", "nice_class": 11, "status": "registered"}
    open_tm = api("POST", "/api/v1/trademarks", "enterprise",
                  json={**base, "number": "30123456"}).json  # fmt: skip
    secret = api("POST", "/api/v1/trademarks", "enterprise",
                 json={**base, "number": "30123457", "confidential": True}).json  # fmt: skip
    bad = api("POST", "/api/v1/trademarks", "enterprise",
              json={**base, "number": "30-1", "nice_class": 46})  # fmt: skip
    assert bad.status_code == 422 and {"number", "nice_class"} <= set(bad.json["error"]["fields"])
    assert api.get("/api/v1/trademarks", "verified_institution").json["items"] == []
    _share_patents(app, lookup)
    seen = api.get("/api/v1/trademarks", "verified_institution").json["items"]
    assert [t["ref"] for t in seen] == [open_tm["ref"]]
    assert api.get(f"/api/v1/trademarks/{secret['id']}", "verified_institution").status_code == 404
    # Seeing is not changing.
    url = f"/api/v1/trademarks/{open_tm['id']}"
    assert api("PATCH", url, "verified_institution", json={"name": "x"}).status_code == 403
    assert api.get("/api/v1/trademarks", "unverified_institution").json["items"] == []
    # Operators add for a named enterprise.
    made = api("POST", "/api/v1/trademarks", "operator",
               json={**base, "number": "40000001", "enterprise_ref": "E-002"})  # fmt: skip
    assert made.status_code == 201 and made.json["enterprise_ref"] == "E-002"


def test_products_say_which_ip_they_accept(api):
    body = {"name": "软著质押贷", "kind": "ip_pledge", "requires_patent": True,
            "accepted_ip": ["software_copyright", "trademark"], "min_ip_count": 2}  # fmt: skip
    created = api("POST", "/api/v1/products", "verified_institution", json=body)
    assert created.status_code == 201, created.json
    assert created.json["accepted_ip"] == ["software_copyright", "trademark"]
    assert created.json["min_ip_count"] == 2
    bad = api("POST", "/api/v1/products", "verified_institution",
              json={**body, "accepted_ip": ["know_how"], "min_ip_count": 0})  # fmt: skip
    assert bad.status_code == 422
    assert {"accepted_ip.0", "min_ip_count"} <= set(bad.json["error"]["fields"])
    default = api(
        "POST",
        "/api/v1/products",
        "verified_institution",
        json={"name": "专利贷", "kind": "ip_pledge", "requires_patent": True},
    )
    assert default.json["accepted_ip"] == [] and default.json["min_ip_count"] == 1
