"""Feature values, and one pair computed alone equals the same pair in a vectorised batch."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from matching_data import make_need, make_product

from techfin.matching import (
    CandidateSet,
    History,
    NeedSet,
    TextSpace,
    pair_features,
    render_reason,
)
from techfin.matching.candidates import need_columns, product_columns
from techfin.matching.features import FEATURE_INDEX, feature_matrix
from techfin.matching.profiles import need_profile, product_profile
from techfin.matching.ranking import rank_needs_for_product, rank_products_for_need
from techfin.matching.reference import rank_needs_for_product_loop, rank_products_for_need_loop
from techfin.matching.rules import prefix_match_len
from techfin.matching.synthetic import World

F = FEATURE_INDEX


def one(need: dict, product: dict) -> list[float]:
    return pair_features(need_profile(need), product_profile(product))


def batch(needs: list[dict], products: list[dict]) -> np.ndarray:
    """Features of each need against each product in the same position, vectorised."""
    n = [need_profile(x) for x in needs]
    p = [product_profile(x) for x in products]
    rlen = np.array([prefix_match_len(a.region, b.regions) for a, b in zip(n, p, strict=True)])
    ilen = np.array([prefix_match_len(a.industry, b.industries) for a, b in zip(n, p, strict=True)])
    zeros = np.zeros(len(n))
    return feature_matrix(
        need_columns(n), product_columns(p), rlen, ilen, zeros, zeros + 0.5, zeros
    )


EDGE_PAIRS = [
    (make_need(), make_product()),
    (make_need(amount_cny=None, term_months=None), make_product()),
    (make_need(amount_cny=20_000_000), make_product()),
    (make_need(amount_cny=500_000), make_product()),
    (make_need(), make_product(min_amount_cny=None)),
    (make_need(), make_product(max_amount_cny=None)),
    (make_need(), make_product(min_amount_cny=5_000_000, max_amount_cny=5_000_000)),
    (make_need(term_months=3), make_product()),
    (make_need(term_months=48), make_product()),
    (make_need(), make_product(kind="ip_pledge", requires_patent=True)),
    (make_need(amount_cny=1_000_000), make_product(kind="ip_pledge")),
    (make_need(enterprise={"patents": None}), make_product(kind="ip_pledge")),
    (make_need(), make_product(regions=["4420"], industries=["C38"], stages=["growth"])),
    (make_need(), make_product(regions=["44"], industries=["C"], stages=["seed"])),
    (make_need(), make_product(regions=["51"], industries=["I65"], stages=["angel"])),
    (
        make_need(enterprise={"region": None, "industry": None, "stage": None}),
        make_product(regions=["44"]),
    ),
    (
        make_need(
            enterprise={"revenue_cny": None, "employees": None, "size": None, "high_tech": None}
        ),
        make_product(),
    ),
    ({"id": 1}, {"id": 2}),
]


def test_single_pair_equals_batch_on_edge_cases() -> None:
    needs, products = zip(*EDGE_PAIRS, strict=True)
    matrix = batch(list(needs), list(products))
    for k, (need, product) in enumerate(EDGE_PAIRS):
        np.testing.assert_allclose(
            matrix[k], one(need, product), rtol=1e-12, atol=1e-12, err_msg=str(k)
        )


def test_amount_fit_and_position() -> None:
    x = one(make_need(amount_cny=1_000_000), make_product())
    assert (x[F["amount_fit"]], x[F["amount_position"]]) == (1.0, 0.0)
    x = one(make_need(amount_cny=10_000_000), make_product())
    assert (x[F["amount_fit"]], x[F["amount_position"]]) == (1.0, 1.0)
    x = one(make_need(amount_cny=math.isqrt(10**13)), make_product())  # geometric middle
    assert x[F["amount_position"]] == pytest.approx(0.5, abs=1e-6)
    x = one(make_need(amount_cny=20_000_000), make_product())
    assert x[F["amount_fit"]] == 0.5  # twice the maximum
    x = one(make_need(amount_cny=500_000), make_product())
    assert x[F["amount_fit"]] == 0.5  # half the minimum
    x = one(make_need(amount_cny=2_500_000), make_product(min_amount_cny=None))
    assert x[F["amount_position"]] == 0.25  # no minimum: share of the maximum
    assert one(make_need(amount_cny=None), make_product())[F["amount_fit"]] == 0.5


def test_region_and_industry_levels() -> None:
    def levels(**kw: object) -> tuple[float, float]:
        x = one(make_need(), make_product(**kw))
        return x[F["region_level"]], x[F["industry_level"]]

    assert levels(regions=["4420"], industries=["C38"]) == (3.0, 3.0)
    assert levels(regions=["44"], industries=["C"]) == (2.0, 2.0)
    assert levels() == (1.0, 1.0)
    assert levels(regions=["51"], industries=["I"]) == (0.0, 0.0)


def test_patent_features() -> None:
    need = make_need(
        amount_cny=5_000_000,
        enterprise={
            "patents": [
                {"kind": "invention", "status": "granted", "valuation_cny": 4_000_000},
                {"kind": "invention", "status": "granted", "valuation_cny": 4_000_000},
                {"kind": "invention", "status": "granted", "valuation_cny": 4_000_000},
                {"kind": "utility_model", "status": "granted", "valuation_cny": 9_000_000},
                {"kind": "invention", "status": "pending", "valuation_cny": 9_000_000},
            ]
        },
    )
    x = one(need, make_product(kind="ip_pledge", accepted_ip=["invention"]))
    assert x[F["invention_patents"]] == 2.0  # log2(1 + 3)
    assert x[F["patent_coverage"]] == pytest.approx(2.4)  # 12 M of inventions / 5 M
    # By default utility models are pledgeable too: (12 M + 9 M) / 5 M, capped at 4.
    assert one(need, make_product(kind="ip_pledge"))[F["patent_coverage"]] == 4.0
    assert one(need, make_product())[F["patent_coverage"]] == 0.0  # a loan: not used
    big = make_need(amount_cny=100_000, enterprise=need["enterprise"])
    assert one(big, make_product(kind="ip_pledge"))[F["patent_coverage"]] == 4.0  # capped


def test_enterprise_features() -> None:
    x = one(make_need(), make_product())
    assert x[F["sme_size"]] == 1.0
    assert x[F["high_tech"]] == 1.0
    assert x[F["revenue_log10"]] == pytest.approx(math.log10(42_000_001))
    assert x[F["staff_log10"]] == pytest.approx(math.log10(87))
    derived = make_need(enterprise={"size": None, "employees": 400, "revenue_cny": 90_000_000})
    assert one(derived, make_product())[F["sme_size"]] == 2.0  # medium by the industrial rule


def test_funder_history_features_count_only_earlier_decisions() -> None:
    need, product = make_need(), make_product()
    outcomes = [
        {"need_id": 1, "product_id": 100, "stage": "approved", "date": "2024-03-01"},
        {"need_id": 2, "product_id": 100, "stage": "declined", "date": "2024-04-01"},
        {"need_id": 3, "product_id": 100, "stage": "funded", "date": "2024-05-01"},
    ]
    needs = [make_need(id=i, enterprise={"id": 10 + i}) for i in (1, 2, 3)]
    history = History.from_outcomes(outcomes, needs, [product])
    assert history.stats(1000, "C", date(2024, 3, 1)) == (0, 0, 0)
    assert history.stats(1000, "C", date(2024, 3, 2)) == (1, 0, 1)
    assert history.stats(1000, "C", date(2024, 6, 1)) == (2, 1, 2)
    assert history.stats(1000, "C", date(2025, 6, 1)) == (2, 1, 0)  # a year later: none recent
    assert history.stats(1000, "I", date(2024, 6, 1)) == (0, 0, 0)
    rate, recent = history.features(1000, "C", date(2024, 6, 1))
    assert rate == pytest.approx(3 / 5)  # Beta(1, 1): (2 + 1) / (3 + 2)
    assert recent == pytest.approx(math.log2(3))
    assert need_profile(need).section == "C"


def test_a_ranking_counts_decisions_made_today_in_beijing() -> None:
    """Without an as-of date, a ranking counts every decision up to Beijing's today: at
    17:00 UTC on 5 December it is already 6 December in Beijing, so a decision dated the
    6th counts, one dated the 7th does not."""
    from datetime import datetime

    from techfin.matching.history import default_as_of

    evening = datetime(2026, 12, 5, 17, 0)  # naive UTC
    assert default_as_of(None, evening) == date(2026, 12, 7)
    assert default_as_of(None, datetime(2026, 12, 5, 15, 59)) == date(2026, 12, 6)
    assert default_as_of(date(2020, 1, 1), evening) == date(2020, 1, 1)
    outcomes = [{"need_id": 1, "product_id": 100, "stage": "approved", "date": "2026-12-06"}]
    history = History.from_outcomes(outcomes, [make_need(id=1)], [make_product()])
    assert history.stats(1000, "C", default_as_of(None, evening))[0] == 1


def _features(ranking) -> dict:
    return {(m.type, m.id): list(m.features.values()) for m in ranking}


def test_batch_features_equal_single_pair_features_both_ways(small_world: World) -> None:
    """The vectorised ranking's feature rows equal pair_features() run one pair at a time
    (reference.py's loop) for every candidate, eligible or almost, in both directions."""
    w = small_world
    space = TextSpace.from_records(products=w.products, needs=w.needs)
    cands = CandidateSet.from_products(w.products, funders=w.funders, text_space=space)
    needs = NeedSet.from_needs(w.needs, text_space=space)
    history = History.from_outcomes(w.outcomes, w.needs, w.products)
    everything = {"limit": 10**6, "almost_limit": 10**6, "as_of": w.end}
    checked = 0
    pairs = [(rank_products_for_need, rank_products_for_need_loop, n, cands) for n in w.needs[:25]]
    pairs += [
        (rank_needs_for_product, rank_needs_for_product_loop, p, needs) for p in w.products[:8]
    ]
    for fast, slow, record, table in pairs:
        a = _features(fast(record, table, None, history, **everything))
        b = _features(slow(record, table, None, history, **everything))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-12, err_msg=str(key))
        checked += len(a)
    assert checked > 2000


def test_coverage_counts_the_products_accepted_ip_kinds() -> None:
    """An IP pledge that accepts software copyrights counts their registered valuations
    (pending ones never), in pair_features and in the vectorised ranking alike; the
    coverage reason names what was pledged."""
    need = make_need(
        kind="ip_pledge",
        amount_cny=1_000_000,
        enterprise={
            "patents": [{"kind": "invention", "status": "granted", "valuation_cny": 1_000_000}],
            "copyrights": [
                {"status": "registered", "valuation_cny": 1_500_000},
                {"status": "pending", "valuation_cny": 9_000_000},
            ],
        },
    )
    soft = make_product(id=1, kind="ip_pledge", accepted_ip=["software_copyright"])
    both = make_product(id=2, kind="ip_pledge", accepted_ip=["invention", "software_copyright"])
    assert one(need, soft)[F["patent_coverage"]] == pytest.approx(1.5)
    assert one(need, both)[F["patent_coverage"]] == pytest.approx(2.5)
    assert one(need, make_product(kind="ip_pledge"))[F["patent_coverage"]] == pytest.approx(1.0)
    ranking = rank_products_for_need(need, CandidateSet.from_products([soft, both]))
    cov = {m.id: m.features["patent_coverage"] for m in ranking}
    assert cov == {1: pytest.approx(1.5), 2: pytest.approx(2.5)}
    reasons = {m.id: m.reason_codes for m in ranking}
    (r1,) = [r for r in reasons[1] if r.code == "patent_coverage"]
    assert r1.params == {"n": 1, "ratio": 1.5, "kinds": ["software_copyright"]}
    assert render_reason(r1) == "1 项软件著作权估值覆盖贷款额 1.5 倍"
    (r2,) = [r for r in reasons[2] if r.code == "patent_coverage"]
    assert render_reason(r2, "en") == "2 IP items valued at 2.5× the loan"


@pytest.mark.parametrize("order", ["F", "C"])
def test_a_rows_weighted_sum_does_not_depend_on_the_other_rows(order: str) -> None:
    """row_dot: a pair's score is the same scored alone (a page's need with one candidate
    left) or among 3 000 (a refresh chunk), to the bit. numpy's einsum takes another path
    for a single row and differs in the last bit for about two rows in three."""
    from techfin.matching.features import row_dot

    rng = np.random.default_rng(7)
    X = np.asarray(rng.normal(size=(3000, 16)) * rng.uniform(0, 100, size=16), order=order)
    w = rng.normal(size=16)
    full = row_dot(X, w)
    for n in (1, 2, 7, 100):
        parts = np.concatenate([row_dot(X[s : s + n], w) for s in range(0, len(X), n)])
        assert (parts == full).all(), n
    per_row = row_dot(X, np.tile(w, (len(X), 1)))  # one weight row per pair (several kinds)
    assert (per_row == full).all()
