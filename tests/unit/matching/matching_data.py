"""Record builders and a three-way eligibility check shared by the matching tests."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from techfin.matching.candidates import (
    CandidateSet,
    CodeColumn,
    NeedSet,
    PrefixLists,
    need_columns,
    product_columns,
)
from techfin.matching.profiles import need_profile, product_profile
from techfin.matching.rules import RULES, check_eligibility, failed_rules
from techfin.matching.text import TextSpace

ENTERPRISE: dict[str, Any] = {
    "id": 10,
    "ref": "E-001",
    "name": "中山市明辉照明科技有限公司",
    "industry": "C38",
    "region": "442000",
    "stage": "growth",
    "high_tech": True,
    "employees": 86,
    "revenue_cny": 42_000_000,
    "size": "small",
    "description": "LED 智能灯饰研发与制造",
    "patents": [{"kind": "invention", "status": "granted", "valuation_cny": 6_000_000}],
}
NEED: dict[str, Any] = {
    "id": 1,
    "ref": "N-001",
    "kind": "loan",
    "amount_cny": 5_000_000,
    "term_months": 12,
    "purpose": "新产品生产线流动资金",
    "collateral_available": False,
    "status": "published",
    "created": "2024-06-01",
}
FUNDER: dict[str, Any] = {
    "id": 1000,
    "ref": "F-001",
    "name": "中山农商银行科技支行",
    "kind": "bank",
    "regions": [],
    "description": "科技型中小企业信贷服务",
}
PRODUCT: dict[str, Any] = {
    "id": 100,
    "ref": "P-001",
    "name": "科创信用贷",
    "kind": "loan",
    "min_amount_cny": 1_000_000,
    "max_amount_cny": 10_000_000,
    "min_term_months": 6,
    "max_term_months": 36,
    "rate_min": 3.85,
    "rate_max": 5.5,
    "industries": [],
    "regions": [],
    "stages": [],
    "requires_patent": False,
    "requires_collateral": False,
    "requires_high_tech": False,
    "status": "active",
    "description": "科技型企业 纯信用 流动资金贷款",
}


def make_need(enterprise: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    need = copy.deepcopy(NEED)
    need["enterprise"] = {**copy.deepcopy(ENTERPRISE), **(enterprise or {})}
    need.update(fields)
    return need


def make_product(funder: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    product = copy.deepcopy(PRODUCT)
    product["funder"] = {**copy.deepcopy(FUNDER), **(funder or {})}
    product.update(fields)
    return product


def failed(need: dict[str, Any], product: dict[str, Any]) -> list[str]:
    """Failed rule names; asserts the oracle and both vectorised directions agree."""
    n, p = need_profile(need), product_profile(product)
    scalar = [g.rule for g in check_eligibility(n, p)]

    fwd = failed_rules(
        need_columns([n]),
        product_columns([p]),
        PrefixLists([p.regions]).match_len(n.region),
        PrefixLists([p.industries]).match_len(n.industry),
    )[0]
    rev = failed_rules(
        need_columns([n]),
        product_columns([p]),
        CodeColumn([n.region]).match_len(p.regions),
        CodeColumn([n.industry]).match_len(p.industries),
    )[0]
    # And through the sets' per-kind blocks, as ranking uses them.
    cands, needs = CandidateSet([p], TextSpace(None)), NeedSet([n], TextSpace(None))
    if p.active and n.status in (None, "published"):
        cb, nb = cands.block(p.kind), needs.block(n.kind)
        blk_fwd = failed_rules(
            need_columns([n]),
            cb.cols,
            cb.regions.match_len(n.region),
            cb.industries.match_len(n.industry),
        )[0]
        blk_rev = failed_rules(
            nb.cols,
            product_columns([p]),
            nb.regions.match_len(p.regions),
            nb.industries.match_len(p.industries),
        )[0]
        assert _names(blk_fwd) == scalar and _names(blk_rev) == scalar
    assert _names(fwd) == scalar, (_names(fwd), scalar)
    assert _names(rev) == scalar, (_names(rev), scalar)
    return scalar


def _names(row: np.ndarray) -> list[str]:
    return [r for r, f in zip(RULES, row.tolist(), strict=True) if f]


def gaps(need: dict[str, Any], product: dict[str, Any]):
    return check_eligibility(need_profile(need), product_profile(product))
