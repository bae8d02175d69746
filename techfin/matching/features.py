"""Features a person can read back, once per pair (the oracle) and vectorised.

Each feature is in natural units so a value can be read aloud ("region level 3 = same
city"); the model's StandardScaler takes care of the scales. `FEATURES` is the contract
between training, saved models and ranking: a saved model with another list is refused.

| feature | value |
|---|---|
| amount_fit | 1 inside [min, max]; outside, nearest bound ÷ amount (or amount ÷ min), so 2× the maximum → 0.5; unknown amount 0.5 |
| amount_position | where the amount sits in the range on a log scale, 0 at min … 1 at max (amount ÷ max without a min); 0.5 when there is no max or no amount |
| term_fit | like amount_fit for term_months; an unknown term 1 (it passes the rule too) |
| region_level | 3 the product serves the enterprise's city (prefix ≥ 4 digits) · 2 its province · 1 no restriction · 0 outside |
| industry_level | 3 the product lists its division ("C38") · 2 its section ("C") · 1 no restriction · 0 outside |
| stage_fit | 2 the product lists the enterprise's stage · 1 no restriction · 0 outside / unknown |
| invention_patents | log2(1 + granted invention patents): 1 patent → 1, 3 → 2, 7 → 3 |
| patent_coverage | ip_pledge products only: Σ valuation of the held IP items of the product's accepted_ip kinds (default granted invention patents and utility models) ÷ amount, capped at 4; 0 otherwise |
| sme_size | 0 micro · 1 small · 2 medium · 3 large (unknown → 1) |
| high_tech | 1 certified 高新技术企业, else 0 |
| collateral | 1 the need offers collateral (collateral_available), else 0 |
| revenue_log10 | log10(1 + annual revenue in yuan); unknown 0 |
| staff_log10 | log10(1 + employees); unknown 0 |
| text_relevance | cosine of jieba TF-IDF vectors: need purpose + enterprise name/description vs product name/description + funder description |
| funder_approval_rate | the funder's Beta(1, 1)-smoothed approval rate for enterprises of the same industry section, from decisions dated before the ranking (or example) date |
| funder_recent_approvals | log2(1 + enterprises of that section the funder approved in the 365 days before that date) |
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from techfin.matching.profiles import IP_KINDS, NeedProfile, ProductProfile
from techfin.matching.rules import industry_level, prefix_match_len, region_level

# Columns feature_matrix reads (ranking gathers only these for the rows it scores).
NEED_FEATURE_COLUMNS = (
    "amount",
    "log_amount",
    "term",
    "stage_bit",
    "inventions_log2",
    *(f"ip_value_{k}" for k in IP_KINDS),
    "size_level",
    "high_tech_f",
    "collateral_f",
    "revenue_log10",
    "staff_log10",
)
PRODUCT_FEATURE_COLUMNS = (
    "min_amount",
    "max_amount",
    "log_min",
    "log_max",
    "min_term",
    "max_term",
    "stage_mask",
    "stage_restricted",
    "ip_pledge",
    *(f"accepts_{k}" for k in IP_KINDS),
    "region_restricted",
    "industry_restricted",
)

FEATURES: tuple[str, ...] = (
    "amount_fit",
    "amount_position",
    "term_fit",
    "region_level",
    "industry_level",
    "stage_fit",
    "invention_patents",
    "patent_coverage",
    "sme_size",
    "high_tech",
    "collateral",
    "revenue_log10",
    "staff_log10",
    "text_relevance",
    "funder_approval_rate",
    "funder_recent_approvals",
)
FEATURE_INDEX = {f: i for i, f in enumerate(FEATURES)}
COVERAGE_CAP = 4.0


def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def _fit(value: float | None, lo: float | None, hi: float | None, unknown: float) -> float:
    if value is None:
        return unknown
    if lo is not None and value < lo:
        return _clip01(value / lo)
    if hi is not None and value > hi:
        return _clip01(hi / value)
    return 1.0


def _position(a: float | None, lo: float | None, hi: float | None) -> float:
    if a is None or hi is None:
        return 0.5
    if lo is None:
        return _clip01(a / hi)
    if hi <= lo:
        return 0.5
    return _clip01((math.log(a) - math.log(lo)) / (math.log(hi) - math.log(lo)))


def pair_features(
    need: NeedProfile,
    product: ProductProfile,
    text_relevance: float = 0.0,
    funder_stats: tuple[float, float] = (0.5, 0.0),
) -> list[float]:
    """The FEATURES of one pair, in order, computed with plain Python arithmetic.

    `funder_stats` is History.features(...) for the product's funder and the need's
    industry section: (approval rate, log2(1 + recent approvals)).
    """
    a = need.amount
    rlen = prefix_match_len(need.region, product.regions)
    ilen = prefix_match_len(need.industry, product.industries)
    stage = 1.0
    if product.stages_restricted:
        stage = 2.0 if need.stage in product.stages else 0.0
    coverage = 0.0
    if product.is_ip_pledge and a is not None:
        coverage = min(need.ip_held(product.accepted_ip)[1] / a, COVERAGE_CAP)
    return [
        _fit(a, product.min_amount, product.max_amount, 0.5),
        _position(a, product.min_amount, product.max_amount),
        _fit(need.term, product.min_term, product.max_term, 1.0),
        float(region_level(bool(product.regions), rlen)),
        float(industry_level(bool(product.industries), ilen)),
        stage,
        math.log2(1 + need.inventions),
        coverage,
        need.size_level,
        1.0 if need.high_tech else 0.0,
        1.0 if need.collateral else 0.0,
        math.log10(1 + need.revenue) if need.revenue is not None else 0.0,
        math.log10(1 + need.employees) if need.employees is not None else 0.0,
        float(text_relevance),
        float(funder_stats[0]),
        float(funder_stats[1]),
    ]


def _vfit(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, unknown: float) -> np.ndarray:
    # Values and bounds are positive (profiles.positive), so where each ratio is selected
    # it already lies in (0, 1): no clipping needed.
    with np.errstate(divide="ignore", invalid="ignore"):
        below = v / lo
        above = hi / v
    out = np.where(v < lo, below, np.where(v > hi, above, 1.0))
    return np.where(np.isnan(v), unknown, out)


def _vposition(n: dict[str, Any], p: dict[str, Any]) -> np.ndarray:
    a, lo, hi = n["amount"], p["min_amount"], p["max_amount"]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.clip(a / hi, 0.0, 1.0)
        span = p["log_max"] - p["log_min"]
        logpos = np.clip((n["log_amount"] - p["log_min"]) / span, 0.0, 1.0)
    out = np.where(np.isnan(lo), linear, np.where(hi <= lo, 0.5, logpos))
    return np.where(np.isnan(a) | np.isnan(hi), 0.5, out)


def feature_matrix(
    n: dict[str, Any],
    p: dict[str, Any],
    region_len: np.ndarray,
    industry_len: np.ndarray,
    text_relevance: np.ndarray,
    funder_rate: np.ndarray,
    funder_recent: np.ndarray,
) -> np.ndarray:
    """(pairs × FEATURES) float64 matrix, the same arithmetic as pair_features on arrays."""
    a = n["amount"]
    lo, hi = p["min_amount"], p["max_amount"]
    # Level by matched prefix length, as rules.region_level / industry_level.
    region = np.where(p["region_restricted"], _REGION_BY_LEN[np.minimum(region_len, 4)], 1.0)
    industry = np.where(
        p["industry_restricted"], _INDUSTRY_BY_LEN[np.minimum(industry_len, 3)], 1.0
    )
    stage = np.where(
        p["stage_restricted"], np.where((p["stage_mask"] & n["stage_bit"]) != 0, 2.0, 0.0), 1.0
    )
    pledge = sum(n[f"ip_value_{k}"] * p[f"accepts_{k}"] for k in IP_KINDS)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.minimum(pledge / a, COVERAGE_CAP)
    coverage = np.where(p["ip_pledge"] & ~np.isnan(a), coverage, 0.0)
    cols = (
        _vfit(a, lo, hi, 0.5),
        _vposition(n, p),
        _vfit(n["term"], p["min_term"], p["max_term"], 1.0),
        region,
        industry,
        stage,
        n["inventions_log2"],
        coverage,
        n["size_level"],
        n["high_tech_f"],
        n["collateral_f"],
        n["revenue_log10"],
        n["staff_log10"],
        text_relevance,
        funder_rate,
        funder_recent,
    )
    shape = np.broadcast_shapes(*(np.shape(c) for c in cols))
    # Column-major, so each column is written contiguously; scoring does not mind.
    out = np.empty((shape[0] if shape else 1, len(FEATURES)), dtype=np.float64, order="F")
    for j, c in enumerate(cols):
        out[:, j] = c
    return out


def row_dot(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each row of X times w (one weight vector, or one row of weights per row of X),
    summed feature by feature in FEATURES order: a row's value is then the same whatever
    other rows share the call. (einsum's and BLAS's summation order follows the array's
    shape and strides, so a need ranked alone and the same need in a refresh chunk of 200
    could differ in the last bit of a score.)"""
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(w, dtype=np.float64)
    out = np.zeros(X.shape[0], dtype=np.float64)
    for j in range(X.shape[1]):
        out += X[:, j] * (W[j] if W.ndim == 1 else W[:, j])
    return out


_REGION_BY_LEN = np.array([0.0, 2.0, 2.0, 2.0, 3.0])
_INDUSTRY_BY_LEN = np.array([0.0, 2.0, 2.0, 3.0])


def fix_features(
    X: np.ndarray, failed: np.ndarray, rules: tuple[str, ...], copy: bool = True
) -> np.ndarray:
    """The feature rows as they would read once every failed *fixable* rule is met:
    the amount moved to the nearest bound (fit 1, position 0 or 1), the term inside the
    range, one granted invention patent, collateral offered, high-tech certified.

    `failed` is the boolean (rows × rules) matrix of rules.failed_rules, `rules` its
    column names. Unfixable failures are left as they are. copy=False edits X in place
    (for a caller that passes a fresh copy already).
    """
    out = np.array(X, dtype=np.float64, copy=True) if copy else X
    f = FEATURE_INDEX
    col = {r: failed[:, i] for i, r in enumerate(rules)}
    amount = col["amount"]
    if amount.any():
        # Below the minimum the fit is amount ÷ min < 1 and position 0; above the maximum,
        # position 1: the amount moves to the bound it missed.
        low = out[:, f["amount_position"]] < 0.5
        out[amount, f["amount_fit"]] = 1.0
        out[amount, f["amount_position"]] = np.where(low[amount], 0.0, 1.0)
    out[col["term"], f["term_fit"]] = 1.0
    patent = col["patent"]
    out[patent, f["invention_patents"]] = np.maximum(out[patent, f["invention_patents"]], 1.0)
    out[col["collateral"], f["collateral"]] = 1.0
    out[col["high_tech"], f["high_tech"]] = 1.0
    return out
