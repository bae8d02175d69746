"""Hard eligibility rules, once per pair (the oracle) and vectorised over many pairs.

Rules, in the order gaps are listed:

- amount: the need's amount within [min_amount_cny, max_amount_cny], both inclusive; an
  unknown amount fails only when the product has a bound.
- term: term_months within [min_term_months, max_term_months], inclusive; an unknown term
  passes (the term is optional on a need and usually negotiated).
- region: the enterprise's six-digit region code starts with one of the product's region
  prefixes (the funder's when the product lists none); none listed = everywhere. An
  unknown region fails a restricted product.
- industry: the enterprise's industry code ("C38") starts with one of the listed prefixes
  ("C" or "C38"); same rules for empty lists and unknown codes.
- stage: the enterprise's stage is one of the listed stages; unknown fails a restricted one.
- patent (requires_patent): the enterprise holds at least min_ip_count (default 1) items
  of the product's accepted_ip kinds (invention / utility_model / design patents, software
  copyrights, trademarks; default invention + utility_model, interchange.md). Patents
  count once granted, copyrights and trademarks once registered; pending and lapsed items
  never count. A granted invention patent satisfies every product that lists no
  accepted_ip, as it always did.
- collateral (requires_collateral): the need says collateral_available.
- high_tech (requires_high_tech): the enterprise is a certified 高新技术企业.

A zero or negative bound means "no bound" (see profiles.positive), so amount exactly at
min or max passes and one yuan beyond fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from techfin.matching.profiles import IP_KINDS, STAGE_BITS, NeedProfile, ProductProfile
from techfin.matching.reasons import Gap

RULES = ("amount", "term", "region", "industry", "stage", "patent", "collateral", "high_tech")
RULE_INDEX = {r: i for i, r in enumerate(RULES)}


def prefix_match_len(value: str | None, prefixes: tuple[str, ...]) -> int:
    """Length of the longest prefix in `prefixes` that `value` starts with (0 = none)."""
    if not value:
        return 0
    return max((len(p) for p in prefixes if value.startswith(p)), default=0)


def region_level(restricted: bool, match_len: int) -> int:
    """3 same city (prefix of ≥ 4 digits) · 2 same province · 1 unrestricted · 0 outside."""
    if not restricted:
        return 1
    return 3 if match_len >= 4 else 2 if match_len >= 1 else 0


def industry_level(restricted: bool, match_len: int) -> int:
    """3 division ("C38") · 2 section ("C") · 1 unrestricted · 0 outside."""
    if not restricted:
        return 1
    return 3 if match_len >= 3 else 2 if match_len >= 1 else 0


def check_eligibility(need: NeedProfile, product: ProductProfile) -> list[Gap]:
    """Every failed rule as a Gap with its params; [] means eligible."""
    gaps: list[Gap] = []
    a, lo, hi = need.amount, product.min_amount, product.max_amount
    if a is None:
        if lo is not None or hi is not None:
            gaps.append(Gap("amount_unknown", "amount", {"min": lo, "max": hi}))
    elif lo is not None and a < lo:
        gaps.append(
            Gap("amount_below_min", "amount", {"amount": a, "min": lo, "shortfall": lo - a})
        )
    elif hi is not None and a > hi:
        gaps.append(Gap("amount_above_max", "amount", {"amount": a, "max": hi, "excess": a - hi}))

    t, tlo, thi = need.term, product.min_term, product.max_term
    if t is not None:
        if tlo is not None and t < tlo:
            gaps.append(Gap("term_below_min", "term", {"term": t, "min": tlo}))
        elif thi is not None and t > thi:
            gaps.append(Gap("term_above_max", "term", {"term": t, "max": thi}))

    if product.regions and prefix_match_len(need.region, product.regions) == 0:
        params = {"region": need.region, "allowed": list(product.regions)}
        gaps.append(Gap("region_outside" if need.region else "region_unknown", "region", params))

    if product.industries and prefix_match_len(need.industry, product.industries) == 0:
        params = {"industry": need.industry, "allowed": list(product.industries)}
        code = "industry_outside" if need.industry else "industry_unknown"
        gaps.append(Gap(code, "industry", params))

    if product.stages_restricted and need.stage not in product.stages:
        params = {"stage": need.stage, "allowed": list(product.stages)}
        gaps.append(Gap("stage_outside" if need.stage else "stage_unknown", "stage", params))

    if product.requires_patent:
        held = need.ip_held(product.accepted_ip)[0]
        if held < product.min_ip_count:
            params = {"missing": product.min_ip_count - held, "kinds": list(product.accepted_ip)}
            gaps.append(Gap("ip_required", "patent", params))

    if product.requires_collateral and not need.collateral:
        gaps.append(Gap("collateral_required", "collateral", {}))
    if product.requires_high_tech and not need.high_tech:
        gaps.append(Gap("high_tech_required", "high_tech", {}))
    return gaps


def _rule_columns(
    n: dict[str, Any], p: dict[str, Any], region_len: np.ndarray, industry_len: np.ndarray
) -> tuple[np.ndarray, ...]:
    a = n["amount"]
    amount = (np.isnan(a) & p["amount_bounded"]) | (a < p["min_amount"]) | (a > p["max_amount"])
    t = n["term"]
    term = (t < p["min_term"]) | (t > p["max_term"])
    region = p["region_restricted"] & (region_len == 0)
    industry = p["industry_restricted"] & (industry_len == 0)
    stage = p["stage_restricted"] & ((p["stage_mask"] & n["stage_bit"]) == 0)
    held = sum(n[f"ip_count_{k}"] * p[f"accepts_{k}"] for k in IP_KINDS)
    patent = p["requires_patent"] & (held < p["min_ip_count"])
    collateral = p["requires_collateral"] & ~n["collateral"]
    high_tech = p["requires_high_tech"] & ~n["high_tech"]
    return amount, term, region, industry, stage, patent, collateral, high_tech


def failed_rules(
    n: dict[str, Any], p: dict[str, Any], region_len: np.ndarray, industry_len: np.ndarray
) -> np.ndarray:
    """Boolean (pairs × RULES) matrix; `n` and `p` are column dicts that broadcast together.

    One side is usually a single row (shape (1,)), the other all candidates; NaN stands for
    an unknown value or an open bound, and every NaN comparison is False, which is exactly
    "no bound → passes".
    """
    cols = _rule_columns(n, p, region_len, industry_len)
    shape = np.broadcast_shapes(*(np.shape(c) for c in cols))
    return np.column_stack([np.broadcast_to(c, shape) for c in cols]).reshape(-1, len(RULES))


def rule_columns(
    n: dict[str, Any], p: dict[str, Any], region_len: np.ndarray, industry_len: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """(one boolean column per RULES, broadcast to the pairs, failed-rule count per pair):
    count_failed and, for any rows, failed_rules from a single evaluation of the rules."""
    cols = _rule_columns(n, p, region_len, industry_len)
    shape = np.broadcast_shapes(*(np.shape(c) for c in cols))
    out = np.zeros(shape, dtype=np.int8)
    for c in cols:
        out += c
    return [np.broadcast_to(c, shape) for c in cols], out


def count_failed(
    n: dict[str, Any], p: dict[str, Any], region_len: np.ndarray, industry_len: np.ndarray
) -> np.ndarray:
    """Number of failed rules per pair (failed_rules(...).sum(axis=1) without the matrix)."""
    cols = _rule_columns(n, p, region_len, industry_len)
    out = np.zeros(np.broadcast_shapes(*(np.shape(c) for c in cols)), dtype=np.int8)
    for c in cols:
        out += c
    return out


def stage_bit(stage: str | None) -> int:
    return STAGE_BITS.get(stage or "", 0)


def stage_mask(stages: tuple[str, ...]) -> int:
    out = 0
    for s in stages:
        out |= STAGE_BITS.get(s, 0)
    return out
