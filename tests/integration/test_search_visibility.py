"""Search never lets a caller learn a field it may not see: filters, facets, sort, highlights.

A verified bank sees enterprise E-001's profile (it has a published need) but not its
financials. Its revenue is a canary; whatever the bank asks, the answer must be the same for
any value of it — the bisection over min_wan/max_wan of the security review learns nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from techfin.extensions import db
from techfin.models import Enterprise, Funder, User
from techfin.services import catalog, search_sync
from techfin.services import search as search_service

CANARY = 42_317_000  # 4231.7 万: small (86 staff)
OTHER = 987_654_300  # 98765.43 万: with 500 staff a medium enterprise


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def _enterprise(ref: str) -> Enterprise:
    return db.session.execute(db.select(Enterprise).filter_by(ref=ref)).scalar_one()


def _funder(ref: str) -> Funder:
    return db.session.execute(db.select(Funder).filter_by(ref=ref)).scalar_one()


def _set_financials(revenue: int, employees: int) -> None:
    catalog.update_enterprise(
        _user("op@x.cn"), _enterprise("E-001"), {"revenue_cny": revenue, "employees": employees}
    )
    search_sync.sync()


def _refs(user: User, **args: Any) -> list[str]:
    return [item["ref"] for item in search_service.search(user, args)["items"]]


@pytest.fixture
def indexed(app, sample_data, make_user):
    for email, role, org in (("op@x.cn", "operator", None), ("e1@x.cn", "enterprise", "E-001"),
                             ("bank@x.cn", "bank", "F-001")):  # fmt: skip
        make_user(email, role, org)
    with app.app_context():
        search_sync.reindex()
    return app


def _bisect(user: User, lo: float = 0, hi: float = 10_000_000) -> tuple[float, float, bool]:
    """The attack: halve [lo, hi] 万 on whether E-001 is in the range-filtered results."""
    ever_seen = False
    for _ in range(27):
        mid = (lo + hi) / 2
        hit = "E-001" in _refs(user, type="enterprise", min_wan=lo, max_wan=mid)
        ever_seen |= hit
        lo, hi = (lo, mid) if hit else (mid, hi)
    return lo, hi, ever_seen


PROBES: list[dict[str, Any]] = [
    {},
    {"type": "enterprise"},
    {"type": "need"},
    {"q": "照明"},
    *({"type": "enterprise", "min_wan": w} for w in (0, 1, 4231, 4232, 50000, 98766)),
    *({"type": "enterprise", "max_wan": w} for w in (0, 4231, 4232, 98765, 98766, 10**6)),
    {"type": "enterprise", "min_wan": 4231, "max_wan": 4232},
    {"type": "enterprise", "min_wan": 98765, "max_wan": 98766},
    *({"size": s} for s in ("micro", "small", "medium", "large")),
    *({"type": t, "size": s} for t in ("enterprise", "need") for s in ("small", "medium")),
    *({"sort": s} for s in ("amount", "date")),
    *({"type": "enterprise", "sort": "amount"} for _ in range(1)),
    {"q": str(CANARY)},
    {"q": "4231.7"},
    {"q": str(OTHER)},
]


def _answers(user: User) -> list[dict[str, Any]]:
    out = []
    for probe in PROBES:
        result = search_service.search(user, dict(probe))
        out.append({k: result[k] for k in ("items", "facets", "total", "suggestion")})
    return out


def test_bank_without_financials_learns_nothing_from_revenue_or_size(indexed):
    with indexed.app_context():
        bank = _user("bank@x.cn")
        assert "E-001" in _refs(bank, type="enterprise")  # the profile is visible to it
        _set_financials(CANARY, 86)
        assert _enterprise("E-001").size_class == "small"
        first = _answers(bank)
        lo, hi, seen = _bisect(bank)
        assert not seen  # a range filter never includes a value the bank may not see
        _set_financials(OTHER, 500)
        assert _enterprise("E-001").size_class == "medium"
        # Non-interference: every answer (items, order, totals, facets) is the same.
        assert _answers(bank) == first
        assert _bisect(bank) == (lo, hi, False)
        flat = str(first)
        assert str(CANARY) not in flat and "4231" not in flat
        # No size facet counts E-001 or its need for the bank; other facets still do.
        everything = search_service.search(bank, {})
        assert everything["facets"].get("size", {}) == {}
        assert everything["facets"]["type"]["enterprise"] == 1
        # Sorting by amount puts the enterprise among the values-unknown, not by revenue.
        by_amount = _refs(bank, type="enterprise", sort="amount")
        assert by_amount == _refs(bank, type="enterprise", sort="amount_asc") == ["E-001"]


def test_owner_operator_and_a_bank_it_shares_with_can_filter(indexed):
    with indexed.app_context():
        _set_financials(CANARY, 86)
        bank = _user("bank@x.cn")
        for who in (_user("op@x.cn"), _user("e1@x.cn")):
            assert "E-001" in _refs(who, type="enterprise", min_wan=4231, max_wan=4232)
            assert "E-001" not in _refs(who, type="enterprise", max_wan=4231)
            assert search_service.search(who, {"type": "enterprise", "size": "small"})["total"]
        assert _refs(bank, type="enterprise", min_wan=4231, max_wan=4232) == []

        catalog.set_sharing(_user("e1@x.cn"), _enterprise("E-001"), _funder("F-001").id,
                            financials=True, patents=False)  # fmt: skip
        search_sync.sync()
        assert _refs(bank, type="enterprise", min_wan=4231, max_wan=4232) == ["E-001"]
        assert _refs(bank, type="enterprise", max_wan=4231) == []
        lo, hi, seen = _bisect(bank)
        assert seen and lo <= 4231.7 <= hi  # now it is the bank's to know
        facets = search_service.search(bank, {})["facets"]
        assert facets["size"] == {"small": 2}  # the enterprise and its published need
        assert _refs(bank, type="need", size="small") == ["N-001"]
        assert _refs(bank, type="need", size="medium") == []

        # Withdrawn again: the filters go blind again.
        catalog.set_sharing(_user("e1@x.cn"), _enterprise("E-001"), _funder("F-001").id,
                            financials=False, patents=False)  # fmt: skip
        search_sync.sync()
        assert _refs(bank, type="enterprise", min_wan=4231, max_wan=4232) == []
        assert _refs(bank, type="need", size="small") == []


def test_shared_with_every_funder_counts_for_verified_banks(indexed):
    with indexed.app_context():
        _set_financials(CANARY, 86)
        catalog.set_sharing(_user("e1@x.cn"), _enterprise("E-001"), None,
                            financials=True, patents=False)  # fmt: skip
        search_sync.sync()
        bank = _user("bank@x.cn")
        assert _refs(bank, type="enterprise", min_wan=4231, max_wan=4232) == ["E-001"]
        # …except one it names: a rule for that funder wins over the rule for all.
        catalog.set_sharing(_user("e1@x.cn"), _enterprise("E-001"), _funder("F-001").id,
                            financials=False, patents=True)  # fmt: skip
        search_sync.sync()
        assert _refs(bank, type="enterprise", min_wan=4231, max_wan=4232) == []
        assert search_service.search(bank, {"size": "small"})["total"] == 0


def test_bisection_through_the_api_learns_nothing(indexed, client):
    from techfin.services import accounts

    with indexed.app_context():
        _set_financials(CANARY, 86)
        token = accounts.create_api_token(_user("bank@x.cn"), "test")
    headers = {"Authorization": f"Bearer {token}"}
    lo, hi = 0.0, 10_000_000.0
    for _ in range(27):
        mid = (lo + hi) / 2
        resp = client.get("/api/v1/search", query_string={"type": "enterprise", "min_wan": lo,
                                                          "max_wan": mid}, headers=headers)  # fmt: skip
        assert resp.status_code == 200
        refs = [i["ref"] for i in resp.get_json()["items"]]
        assert "E-001" not in refs
        lo, hi = (lo, mid) if "E-001" in refs else (mid, hi)
    client.post("/auth/login", data={"email": "bank@x.cn", "password": "Lychee-Harbour-47"})
    page = client.get("/search/", query_string={"size": "small"}).get_data(as_text=True)
    assert "E-001" not in page and "N-001" not in page


def test_all_but_one_follows_a_funder_verified_later(indexed, make_user):
    make_user("vc@x.cn", "investor", "F-002")
    with indexed.app_context():
        _set_financials(CANARY, 86)
        e1, ent = _user("e1@x.cn"), _enterprise("E-001")
        catalog.set_sharing(e1, ent, None, financials=True, patents=False)
        catalog.set_sharing(e1, ent, _funder("F-001").id, financials=False, patents=False)
        search_sync.sync()
        vc = _user("vc@x.cn")
        assert _refs(vc, type="enterprise") == []  # not verified yet: sees nothing
        catalog.verify_funder(_user("op@x.cn"), _funder("F-002"), True)
        search_sync.sync()
        assert _refs(vc, type="enterprise", min_wan=4231, max_wan=4232) == ["E-001"]
        assert _refs(_user("bank@x.cn"), type="enterprise", min_wan=4231, max_wan=4232) == []
