"""Bad input is a 400/422 JSON answer naming the field, never a 500 and never stored."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import Enterprise, Funder, Need, Outcome, Patent, Product

LONG = "长" * 10_000
CASES: dict[str, tuple[str, dict, list[tuple[str, object, str]]]] = {
    # resource: (role, a valid body, [(field, bad value, field named in the error)])
    "needs": (
        "enterprise",
        {"kind": "loan", "amount_cny": 1_000_000, "purpose": "流动资金"},
        [
            ("amount_cny", "1000000", "amount_cny"),
            ("amount_cny", 1.5, "amount_cny"),
            ("amount_cny", True, "amount_cny"),
            ("amount_cny", 0, "amount_cny"),
            ("amount_cny", -5, "amount_cny"),
            ("amount_cny", 10**14, "amount_cny"),
            ("amount_cny", 10**30, "amount_cny"),
            ("amount_cny", None, "amount_cny"),
            ("kind", "gift", "kind"),
            ("kind", ["loan"], "kind"),
            ("kind", {"$ne": 1}, "kind"),
            ("term_months", 0, "term_months"),
            ("term_months", 100_000, "term_months"),
            ("purpose", LONG, "purpose"),
            ("purpose", "a\x00b", "purpose"),
            ("purpose", "bell\x07", "purpose"),
            ("purpose", 42, "purpose"),
            ("status", "closed", "status"),
            ("status", "deleted", "status"),
            ("created", "2026-13-45", "created"),
            ("collateral_available", "maybe", "collateral_available"),
            ("ref", "", "ref"),
            ("ref", "N" * 65, "ref"),
            ("enterprise_ref", "E-002", "enterprise_ref"),
            ("owner", "me", "owner"),
            ("id", 99, "id"),
            ("json", 1, "json"),
        ],
    ),
    "patents": (
        "enterprise",
        {
            "number": "2021101234567",
            "title": "一种驱动电路",
            "kind": "invention",
            "status": "pending",
        },  # fmt: skip
        [
            ("number", "123", "number"),
            ("number", "201710601862.4", "number"),  # wrong check digit
            ("number", LONG, "number"),
            ("title", "", "title"),
            ("title", LONG, "title"),
            ("title", "<script>\x1b[31m</script>", "title"),
            ("kind", "utility_model", "kind"),  # the number says invention
            ("kind", "trade_secret", "kind"),
            ("status", "revoked", "status"),
            ("filed", "yesterday", "filed"),
            ("granted", "2020-01-01", "granted"),  # with filed below: before filing
            ("valuation_cny", -1, "valuation_cny"),
            ("valuation_cny", "3e6", "valuation_cny"),
            ("confidential", "perhaps", "confidential"),
            ("abstract", LONG, "abstract"),
        ],
    ),
    "products": (
        "verified_institution",
        {"name": "科技贷", "kind": "loan", "min_amount_cny": 100_000, "max_amount_cny": 1_000_000},
        [
            ("max_amount_cny", 50_000, "max_amount_cny"),  # below the minimum
            ("min_amount_cny", -1, "min_amount_cny"),
            ("rate_min", 99, "rate_min"),
            ("rate_min", float("nan"), "rate_min"),
            ("rate_max", float("inf"), "rate_max"),
            ("rate_max", "high", "rate_max"),
            ("regions", ["Guangdong"], "regions"),
            ("regions", "4420", "regions"),
            ("industries", ["ZZ9"], "industries"),
            ("stages", ["ipo"], "stages"),
            ("name", "", "name"),
            ("name", LONG, "name"),
            ("description", LONG, "description"),
            ("status", "deleted", "status"),
            ("kind", "gift", "kind"),
            ("funder_ref", "F-404", "funder_ref"),
            ("requires_patent", "sometimes", "requires_patent"),
            ("max_term_months", 10_000, "max_term_months"),
        ],
    ),
    "enterprises": (
        "operator",
        {"name": "中山市测试科技有限公司", "industry": "C38", "region": "442000"},
        [
            ("name", "A", "name"),
            ("name", LONG, "name"),
            ("name", "名称\x00", "name"),
            ("industry", "Z99", "industry"),
            ("region", "999999", "region"),
            ("region", 442000, "region"),
            ("uscc", "91442000MA4UH1234X", "uscc"),
            ("employees", -1, "employees"),
            ("employees", 10**9, "employees"),
            ("revenue_cny", 10**14, "revenue_cny"),
            ("total_assets_cny", "many", "total_assets_cny"),
            ("contact_email", "not-an-email", "contact_email"),
            ("contact_email", "a@" + "b" * 10_000 + ".cn", "contact_email"),
            ("stage", "unicorn", "stage"),
            ("founded", "2020-02-30", "founded"),
            ("high_tech", "certified", "high_tech"),
            ("description", LONG, "description"),
        ],
    ),
    "funders": (
        "operator",
        {"name": "中山市科技担保有限公司", "kind": "guarantee"},
        [
            ("kind", "shadow_bank", "kind"),
            ("regions", ["abc"], "regions"),
            ("regions", [["44"]], "regions"),
            ("name", "", "name"),
            ("name", LONG, "name"),
            ("contact_email", "@", "contact_email"),
            ("verified", "sure", "verified"),
            ("status", "verified", "status"),
        ],
    ),
    "outcomes": (
        "verified_institution",
        # the sample's N-001 × P-001 deal was funded on 2026-10-10: _setup reopens it
        {"need_ref": "N-001", "product_ref": "P-001", "stage": "meeting", "date": "2026-10-20"},
        [
            ("stage", "won", "stage"),
            ("need_ref", "N-002", "need_ref"),  # a draft: not visible to the bank
            ("product_ref", "P-002", "product_ref"),  # the unverified VC's: not visible
            ("rate", 50, "rate"),
            ("matures", "2020-01-01", "matures"),  # with issued below: before issue
            ("repayment", "balloon", "repayment"),
            ("date", "tomorrow", "date"),
            ("amount_cny", -1, "amount_cny"),
            ("note", LONG, "note"),
            ("note", "\x7f", "note"),
        ],
    ),
}
EXTRA = {
    ("patents", "granted"): {"filed": "2021-01-01"},
    ("outcomes", "matures"): {"issued": "2021-01-01"},
}
MODELS = {"needs": Need, "patents": Patent, "products": Product, "enterprises": Enterprise,
          "funders": Funder, "outcomes": Outcome}  # fmt: skip


def _count(app, model) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model))


def _setup(api, resource: str) -> None:  # noqa: ANN001
    if resource == "outcomes":  # an ended deal takes no step until an operator reopens it
        body = {"need_ref": "N-001", "product_ref": "P-001", "reason": "测试：重新洽谈"}
        assert api("POST", "/api/v1/outcomes/reopen", "operator", json=body).status_code == 200


@pytest.mark.parametrize("resource", CASES)
def test_each_bad_field_is_422_naming_it(app, api, resource):
    role, valid, cases = CASES[resource]
    _setup(api, resource)
    before = _count(app, MODELS[resource])
    problems = []
    for field, value, named in cases:
        body = valid | EXTRA.get((resource, field), {}) | {field: value}
        resp = api("POST", f"/api/v1/{resource}", role, json=body)
        fields = resp.json["error"]["fields"] if resp.is_json and "error" in resp.json else {}
        if resp.status_code != 422 or not any(k.split(".")[0] == named for k in fields):
            problems.append(
                (field, repr(value)[:40], resp.status_code, resp.get_data(as_text=True)[:300])
            )
    assert problems == []
    assert _count(app, MODELS[resource]) == before
    # The valid body itself is accepted, so each refusal above was the bad field's.
    assert api("POST", f"/api/v1/{resource}", role, json=valid).status_code == 201


@pytest.mark.parametrize("resource", CASES)
def test_each_bad_field_in_a_patch_is_422(app, api, lookup, resource):
    role, valid, cases = CASES[resource]
    _setup(api, resource)
    created = api("POST", f"/api/v1/{resource}", role, json=valid)
    assert created.status_code == 201, created.json
    url = f"/api/v1/{resource}/{created.json['id']}"
    problems = []
    for field, value, named in cases:
        if (resource, field, value) == ("needs", "status", "closed"):
            named = "closed_reason"  # closing is allowed later, with a reason
        resp = api("PATCH", url, role, json=EXTRA.get((resource, field), {}) | {field: value})
        fields = resp.json["error"]["fields"] if resp.is_json and "error" in resp.json else {}
        if resp.status_code != 422 or not any(k.split(".")[0] == named for k in fields):
            problems.append(
                (field, repr(value)[:40], resp.status_code, resp.get_data(as_text=True)[:300])
            )
    assert problems == []
    assert api.get(url, role).json == created.json  # nothing was changed


@pytest.mark.parametrize(
    "kwargs, status",
    [
        (
            {"data": "kind=loan&amount_cny=5", "content_type": "application/x-www-form-urlencoded"},
            400,
        ),
        ({"data": "kind: loan", "content_type": "text/plain"}, 400),
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "", "content_type": "application/json"}, 400),
        ({"data": b"\xff\xfe\x00", "content_type": "application/json"}, 400),
        ({}, 400),
        ({"json": [1, 2]}, 422),
        ({"json": "loan"}, 422),
        ({"data": "null", "content_type": "application/json"}, 422),
        (
            {
                "data": '{"kind": "loan", "kind": "equity", "amount_cny": 1e400}',
                "content_type": "application/json",
            },
            422,
        ),
        ({"data": "[" * 50_000 + "]" * 50_000, "content_type": "application/json"}, 400),
    ],
)
def test_non_json_or_malformed_bodies(app, api, kwargs, status):
    resp = api("POST", "/api/v1/needs", "enterprise", **kwargs)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.is_json and set(resp.json["error"]) == {"code", "message", "fields"}
    assert _count(app, Need) == 2


def test_errors_are_json_under_the_api(api):
    for resp in (
        api.get("/api/v1/needs/abc", "operator"),
        api("PUT", "/api/v1/needs/1", "operator", json={}),
        api.get("/api/v1/nothing-here", "operator"),
    ):
        assert resp.status_code in (404, 405) and resp.is_json
        assert set(resp.json["error"]) == {"code", "message", "fields"}
