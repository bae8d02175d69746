"""The list contract: envelope, pagination, `ref` lookup and filters; items in interchange names."""

from __future__ import annotations

import pytest

from techfin.services.records import SCHEMAS

RESOURCES = {
    "enterprises": "enterprise",
    "patents": "patent",
    "needs": "need",
    "funders": "funder",
    "products": "product",
    "outcomes": "outcome",
}


@pytest.mark.parametrize("resource", RESOURCES)
def test_list_envelope_and_items(api, resource):
    resp = api.get(f"/api/v1/{resource}", "operator")
    assert resp.status_code == 200 and resp.is_json
    body = resp.json
    assert set(body) == {"items", "page", "per_page", "total"}
    assert body["page"] == 1 and body["per_page"] == 20 and body["total"] == len(body["items"]) > 0
    interchange = set(SCHEMAS[RESOURCES[resource]]._declared_fields)
    for item in body["items"]:
        assert isinstance(item["id"], int) and isinstance(item["ref"], str)
        assert interchange <= set(item), interchange - set(item)


def test_money_is_integer_yuan_and_dates_iso(api):
    need = api.get("/api/v1/needs?ref=N-001", "operator").json["items"][0]
    assert need["amount_cny"] == 5_000_000 and need["created"] == "2026-09-01"
    funded = api.get("/api/v1/outcomes?stage=funded", "operator").json["items"][0]
    assert funded["amount_cny"] == 5_000_000 and funded["rate"] == 4.35
    assert funded["issued"] == "2026-10-10" and funded["matures"] == "2027-10-09"
    assert funded["ref"] == "N-001/P-001/funded/2026-10-10"


def test_pagination(api):
    first = api.get("/api/v1/needs?per_page=1", "operator").json
    second = api.get("/api/v1/needs?per_page=1&page=2", "operator").json
    beyond = api.get("/api/v1/needs?per_page=1&page=3", "operator").json
    assert (first["total"], second["total"], beyond["total"]) == (2, 2, 2)
    assert len(first["items"]) == len(second["items"]) == 1 and beyond["items"] == []
    assert first["items"][0]["ref"] != second["items"][0]["ref"]
    assert (second["page"], second["per_page"]) == (2, 1)


@pytest.mark.parametrize(
    "query, field",
    [
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=abc", "per_page"),
        ("page=0", "page"),
        ("page=99999999999999999999", "page"),
        ("ref=" + "x" * 65, "ref"),
        ("ref=%00", "ref"),
        ("kind=gift", "kind"),
        ("status=gone", "status"),
        ("industry=%25", "industry"),
        ("region=44%25", "region"),
    ],
)
def test_bad_query_is_422(api, query, field):
    resp = api.get(f"/api/v1/needs?{query}", "operator")
    assert resp.status_code == 422, resp.json
    assert field in resp.json["error"]["fields"]


@pytest.mark.parametrize(
    "resource, ref",
    [
        ("enterprises", "E-002"),
        ("patents", "PT-001"),
        ("needs", "N-001"),
        ("funders", "F-001"),
        ("products", "P-002"),
        ("outcomes", "N-001/P-001/contacted/2026-09-05"),
    ],
)
def test_ref_lookup(api, resource, ref):
    body = api.get(f"/api/v1/{resource}", "operator", query_string={"ref": ref}).json
    assert [item["ref"] for item in body["items"]] == [ref] and body["total"] == 1
    missing = api.get(f"/api/v1/{resource}", "operator", query_string={"ref": "NOPE-1"}).json
    assert missing == {"items": [], "page": 1, "per_page": 20, "total": 0}


@pytest.mark.parametrize(
    "path, refs",
    [
        ("/api/v1/needs?kind=equity", {"N-002"}),
        ("/api/v1/needs?status=published", {"N-001"}),
        ("/api/v1/needs?enterprise_ref=E-001", {"N-001"}),
        ("/api/v1/needs?industry=I", {"N-002"}),
        ("/api/v1/needs?region=44", {"N-001"}),
        ("/api/v1/enterprises?industry=C3", {"E-001"}),
        ("/api/v1/enterprises?region=5101", {"E-002"}),
        ("/api/v1/enterprises?high_tech=true", {"E-001"}),
        ("/api/v1/enterprises?stage=startup", {"E-002"}),
        ("/api/v1/patents?kind=invention", {"PT-001"}),
        ("/api/v1/patents?enterprise_ref=E-002", set()),
        ("/api/v1/funders?kind=vc", {"F-002"}),
        ("/api/v1/products?funder_ref=F-001", {"P-001"}),
        ("/api/v1/products?kind=equity&status=active", {"P-002"}),
        ("/api/v1/outcomes?stage=funded", {"N-001/P-001/funded/2026-10-10"}),
        ("/api/v1/outcomes?funder_ref=F-002", set()),
        ("/api/v1/outcomes?enterprise_ref=E-001&product_ref=P-001&need_ref=N-001", None),
    ],
)
def test_filters(api, path, refs):
    resp = api.get(path, "operator")
    assert resp.status_code == 200, resp.json
    found = {item["ref"] for item in resp.json["items"]}
    if refs is None:
        assert len(found) == 2
    else:
        assert found == refs
