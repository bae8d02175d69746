"""The marketplace (金融产品超市): filters, sorting and paging over verified products."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from techfin.extensions import db
from techfin.models import Funder, Product


def _refs(html: str) -> list[str]:
    return re.findall(r'class="card h-100 product-card" data-ref="([^"]+)"', html)


@pytest.fixture
def catalogue(app, users):
    """25 products of the verified bank F-001 (M-00…M-24), one paused, plus the sample's."""
    with app.app_context():
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        start = datetime(2026, 1, 1)
        for i in range(25):
            db.session.add(Product(
                ref=f"M-{i:02d}", funder_id=bank.id, name=f"产品{i:02d}",
                kind="loan" if i % 2 else "guarantee",
                min_amount_cny=100_000 * (i + 1), max_amount_cny=1_000_000 * (i + 1),
                min_term_months=3, max_term_months=12 + i,
                rate_min=3.0 + i / 10, rate_max=8.0,
                regions=["51"] if i % 5 == 0 else [], industries=["I65"] if i % 3 == 0 else [],
                created_at=start + timedelta(days=i),
            ))  # fmt: skip
        db.session.add(Product(ref="M-PAUSED", funder_id=bank.id, name="暂停的产品", kind="loan",
                               status="paused"))  # fmt: skip
        db.session.commit()


def _all_refs(client, query: str) -> list[str]:  # noqa: ANN001
    refs, page = [], 1
    while True:
        html = client.get(f"/marketplace?{query}&page={page}").get_data(as_text=True)
        found = _refs(html)
        refs += found
        if 'rel="next"' not in html or 'disabled"><a class="page-link" href="#" rel="next"' in html:
            return refs
        page += 1
        assert page < 20


def test_only_active_products_of_verified_institutions(client, catalogue, login):
    login("e1@x.cn")
    refs = _all_refs(client, "")
    assert len(refs) == 26 and len(set(refs)) == 26  # 25 + P-001; no P-002, no paused
    assert "P-002" not in refs and "M-PAUSED" not in refs


def test_pages_of_twelve_newest_first(client, catalogue, login, body):
    login("e1@x.cn")
    first = _refs(body(client.get("/marketplace")))
    second = _refs(body(client.get("/marketplace?page=2")))
    assert len(first) == 12 and len(second) == 12 and not set(first) & set(second)
    assert first[:3] == ["P-001", "M-24", "M-23"]  # P-001 was imported today, M-24 newest of 2026
    assert len(_refs(body(client.get("/marketplace?page=3")))) == 2
    assert _refs(body(client.get("/marketplace?page=99"))) == []


def test_filter_by_kind_amount_term_region_industry_rate(client, catalogue, login):
    login("e1@x.cn")
    assert set(_all_refs(client, "kind=ip_pledge")) == {"P-001"}
    # 250 万元 = 2 500 000 yuan within [min, max]: M-02 … M-24 (max ≥ 3 m yuan) and P-001
    amount = set(_all_refs(client, "amount=250"))
    assert amount == {f"M-{i:02d}" for i in range(2, 25)} | {"P-001"}
    # 100.0001 万元 = 1 000 001 yuan: above M-00's maximum, below M-10's minimum
    assert set(_all_refs(client, "amount=100.0001")) == {f"M-{i:02d}" for i in range(1, 10)} | {
        "P-001"
    }
    assert set(_all_refs(client, "term=30")) == {f"M-{i:02d}" for i in range(18, 25)} | {"P-001"}
    zhongshan = set(_all_refs(client, "region=442000"))
    assert "P-001" in zhongshan and "M-00" not in zhongshan and "M-01" in zhongshan
    chengdu = set(_all_refs(client, "region=510100"))
    assert "P-001" not in chengdu and "M-05" in chengdu
    software = set(_all_refs(client, "industry=I65"))
    assert "M-01" in software and "M-03" in software
    lighting = set(_all_refs(client, "industry=C38"))
    assert "M-03" not in lighting and "M-01" in lighting
    assert set(_all_refs(client, "max_rate=3.15")) == {"M-00", "M-01"}


def test_sort_by_rate_and_by_amount(client, catalogue, login):
    login("e1@x.cn")
    by_rate = _all_refs(client, "sort=rate")
    assert by_rate[:3] == ["M-00", "M-01", "M-02"] and by_rate.index("P-001") == 9  # 3.85 %
    by_amount = _all_refs(client, "sort=amount")
    assert by_amount[:2] == ["M-24", "M-23"] and by_amount[-1] == "M-00"


def test_filters_combine_and_survive_paging(client, catalogue, login, body):
    login("e1@x.cn")
    html = body(client.get("/marketplace?kind=guarantee&sort=rate"))
    refs = _refs(html)
    assert refs[:2] == ["M-00", "M-02"] and len(refs) == 12
    assert all(int(r[2:]) % 2 == 0 for r in refs)
    assert 'href="/marketplace?kind=guarantee&amp;sort=rate&amp;page=2"' in html
    second = _refs(body(client.get("/marketplace?kind=guarantee&sort=rate&page=2")))
    assert second == ["M-24"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("amount=abc", "amount"),
        ("amount=-5", "amount"),
        ("amount=1e9", "amount"),
        ("term=0", "term"),
        ("term=x", "term"),
        ("region=999999", "region"),
        ("industry=ZZZ", "industry"),
        ("max_rate=NaN", "max_rate"),
        ("max_rate=inf", "max_rate"),
        ("sort=price", "sort"),
        ("kind=%3Cscript%3E", "kind"),
    ],
)
def test_bad_filters_are_reported_and_ignored(
    client, catalogue, login, body, invalid, query, field
):
    login("e1@x.cn")
    resp = client.get(f"/marketplace?{query}")
    text = body(resp)
    assert resp.status_code == 200 and invalid(text, field)
    assert len(_refs(text)) == 12  # the bad filter is left out, the list still shows
    assert "<script>" not in text.split("<main")[1]


@pytest.mark.parametrize("page", ["-3", "abc", "99999999999999999999", "0"])
def test_bad_page_numbers_are_clamped(client, catalogue, login, page):
    login("e1@x.cn")
    assert client.get(f"/marketplace?page={page}").status_code == 200


def test_product_page_and_unknown_products(client, catalogue, login, body, ids):
    login("e2@x.cn")
    text = body(client.get(f"/marketplace/products/{ids('product', 'P-001')}"))
    assert "知识产权质押贷" in text and "中国银行中山分行科技支行" in text
    assert client.get(f"/marketplace/products/{ids('product', 'P-002')}").status_code == 404
    assert client.get("/marketplace/products/99999999999").status_code == 404
    assert client.get("/marketplace").status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client, catalogue):
    resp = client.get("/marketplace")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


@pytest.mark.parametrize("sort", ["newest", "rate", "amount"])
def test_the_database_sorts_as_the_prefix_filters_do(app, client, catalogue, login, sort):
    """Without a region or industry filter the database sorts and pages; with one, the
    products are sorted in Python (_sort_key). Both orders are the same, unknown rates and
    ceilings last and ties newest id first."""
    with app.app_context():
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        for i in range(3):  # no rate, no ceiling, the same creation time: ties
            db.session.add(Product(ref=f"M-OPEN-{i}", funder_id=bank.id, name=f"开放{i}",
                                   kind="loan", created_at=datetime(2026, 2, 1)))  # fmt: skip
        db.session.commit()
    login("e1@x.cn")
    in_sql = _all_refs(client, f"sort={sort}")
    everywhere = _all_refs(client, f"sort={sort}&region=442000")  # every product but "51" ones
    assert [r for r in in_sql if r in everywhere] == everywhere
    assert len(everywhere) >= 20 and {"M-OPEN-0", "M-OPEN-2"} <= set(everywhere)
    if sort != "newest":
        assert in_sql[-3:] == ["M-OPEN-2", "M-OPEN-1", "M-OPEN-0"]
