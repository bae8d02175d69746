"""Search, matches and digest settings through the API (contract of interchange.md)."""

from __future__ import annotations

import pytest


@pytest.fixture
def indexed(app, tokens):
    from techfin.services import search_sync

    with app.app_context():
        search_sync.reindex()
    return tokens


def test_search_contract_and_access(api, indexed):
    body = api.get("/api/v1/search?q=照明", "operator").json
    assert set(body) >= {"items", "facets", "total"}
    refs = {i["ref"] for i in body["items"]}
    assert "E-001" in refs
    assert all(set(i) >= {"type", "id", "ref", "title", "highlight"} for i in body["items"])
    other = api.get("/api/v1/search?q=生产线", "enterprise2").json
    assert other["items"] == [] and other["total"] == 0
    canary = api.get("/api/v1/search?q=CANARY-7731", "verified_institution").get_data(as_text=True)
    assert "CANARY" not in canary.split('"suggestion"')[0]


def test_search_needs_a_token_and_rejects_bad_paging(api, indexed):
    assert api.get("/api/v1/search?q=x").status_code == 401
    resp = api.get("/api/v1/search?q=x&page=0", "operator")
    assert resp.status_code == 422 and "page" in resp.json["error"]["fields"]


def test_need_matches_contract(api, lookup):
    need_id = lookup("need", "N-001")
    resp = api.get(f"/api/v1/needs/{need_id}/matches?limit=5", "enterprise")
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["model"]["kind"] in ("learned", "prior")
    for entry in body["matches"]:
        assert 0 <= entry["score"] <= 1
        assert "product" in entry or "funder" in entry
        if "product" in entry:
            assert {"id", "ref", "name", "funder"} <= set(entry["product"])
        assert isinstance(entry["reasons"], list) and len(entry["reasons"]) <= 3
        assert entry["missing"] == [] or entry["eligible"] is False
    assert any(e.get("product", {}).get("ref") == "P-001" for e in body["matches"])
    assert api.get(f"/api/v1/needs/{need_id}/matches", "enterprise2").status_code == 404
    assert api.get(f"/api/v1/needs/{need_id}/matches?limit=0", "enterprise").status_code == 422


def test_product_matches_only_for_its_institution(api, lookup):
    product_id = lookup("product", "P-001")
    body = api.get(f"/api/v1/products/{product_id}/matches", "verified_institution").json
    assert [m["need"]["ref"] for m in body["matches"]][:1] == ["N-001"]
    assert api.get(f"/api/v1/products/{product_id}/matches", "enterprise").status_code == 403


def test_digest_settings_round_trip(api, tokens):
    assert api.get("/api/v1/me/digest", "enterprise").json["period"] == "weekly"
    resp = api("PUT", "/api/v1/me/digest", "enterprise", json={"period": "daily", "min_score": 0.4})
    assert resp.status_code == 200 and resp.json["period"] == "daily"
    bad = api("PUT", "/api/v1/me/digest", "enterprise", json={"period": "hourly", "min_score": 3})
    assert bad.status_code == 422 and {"period", "min_score"} <= set(bad.json["error"]["fields"])


def test_digest_scope_is_limited_to_the_callers_own_needs(api, tokens, lookup):
    own, other = lookup("need", "N-001"), lookup("need", "N-002")  # E-001's; E-002's draft
    resp = api("PUT", "/api/v1/me/digest", "enterprise", json={"scope_ids": [own, own]})
    assert resp.status_code == 200 and resp.json["scope_ids"] == [own]
    for wrong in ([other], [own, 99999]):
        bad = api("PUT", "/api/v1/me/digest", "enterprise", json={"scope_ids": wrong})
        assert bad.status_code == 422 and "scope_ids" in bad.json["error"]["fields"]
        assert "部分邮件摘要设置无效" in bad.json["error"]["message"]  # both languages
    assert api.get("/api/v1/me/digest", "enterprise").json["scope_ids"] == [own]
