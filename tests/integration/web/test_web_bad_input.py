"""Every form refuses bad input on the field, never with a 500; markup is stored as text and
escaped when shown."""

from __future__ import annotations

import pytest

LONG = "长" * 10_000
SCRIPT = "<script>alert('x')</script>"

PROFILE = {
    "name": "中山市明辉照明科技有限公司", "uscc": "91442000MA4UH1234Y", "industry": "C38",
    "region": "442000", "founded": "2012-05-18", "employees": "86", "revenue_cny": "4200",
    "total_assets_cny": "3000", "stage": "growth", "description": "LED", "contact_email": "a@b.cn",
}  # fmt: skip
PATENT = {"number": "201810123456.5", "title": "新型散热结构", "kind": "invention",
          "status": "granted", "filed": "2017-07-01", "granted": "2019-02-01",
          "valuation_cny": "10", "abstract": ""}  # fmt: skip
NEED = {"kind": "loan", "amount_cny": "12.5", "term_months": "12", "purpose": "流动资金"}
FUNDER = {"name": "中国银行中山分行科技支行", "regions": "442000", "description": "",
          "contact_email": "tech@boc.example.cn"}  # fmt: skip
PRODUCT = {"name": "科技成长贷", "kind": "loan", "min_amount_cny": "50", "max_amount_cny": "1000",
           "min_term_months": "6", "max_term_months": "36", "rate_min": "3.85", "rate_max": "5.5",
           "industries": "C38", "regions": "442000", "description": ""}  # fmt: skip
REGISTER = {"account_type": "enterprise", "org_name": "测试科技有限公司", "industry": "C38",
            "region": "442000", "funder_kind": "bank", "name": "张三", "email": "z@x.cn",
            "password": "Lychee-Harbour-47", "confirm": "Lychee-Harbour-47"}  # fmt: skip

# (account, url, valid data, field, bad value)
CASES = [
    # enterprise profile
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "name", v) for v in ("", "x", LONG, "a\x00b", "a\x07b")],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "uscc", v) for v in ("123", "91442000MA4UH1234X", LONG)],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "industry", v) for v in ("", "ZZZ", "C38,I65", LONG)],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "region", v) for v in ("", "999999", "44", SCRIPT)],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "founded", v) for v in ("2999-01-01", "2026-02-30", "yesterday", "1066-10-14")],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "employees", v) for v in ("-1", "abc", "1e5", "99999999999999999999", "3.5")],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "revenue_cny", v) for v in ("-1", "abc", "NaN", "Infinity", "1e5", "9999999999", "1.23456")],
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "total_assets_cny", v) for v in ("-0.5", "十万")],
    ("e1@x.cn", "/enterprise/profile", PROFILE, "stage", "bogus"),
    ("e1@x.cn", "/enterprise/profile", PROFILE, "description", LONG),
    *[("e1@x.cn", "/enterprise/profile", PROFILE, "contact_email", v) for v in ("not-an-email", "a@", SCRIPT)],
    # patents
    *[("e1@x.cn", "/enterprise/patents/new", PATENT, "number", v) for v in ("", "123", "201710601862.4", LONG)],
    *[("e1@x.cn", "/enterprise/patents/new", PATENT, "title", v) for v in ("", LONG, "\x1b[31m")],
    ("e1@x.cn", "/enterprise/patents/new", PATENT, "kind", "bogus"),
    ("e1@x.cn", "/enterprise/patents/new", PATENT, "kind", "design"),  # the number says invention
    ("e1@x.cn", "/enterprise/patents/new", PATENT, "status", ""),
    ("e1@x.cn", "/enterprise/patents/new", PATENT, "granted", "2016-01-01"),  # before filed
    ("e1@x.cn", "/enterprise/patents/new", PATENT, "valuation_cny", "-3"),
    ("e1@x.cn", "/enterprise/patents/new", PATENT, "abstract", LONG),
    # needs
    *[("e1@x.cn", "/enterprise/needs/new", NEED, "amount_cny", v) for v in ("", "0", "-5", "abc", "1e3", "12.34567", "99999999999")],
    *[("e1@x.cn", "/enterprise/needs/new", NEED, "term_months", v) for v in ("0", "601", "x", "-12")],
    ("e1@x.cn", "/enterprise/needs/new", NEED, "kind", "grant"),
    ("e1@x.cn", "/enterprise/needs/new", NEED, "purpose", LONG),
    *[("e1@x.cn", "/enterprise/needs/{N-001}/close", {"reason": "x"}, "reason", v) for v in ("", "   ", LONG, "a\x00")],
    # sharing
    *[("e1@x.cn", "/enterprise/sharing", {"funder": ""}, "funder", v) for v in ("999999", "abc", "{F-002}")],
    # institution profile, team, products
    *[("bank@x.cn", "/institution/profile", FUNDER, "name", v) for v in ("", LONG, "a\x00")],
    *[("bank@x.cn", "/institution/profile", FUNDER, "regions", v) for v in ("99", "abc", ",".join(["442000"] * 60))],
    ("bank@x.cn", "/institution/profile", FUNDER, "contact_email", "nope"),
    *[("bank@x.cn", "/institution/team", {"email": "a@b.cn", "name": "n"}, "email", v) for v in ("", "nope", "a\x00@b.cn", "x" * 300 + "@b.cn")],
    ("bank@x.cn", "/institution/team", {"email": "a@b.cn", "name": "n"}, "name", LONG),
    ("bank@x.cn", "/institution/team", {"email": "e1@x.cn", "name": "n"}, "email", "e1@x.cn"),  # taken
    *[("bank@x.cn", "/institution/products/new", PRODUCT, "name", v) for v in ("", LONG)],
    ("bank@x.cn", "/institution/products/new", PRODUCT, "kind", "bogus"),
    *[("bank@x.cn", "/institution/products/new", PRODUCT, "min_amount_cny", v) for v in ("-1", "abc")],
    ("bank@x.cn", "/institution/products/new", PRODUCT, "max_amount_cny", "10"),  # below the minimum
    *[("bank@x.cn", "/institution/products/new", PRODUCT, "max_term_months", v) for v in ("601", "1")],
    *[("bank@x.cn", "/institution/products/new", PRODUCT, "rate_min", v) for v in ("NaN", "inf", "-1", "37", "abc")],
    ("bank@x.cn", "/institution/products/new", PRODUCT, "rate_max", "3"),
    *[("bank@x.cn", "/institution/products/new", PRODUCT, "industries", v) for v in ("ZZ", "C99", SCRIPT)],
    ("bank@x.cn", "/institution/products/new", PRODUCT, "regions", "12345"),
    ("bank@x.cn", "/institution/products/new", PRODUCT, "stages", "bogus"),
    ("bank@x.cn", "/institution/products/new", PRODUCT, "description", LONG),
    # operator
    *[("op@x.cn", "/operator/institutions/{F-002}/reject", {"reason": "x"}, "reason", v) for v in ("", LONG, "\x00")],
    # accounts
    *[(None, "/auth/register", REGISTER, "org_name", v) for v in ("", LONG, "a\x00b")],
    *[(None, "/auth/register", REGISTER, "email", v) for v in ("nope", "e1@x.cn")],
    (None, "/auth/register", REGISTER, "industry", "ZZZ"),
    (None, "/auth/register", REGISTER, "account_type", "admin"),
    (None, "/auth/register", REGISTER, "confirm", "different-123"),
    (None, "/auth/register", REGISTER, "name", "\x00"),
    *[(None, "/auth/login", {"email": "a@b.cn", "password": "x"}, "email", v) for v in ("", "nope", LONG)],
    (None, "/auth/forgot", {"email": "a@b.cn"}, "email", "a\x00@b.cn"),
]  # fmt: skip


def _fill(url: str, ids) -> str:  # noqa: ANN001
    for kind, ref in (("need", "N-001"), ("funder", "F-002")):
        url = url.replace("{" + ref + "}", str(ids(kind, ref)))
    return url


@pytest.mark.parametrize(("account", "url", "data", "field", "bad"), CASES,
                         ids=[f"{c[1]}:{c[3]}={c[4][:12]!r}" for c in CASES])  # fmt: skip
def test_bad_input_gets_a_field_message(client, users, login, ids, body, invalid,
                                        account, url, data, field, bad):  # fmt: skip
    if account:
        login(account)
    if isinstance(bad, str) and bad.startswith("{F-"):
        bad = str(ids("funder", bad[1:-1]))
    resp = client.post(_fill(url, ids), data={**data, field: bad})
    text = body(resp)
    assert resp.status_code == 200, (resp.status_code, resp.headers.get("Location"))
    assert invalid(text, field), f"no message on {field}"
    assert "<script>alert" not in text


@pytest.mark.parametrize(
    ("account", "url", "data", "field", "show"),
    [
        ("e1@x.cn", "/enterprise/profile", PROFILE, "description", "/enterprise/profile"),
        ("e1@x.cn", "/enterprise/patents/new", PATENT, "title", "/enterprise/patents"),
        ("e1@x.cn", "/enterprise/needs/new", NEED, "purpose", "/enterprise/needs/{last}"),
        ("bank@x.cn", "/institution/profile", FUNDER, "description", "/institution/profile"),
        ("bank@x.cn", "/institution/products/new", PRODUCT, "name", "/institution/products"),
        ("bank@x.cn", "/institution/team", {"email": "n@b.cn"}, "name", "/institution/team"),
    ],
)
def test_markup_is_stored_as_text_and_escaped(app, client, users, login, body,
                                              account, url, data, field, show):  # fmt: skip
    login(account)
    resp = client.post(url, data={**data, field: SCRIPT})
    assert resp.status_code in (200, 302), body(resp)
    if "{last}" in show:
        from techfin.extensions import db
        from techfin.models import Need

        with app.app_context():
            show = show.replace("{last}", str(db.session.scalar(db.select(db.func.max(Need.id)))))
    text = body(client.get(show))
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    assert "<script>alert" not in text


@pytest.mark.parametrize(
    "url",
    [
        "/enterprise/patents/99999999999999/edit",
        "/enterprise/needs/0",
        "/enterprise/needs/-1",
        "/dealflow/enterprises/2147483648",
        "/marketplace/products/abc",
    ],
)
def test_impossible_ids_are_not_found(client, users, login, url):
    login("e1@x.cn")
    assert client.get(url).status_code == 404


def test_control_characters_in_query_strings_are_harmless(client, users, login, body):
    login("op@x.cn")
    for url in ("/operator/users?q=%00%01", "/operator/audit?actor=%00", "/marketplace?region=%00",
                "/reference/regions?q=%00", "/dealflow/needs?kind=%00&page=%00"):  # fmt: skip
        assert client.get(url).status_code == 200, url


def test_a_huge_form_is_refused_without_a_server_error(client, users, login):
    login("e1@x.cn")
    resp = client.post("/enterprise/profile", data={**PROFILE, "description": "x" * (17 * 2**20)})
    assert resp.status_code == 413
