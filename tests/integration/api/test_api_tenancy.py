"""Who sees what through the API: tenants, verification, sharing, the confidential canary."""

from __future__ import annotations

import json

import pytest

from techfin.extensions import db
from techfin.models import AuditEntry, DataAccess, Enterprise, Funder, Patent, SharingRule

CANARY = "CANARY-7731"  # in the title of PT-002, E-001's confidential patent (sample.jsonl)


def _refs(api, path: str, role: str) -> set[str]:  # noqa: ANN001
    resp = api.get(path, role)
    assert resp.status_code == 200, resp.json
    return {item["ref"] for item in resp.json["items"]}


def _share(app, enterprise_ref: str, **flags: bool) -> None:  # noqa: ANN001
    with app.app_context():
        ent = db.session.execute(db.select(Enterprise).filter_by(ref=enterprise_ref)).scalar_one()
        db.session.add(SharingRule(enterprise_id=ent.id, funder_id=None, **flags))
        db.session.commit()


# ------------------------------------------------------------------ enterprises between them


def test_enterprise_lists_hold_only_its_own_rows(api):
    assert _refs(api, "/api/v1/needs", "enterprise") == {"N-001"}
    assert _refs(api, "/api/v1/needs", "enterprise2") == {"N-002"}
    assert _refs(api, "/api/v1/patents", "enterprise") == {"PT-001", "PT-002"}
    assert _refs(api, "/api/v1/patents", "enterprise2") == set()
    assert _refs(api, "/api/v1/enterprises", "enterprise2") == {"E-002"}
    assert _refs(api, "/api/v1/outcomes", "enterprise2") == set()
    # Even when asked by ref or by owner.
    assert _refs(api, "/api/v1/needs?ref=N-001", "enterprise2") == set()
    assert _refs(api, "/api/v1/patents?enterprise_ref=E-001", "enterprise2") == set()


@pytest.mark.parametrize(
    "kind, ref, path",
    [
        ("need", "N-002", "/api/v1/needs/{}"),  # E-002's draft
        ("enterprise", "E-002", "/api/v1/enterprises/{}"),
    ],
)
def test_enterprise_a_gets_404_for_b(api, lookup, kind, ref, path):
    url = path.format(lookup(kind, ref))
    for method, body in (("GET", None), ("PATCH", {"purpose": "x"}), ("DELETE", None)):
        resp = api(method, url, "enterprise", json=body)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("ref", ["PT-001", "PT-002"])
def test_other_enterprise_gets_404_for_patents(app, api, lookup, ref):
    url = f"/api/v1/patents/{lookup('patent', ref)}"
    for method in ("GET", "PATCH", "DELETE"):
        resp = api(method, url, "enterprise2", json={} if method == "PATCH" else None)
        assert resp.status_code == 404
    with app.app_context():  # the hidden row is audited as a denial
        entries = db.session.execute(
            db.select(AuditEntry).filter_by(action="denied", object_ref=ref)
        ).scalars()
        assert {e.actor for e in entries} == {"e2@x.cn"}


def test_404_for_hidden_and_missing_look_the_same(api, lookup):
    hidden = api.get(f"/api/v1/needs/{lookup('need', 'N-002')}", "enterprise")
    missing = api.get("/api/v1/needs/999999", "enterprise")
    huge = api.get("/api/v1/needs/99999999999999999999999", "enterprise")
    assert hidden.status_code == missing.status_code == huge.status_code == 404
    assert hidden.json == missing.json == huge.json


def test_403_is_audited(app, api, lookup):
    resp = api("PATCH", f"/api/v1/needs/{lookup('need', 'N-001')}", "verified_institution", json={})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"
    with app.app_context():
        entry = db.session.execute(db.select(AuditEntry).filter_by(action="denied")).scalar_one()
        assert entry.actor == "bank@x.cn" and entry.detail["method"] == "PATCH"


# ------------------------------------------------------------------ institutions


def test_unverified_institution_sees_no_enterprise_data(api, lookup):
    for resource in ("needs", "enterprises", "patents", "outcomes"):
        assert _refs(api, f"/api/v1/{resource}", "unverified_institution") == set()
    assert (
        api.get(f"/api/v1/needs/{lookup('need', 'N-001')}", "unverified_institution").status_code
        == 404
    )
    url = f"/api/v1/enterprises/{lookup('enterprise', 'E-001')}"
    assert api.get(url, "unverified_institution").status_code == 404
    # The marketplace side stays visible: verified funders and their active products, plus its own.
    assert _refs(api, "/api/v1/funders", "unverified_institution") == {"F-001", "F-002"}
    assert _refs(api, "/api/v1/products", "unverified_institution") == {"P-001", "P-002"}


def test_verified_institution_sees_published_needs_only(api, lookup):
    assert _refs(api, "/api/v1/needs", "verified_institution") == {"N-001"}
    assert _refs(api, "/api/v1/needs?status=draft", "verified_institution") == set()
    assert (
        api.get(f"/api/v1/needs/{lookup('need', 'N-002')}", "verified_institution").status_code
        == 404
    )
    assert _refs(api, "/api/v1/enterprises", "verified_institution") == {"E-001"}
    assert _refs(api, "/api/v1/patents", "verified_institution") == set()  # nothing shared yet
    assert _refs(api, "/api/v1/outcomes", "verified_institution") == {
        "N-001/P-001/contacted/2026-09-05",
        "N-001/P-001/funded/2026-10-10",
    }
    # The unverified VC's product is not on the market; its own institution is hidden too.
    assert _refs(api, "/api/v1/products", "verified_institution") == {"P-001"}
    assert _refs(api, "/api/v1/funders", "verified_institution") == {"F-001"}


def test_shared_patents_never_include_confidential(app, api, lookup):
    _share(app, "E-001", patents=True)
    assert _refs(api, "/api/v1/patents", "verified_institution") == {"PT-001"}
    assert (
        api.get(f"/api/v1/patents/{lookup('patent', 'PT-002')}", "verified_institution").status_code
        == 404
    )


def test_financials_only_when_shared_and_access_is_logged(app, api, lookup):
    url = f"/api/v1/enterprises/{lookup('enterprise', 'E-001')}"
    hidden = api.get(url, "verified_institution").json
    assert hidden["name"] == "中山市明辉照明科技有限公司"
    assert not {"employees", "revenue_cny", "total_assets_cny"} & set(hidden)
    listed = api.get("/api/v1/enterprises", "verified_institution").json["items"][0]
    assert "revenue_cny" not in listed

    _share(app, "E-001", financials=True)
    shown = api.get(url, "verified_institution").json
    assert (shown["employees"], shown["revenue_cny"], shown["total_assets_cny"]) == (
        86,
        42_000_000,
        30_000_000,
    )
    own = api.get(url, "enterprise").json
    assert own["revenue_cny"] == 42_000_000
    with app.app_context():
        rows = db.session.execute(db.select(DataAccess).order_by(DataAccess.id)).scalars().all()
        funder = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        assert [(r.action, r.what, r.funder_id) for r in rows] == [
            ("api", "profile", funder.id),
            ("api_list", "profile", funder.id),  # a list is a read too
            ("api", "financials", funder.id),
        ]  # the enterprise looking at itself is not logged


# ------------------------------------------------------------------ the confidential canary


def _every_get_url(app, lookup) -> list[str]:  # noqa: ANN001
    """Every GET route under /api/v1 (including ones added later, e.g. search), each id filled."""
    with app.app_context():
        ids = {
            "enterprise_id": db.session.scalars(db.select(Enterprise.id)).all(),
            "patent_id": db.session.scalars(db.select(Patent.id)).all(),
        }
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or "GET" not in rule.methods:
            continue
        if not rule.arguments:
            urls.append(rule.rule)
            continue
        for arg in rule.arguments:
            values = ids.get(arg) or range(1, 8)
            urls += [rule.rule.replace(f"<int:{arg}>", str(v)) for v in values]
    return urls


@pytest.mark.parametrize("role", ["enterprise2", "verified_institution", "unverified_institution"])
def test_confidential_patent_never_reaches_another_organisation(app, api, lookup, role):
    _share(app, "E-001", patents=True, financials=True)  # even with everything shared
    leaks = []
    for url in _every_get_url(app, lookup):
        for query in ({}, {"q": CANARY}, {"ref": "PT-002"}, {"q": "机密配方"}):
            resp = api.get(url, role, query_string=query)
            text = resp.get_data(as_text=True)
            if CANARY in text or CANARY in json.dumps(resp.json, ensure_ascii=False):
                leaks.append((url, query))
    assert leaks == []


def test_canary_is_visible_to_its_own_enterprise(api, lookup):
    # The positive control: the test above would notice the title if it were there.
    resp = api.get(f"/api/v1/patents/{lookup('patent', 'PT-002')}", "enterprise")
    assert resp.json["title"] == "机密配方 " + CANARY and resp.json["confidential"] is True
