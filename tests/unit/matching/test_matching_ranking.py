"""Ranking both ways: order, almost-eligible entries, mandates, reasons, loop equivalence."""

from __future__ import annotations

from datetime import date

import pytest
from matching_data import make_need, make_product

from techfin.matching import (
    CandidateSet,
    History,
    NeedSet,
    Prior,
    TextSpace,
    mandate_from_funder,
    rank_needs_for_product,
    rank_products_for_need,
)
from techfin.matching.reference import rank_needs_for_product_loop, rank_products_for_need_loop
from techfin.matching.synthetic import World

AS_OF = date(2025, 1, 1)
NAMES = {"442000": "中山市", "440000": "广东省", "C38": "电气机械和器材制造业"}


def names(code: str, locale: str) -> str | None:
    table = {"zh_CN": {"442000": "中山市"}, "en": {"442000": "Zhongshan"}}
    return table.get(locale, {}).get(code)


def catalogue() -> list[dict]:
    return [
        make_product(id=1, name="全国信用贷"),
        make_product(id=2, name="中山科技贷", regions=["4420"], industries=["C38"]),
        make_product(id=3, name="超额", max_amount_cny=4_000_000),  # one gap
        make_product(
            id=4, name="两缺", max_amount_cny=4_000_000, requires_high_tech=True, regions=["51"]
        ),
        make_product(id=5, name="三缺", max_amount_cny=4_000_000, regions=["51"], industries=["I"]),
        make_product(id=6, name="暂停", status="paused"),
        make_product(id=7, name="质押贷", kind="ip_pledge"),
        make_product(id=8, name="未核实", funder={"id": 2000, "verified": False}),
    ]


def test_eligible_first_then_almost_with_missing() -> None:
    cands = CandidateSet.from_products(catalogue())
    ranking = rank_products_for_need(make_need(), cands, as_of=AS_OF, names=NAMES)
    assert ranking.model == {"kind": "prior", "version": "prior-1"}
    ids = [m.id for m in ranking]
    assert ids[:2] == [2, 1]  # same city and industry beats the national product
    assert ids[2:] == [3, 4]  # one gap before two; three gaps, paused, unverified: absent
    assert [m.eligible for m in ranking] == [True, True, False, False]
    assert ranking[0].missing == [] and ranking[1].missing == []
    assert ranking[2].missing[0].startswith("金额超过产品上限 400 万元")
    assert len(ranking[3].missing) == 2
    assert (ranking.n_candidates, ranking.n_eligible, ranking.n_almost) == (5, 2, 2)
    scores = [m.score for m in ranking]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] >= scores[1]


def test_limits_and_no_almost() -> None:
    cands = CandidateSet.from_products(catalogue())
    assert [m.id for m in rank_products_for_need(make_need(), cands, limit=1, as_of=AS_OF)][:1] == [
        2
    ]
    only = rank_products_for_need(make_need(), cands, include_almost=False, as_of=AS_OF)
    assert [m.id for m in only] == [2, 1]
    assert (
        len(rank_products_for_need(make_need(), cands, limit=0, almost_limit=1, as_of=AS_OF)) == 1
    )


def test_kind_must_match() -> None:
    cands = CandidateSet.from_products(catalogue())
    ranking = rank_products_for_need(make_need(kind="ip_pledge"), cands, as_of=AS_OF)
    assert [m.id for m in ranking] == [7]
    assert list(rank_products_for_need(make_need(kind="insurance"), cands)) == []
    assert list(rank_products_for_need(make_need(kind=None), cands)) == []


def test_equity_needs_meet_vc_and_guidance_fund_mandates() -> None:
    funders = [
        {
            "id": 1,
            "name": "粤科创投",
            "kind": "vc",
            "regions": ["44"],
            "industries": ["C"],
            "stages": ["growth"],
        },
        {"id": 2, "name": "中山引导基金", "kind": "guidance_fund", "regions": ["4420"]},
        {"id": 3, "name": "成都天使", "kind": "vc", "regions": ["51"]},
        {"id": 4, "name": "某银行", "kind": "bank"},
        {"id": 5, "name": "未核实创投", "kind": "vc", "verified": False},
    ]
    equity = make_product(id=9, kind="equity", min_amount_cny=None, max_amount_cny=None)
    cands = CandidateSet.from_products([equity, *catalogue()], funders=funders)
    ranking = rank_products_for_need(make_need(kind="equity", term_months=None), cands, as_of=AS_OF)
    got = {(m.type, m.id, m.eligible) for m in ranking}
    assert got == {
        ("product", 9, True),
        ("mandate", 1, True),
        ("mandate", 2, True),
        ("mandate", 3, False),
    }
    loan = rank_products_for_need(make_need(), cands, as_of=AS_OF)
    assert all(m.type == "product" for m in loan)
    assert mandate_from_funder(funders[0])["kind"] == "equity"


def test_reverse_ranking_of_published_needs() -> None:
    needs = [
        make_need(id=1),
        make_need(id=2, enterprise={"region": "510100"}),
        make_need(id=3, status="draft"),
        make_need(id=4, status="closed"),
        make_need(id=5, kind="equity"),
        make_need(id=6, amount_cny=50_000_000),
    ]
    need_set = NeedSet.from_needs(needs)
    ranking = rank_needs_for_product(make_product(regions=["44"]), need_set, as_of=AS_OF)
    # Almost eligible: the amount (fixable) before the region (the enterprise cannot move).
    assert [(m.type, m.id, m.eligible, m.fixable) for m in ranking] == [
        ("need", 1, True, True),
        ("need", 6, False, True),
        ("need", 2, False, False),
    ]
    assert ranking[2].missing == ["不在510100服务范围"]
    mandate = mandate_from_funder({"id": 7, "kind": "vc", "name": "创投"})
    assert [m.id for m in rank_needs_for_product(mandate, need_set, as_of=AS_OF)] == [5]


def test_reasons_in_both_languages() -> None:
    cands = CandidateSet.from_products([make_product(regions=["4420"])])
    zh = rank_products_for_need(make_need(), cands, names=names, as_of=AS_OF)[0]
    en = rank_products_for_need(make_need(), cands, names=names, locale="en", as_of=AS_OF)[0]
    assert "同在中山市" in zh.reasons
    assert "same city: Zhongshan" in en.reasons
    assert len(zh.reasons) == len(zh.reason_codes) <= 3
    assert [r.code for r in zh.reason_codes] == [r.code for r in en.reason_codes]
    weights = [r.weight for r in zh.reason_codes]
    assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)


def test_patent_coverage_reason() -> None:
    patents = [{"kind": "invention", "status": "granted", "valuation_cny": 4_000_000}] * 3
    need = make_need(kind="ip_pledge", amount_cny=5_000_000, enterprise={"patents": patents})
    cands = CandidateSet.from_products([make_product(kind="ip_pledge", requires_patent=True)])
    zh = rank_products_for_need(need, cands, as_of=AS_OF)[0]
    en = rank_products_for_need(need, cands, as_of=AS_OF, locale="en")[0]
    assert zh.reasons[0] == "3 项发明专利估值覆盖贷款额 2.4 倍"
    assert en.reasons[0] == "3 invention patents valued at 2.4× the loan"


def test_funder_track_record_reason() -> None:
    product = make_product()
    peers = [make_need(id=100 + i, enterprise={"id": 500 + i}) for i in range(12)]
    outcomes = [
        {"need_id": n["id"], "product_id": product["id"], "stage": "approved", "date": "2024-09-01"}
        for n in peers
    ]
    history = History.from_outcomes(outcomes, peers, [product])
    need = make_need(enterprise={"high_tech": False, "patents": []})
    cands = CandidateSet.from_products([product])
    zh = rank_products_for_need(need, cands, Prior(), history, as_of=AS_OF)[0]
    en = rank_products_for_need(need, cands, Prior(), history, as_of=AS_OF, locale="en")[0]
    assert "该行近一年批准同行业企业 12 家" in zh.reasons
    assert "approved 12 firms in this industry in the past year" in en.reasons
    assert "该行对同行业企业批准率 100%" in zh.reasons


def test_records_full_of_none_rank_without_error() -> None:
    products = [
        {"id": 1, "kind": "loan"},
        make_product(id=2),
        {"id": 3, "kind": "loan", "funder": None},
    ]
    needs = [
        {"id": 1, "kind": "loan"},
        {"id": 2, "kind": "loan", "enterprise": None},
        make_need(id=3),
    ]
    cands = CandidateSet.from_products(products)
    need_set = NeedSet.from_needs(needs)
    for need in needs:
        for m in rank_products_for_need(need, cands, locale="en"):
            assert isinstance(m.to_dict(), dict)
    for product in products:
        assert len(rank_needs_for_product(product, need_set)) >= 1
    assert list(rank_products_for_need(make_need(), CandidateSet.from_products([]))) == []
    assert list(rank_needs_for_product(make_product(), NeedSet.from_needs([]))) == []


@pytest.mark.parametrize("learned", [False, True])
def test_vectorised_equals_per_candidate_loop(small_world: World, model, learned: bool) -> None:
    w = small_world
    scorer = model if learned else Prior()
    space = TextSpace.from_records(products=w.products, needs=w.needs)
    cands = CandidateSet.from_products(w.products, funders=w.funders, text_space=space)
    need_set = NeedSet.from_needs(w.needs, text_space=space)
    history = History.from_outcomes(w.outcomes, w.needs, w.products)
    kw = {"as_of": w.end, "limit": 20, "almost_limit": 5, "locale": "zh_CN"}
    for need in w.needs[:40]:
        a = rank_products_for_need(need, cands, scorer, history, **kw)
        b = rank_products_for_need_loop(need, cands, scorer, history, **kw)
        assert _same(a, b)
    for product in w.products[:10]:
        a = rank_needs_for_product(product, need_set, scorer, history, **kw)
        b = rank_needs_for_product_loop(product, need_set, scorer, history, **kw)
        assert _same(a, b)


def _same(a, b) -> bool:
    """Same candidates, flags, gaps, reasons and scores (to 1e-12). Pairs whose scores tie
    up to rounding (identical products) may come in either order, so rows are compared
    in a canonical order."""
    assert a.model == b.model
    assert (a.n_candidates, a.n_eligible, a.n_almost) == (b.n_candidates, b.n_eligible, b.n_almost)

    def rows(r):
        out = [(m.type, m.id, m.eligible, m.missing, m.reasons, m.score) for m in r]
        return sorted(out, key=lambda t: (not t[2], -round(t[5], 9), t[0], t[1]))

    ra, rb = rows(a), rows(b)
    assert [t[:5] for t in ra] == [t[:5] for t in rb]
    assert [t[5] for t in ra] == pytest.approx([t[5] for t in rb], abs=1e-12)
    return True
