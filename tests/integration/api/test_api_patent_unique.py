"""The API refuses a patent number an enterprise already has, as the pages do."""

from __future__ import annotations


def test_duplicate_number_is_a_409_at_the_number(api):
    body = {"number": "201710601862.3", "title": "重复", "kind": "invention",
            "status": "pending"}  # fmt: skip
    resp = api("POST", "/api/v1/patents", "enterprise", json=body)
    assert resp.status_code == 409, resp.json
    assert resp.json["error"]["fields"]["number"] == [
        "This enterprise already has this patent / 本企业已登记该专利"
    ]


def test_empty_valuation_is_accepted(api):
    body = {"number": "201810123456.5", "title": "未估值", "kind": "invention",
            "status": "pending", "valuation_cny": None}  # fmt: skip
    resp = api("POST", "/api/v1/patents", "enterprise", json=body)
    assert resp.status_code == 201, resp.json
    assert resp.json.get("valuation_cny") is None
