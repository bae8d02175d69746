"""Every eligibility rule on its boundaries, in the oracle and both vectorised directions."""

from __future__ import annotations

import pytest
from matching_data import failed, gaps, make_need, make_product

from techfin.matching import Gap, render_gap

MIN, MAX = 1_000_000, 10_000_000


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (MIN, []),
        (MAX, []),
        (MIN - 1, ["amount"]),
        (MAX + 1, ["amount"]),
        ((MIN + MAX) // 2, []),
    ],
)
def test_amount_bounds_are_inclusive(amount: int, expected: list[str]) -> None:
    assert failed(make_need(amount_cny=amount), make_product()) == expected


def test_amount_gap_says_by_how_much() -> None:
    (below,) = gaps(make_need(amount_cny=MIN - 1), make_product())
    assert below.code == "amount_below_min"
    assert below.params["shortfall"] == 1
    (above,) = gaps(make_need(amount_cny=MAX + 10_000), make_product())
    assert above.code == "amount_above_max"
    assert above.params["excess"] == 10_000
    assert render_gap(above).startswith("金额超过产品上限 1,000 万元")
    assert render_gap(above, "en").startswith("amount above the product maximum of 1,000 万元")
    assert render_gap(below).startswith("金额低于产品下限 100 万元")


@pytest.mark.parametrize("bound", [None, 0, -5, "", "abc"])
def test_missing_or_meaningless_bounds_are_open(bound: object) -> None:
    product = make_product(min_amount_cny=bound, max_amount_cny=bound)
    assert failed(make_need(amount_cny=1), product) == []
    assert failed(make_need(amount_cny=10**12), product) == []


def test_unknown_amount_fails_only_a_bounded_product() -> None:
    assert failed(make_need(amount_cny=None), make_product()) == ["amount"]
    assert gaps(make_need(amount_cny=None), make_product())[0].code == "amount_unknown"
    open_product = make_product(min_amount_cny=None, max_amount_cny=None)
    assert failed(make_need(amount_cny=None), open_product) == []


@pytest.mark.parametrize(
    ("term", "expected", "code"),
    [
        (6, [], None),
        (36, [], None),
        (5, ["term"], "term_below_min"),
        (37, ["term"], "term_above_max"),
        (None, [], None),  # the term is optional on a need: unknown passes
    ],
)
def test_term_bounds(term: int | None, expected: list[str], code: str | None) -> None:
    need = make_need(term_months=term)
    assert failed(need, make_product()) == expected
    if code:
        assert gaps(need, make_product())[0].code == code


def test_term_gap_text() -> None:
    (gap,) = gaps(make_need(term_months=48), make_product())
    assert render_gap(gap) == "期限 48 个月超过产品最长期限 36 个月"
    assert render_gap(gap, "en") == "term of 48 months above the product maximum of 36 months"


@pytest.mark.parametrize(
    ("regions", "expected"),
    [
        ([], []),
        (None, []),
        (["44"], []),
        (["4420"], []),
        (["442000"], []),
        (["4419"], ["region"]),
        (["51", "4420"], []),
        (["4420001"], ["region"]),  # longer than the code: cannot be its prefix
        (["  "], []),  # blank entries are dropped, leaving no restriction
        ("44", []),  # a bare string is one prefix, not two characters
    ],
)
def test_region_prefixes(regions: object, expected: list[str]) -> None:
    assert failed(make_need(), make_product(regions=regions)) == expected


def test_region_gap_names_the_place() -> None:
    (gap,) = gaps(make_need(), make_product(regions=["4419"]))
    assert gap.code == "region_outside"
    assert render_gap(gap, names={"442000": "中山市"}) == "不在中山市服务范围"
    assert render_gap(gap, "en", names={"442000": "中山市"}) == "not available in 中山市"
    assert render_gap(gap) == "不在442000服务范围"  # no names: the code stands in


def test_product_without_regions_serves_its_funders_regions() -> None:
    assert failed(make_need(), make_product(funder={"regions": ["4419"]})) == ["region"]
    assert failed(make_need(), make_product(regions=["44"], funder={"regions": ["4419"]})) == []


def test_unknown_region_fails_a_restricted_product() -> None:
    need = make_need(enterprise={"region": None})
    assert failed(need, make_product(regions=["44"])) == ["region"]
    assert gaps(need, make_product(regions=["44"]))[0].code == "region_unknown"
    assert failed(need, make_product()) == []


@pytest.mark.parametrize(
    ("industries", "industry", "expected"),
    [
        ([], "C38", []),
        (["C"], "C38", []),
        (["C38"], "C38", []),
        (["c38"], "C38", []),
        (["C38"], "c38", []),
        (["C39"], "C38", ["industry"]),
        (["I"], "C38", ["industry"]),
        (["C38"], None, ["industry"]),
        (["C381"], "C38", ["industry"]),
    ],
)
def test_industry_prefixes(
    industries: list[str], industry: str | None, expected: list[str]
) -> None:
    need = make_need(enterprise={"industry": industry})
    assert failed(need, make_product(industries=industries)) == expected


def test_industry_gap_codes() -> None:
    assert gaps(make_need(), make_product(industries=["I65"]))[0].code == "industry_outside"
    unknown = make_need(enterprise={"industry": None})
    assert gaps(unknown, make_product(industries=["I65"]))[0].code == "industry_unknown"


@pytest.mark.parametrize(
    ("stages", "stage", "expected"),
    [
        ([], "growth", []),
        (["growth"], "growth", []),
        (["startup", "growth"], "growth", []),
        (["seed"], "growth", ["stage"]),
        (["growth"], None, ["stage"]),
        (["growth"], "pre-ipo", ["stage"]),
        (["angel"], "growth", ["stage"]),  # only unknown stages listed: still a restriction
    ],
)
def test_stage(stages: list[str], stage: str | None, expected: list[str]) -> None:
    need = make_need(enterprise={"stage": stage})
    assert failed(need, make_product(stages=stages)) == expected


def test_stage_gap_text() -> None:
    (gap,) = gaps(
        make_need(enterprise={"stage": "startup"}), make_product(stages=["growth", "mature"])
    )
    assert render_gap(gap) == "产品只支持成长期、成熟期企业"
    assert render_gap(gap, "en") == "only for growth, mature-stage firms"
    (unknown,) = gaps(make_need(enterprise={"stage": None}), make_product(stages=["growth"]))
    assert render_gap(unknown) == "未填写企业发展阶段"


UTILITY = {"kind": "utility_model", "status": "granted", "valuation_cny": 900_000}
DESIGN = {"kind": "design", "status": "granted"}
COPYRIGHT = {"kind": "software_copyright", "status": "registered", "valuation_cny": 500_000}


@pytest.mark.parametrize(
    ("patents", "ip_expected", "loan_expected"),
    [
        ([{"kind": "invention", "status": "granted"}], [], []),
        # interchange.md: requires_patent without accepted_ip accepts inventions and
        # utility models, for IP pledges and other products alike.
        ([UTILITY], [], []),
        ([DESIGN], ["patent"], ["patent"]),
        ([COPYRIGHT], ["patent"], ["patent"]),
        ([{"kind": "invention", "status": "pending"}], ["patent"], ["patent"]),
        ([{"kind": "invention", "status": "lapsed"}], ["patent"], ["patent"]),
        ([], ["patent"], ["patent"]),
        (None, ["patent"], ["patent"]),
        (["garbage", None], ["patent"], ["patent"]),
    ],
)
def test_required_patents(
    patents: object, ip_expected: list[str], loan_expected: list[str]
) -> None:
    need = make_need(enterprise={"patents": patents})
    ip = make_product(kind="ip_pledge", requires_patent=True)
    loan = make_product(requires_patent=True)
    assert failed(need, ip) == ip_expected
    assert failed(need, loan) == loan_expected
    assert failed(need, make_product(kind="ip_pledge")) == []  # not required: no rule


def test_patent_gap_texts() -> None:
    need = make_need(enterprise={"patents": [DESIGN]})
    (gap,) = gaps(need, make_product(kind="ip_pledge", requires_patent=True))
    assert (gap.code, gap.params) == (
        "ip_required",
        {"missing": 1, "kinds": ["invention", "utility_model"]},
    )
    assert gap.fixable
    assert render_gap(gap) == "需 1 项已授权发明专利或实用新型专利"
    assert render_gap(gap, "en") == "needs 1 granted invention patent or utility model patent"
    # Gaps stored before accepted_ip existed still render.
    old = Gap("patent_invention_required", "patent", {"missing": 1})
    assert render_gap(old) == "需 1 项已授权发明专利"
    assert render_gap(Gap("patent_required", "patent", {"missing": 1}), "en") == (
        "needs 1 granted patent"
    )


def test_accepted_ip_and_min_ip_count() -> None:
    soft = make_product(requires_patent=True, accepted_ip=["software_copyright"], min_ip_count=2)
    one_copyright = make_need(enterprise={"patents": [COPYRIGHT]})
    (gap,) = gaps(one_copyright, soft)
    assert gap.params == {"missing": 1, "kinds": ["software_copyright"]}
    assert render_gap(gap) == "需 1 项已登记的软件著作权"
    assert render_gap(gap, "en") == "needs 1 registered software copyright"
    pending = {**COPYRIGHT, "status": "pending"}
    # Copyrights and trademarks may also come in their own lists.
    two = make_need(enterprise={"patents": [], "copyrights": [COPYRIGHT, COPYRIGHT]})
    assert failed(two, soft) == []
    assert failed(make_need(enterprise={"patents": [COPYRIGHT, pending]}), soft) == ["patent"]
    (none,) = gaps(make_need(enterprise={"patents": []}), soft)
    assert render_gap(none, "en") == "needs 2 registered software copyrights"
    brand = make_product(requires_patent=True, accepted_ip=["trademark", "invention"])
    mark = {"kind": "trademark", "status": "registered"}
    assert failed(make_need(enterprise={"patents": [], "trademarks": [mark]}), brand) == []
    (mixed,) = gaps(make_need(enterprise={"patents": []}), brand)
    assert render_gap(mixed) == "需 1 项已授权或已登记的注册商标或发明专利"


def test_a_granted_invention_still_satisfies_every_patent_rule() -> None:
    """Today's dicts (no accepted_ip) keep working: one granted invention patent meets
    requires_patent for every kind of product, as before IP kinds were added."""
    need = make_need(enterprise={"patents": [{"kind": "invention", "status": "granted"}]})
    for kind in ("loan", "ip_pledge", "equity", "guarantee", "insurance"):
        assert (
            failed(
                make_need(kind=kind, enterprise=need["enterprise"]),
                make_product(kind=kind, requires_patent=True),
            )
            == []
        )


@pytest.mark.parametrize(
    ("available", "expected"), [(True, []), (False, ["collateral"]), (None, ["collateral"])]
)
def test_collateral(available: object, expected: list[str]) -> None:
    need = make_need(collateral_available=available)
    assert failed(need, make_product(requires_collateral=True)) == expected
    assert failed(need, make_product(requires_collateral=False)) == []
    if expected:
        assert render_gap(gaps(need, make_product(requires_collateral=True))[0]) == "需提供抵押物"


@pytest.mark.parametrize(
    ("high_tech", "expected"), [(True, []), (False, ["high_tech"]), (None, ["high_tech"])]
)
def test_high_tech(high_tech: object, expected: list[str]) -> None:
    need = make_need(enterprise={"high_tech": high_tech})
    assert failed(need, make_product(requires_high_tech=True)) == expected
    if expected:
        (gap,) = gaps(need, make_product(requires_high_tech=True))
        assert render_gap(gap) == "需高新技术企业认定"
        assert render_gap(gap, "en") == "requires high-tech enterprise certification"


def test_several_failures_are_listed_in_rule_order() -> None:
    need = make_need(amount_cny=MAX + 1, enterprise={"high_tech": False, "region": "510100"})
    product = make_product(regions=["44"], requires_high_tech=True)
    assert failed(need, product) == ["amount", "region", "high_tech"]


def test_bare_records_never_crash() -> None:
    bare_need, bare_product = {"id": 1}, {"id": 2}
    assert failed(bare_need, bare_product) == []
    odd = {"id": 3, "amount_cny": "lots", "term_months": [], "enterprise": None}
    assert failed(odd, make_product()) == ["amount"]
    weird = make_product(regions=[None, 51], industries=None, stages=None)
    weird["funder"] = None
    assert failed(make_need(), weird) == ["region"]
    assert failed(make_need(), make_product(regions=[None, 44])) == []
