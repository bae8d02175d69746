"""The straightforward per-candidate loop: one pair at a time, plain Python arithmetic.

It is the oracle the vectorised ranking is tested against and the baseline the benchmark
prints beside it: same rules, same features, same scores, no numpy in the per-pair work.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np

from techfin.matching.candidates import CandidateSet, NeedSet
from techfin.matching.features import fix_features, pair_features
from techfin.matching.history import History, default_as_of
from techfin.matching.kindmodel import PairContext, entity_key, product_key
from techfin.matching.profiles import need_profile, product_profile
from techfin.matching.ranking import MAX_GAPS, Ranking, _match
from techfin.matching.reasons import Names
from techfin.matching.rules import RULES, check_eligibility
from techfin.matching.scoring import Prior, Scorer
from techfin.matching.text import cosine


def _select(
    scored: list[tuple[float, int, int, Any]], limit: int, include_almost: bool, almost_limit: int
):
    # Same tie rule as ranking._pick: scores equal to 1e-12 tie, candidate order decides;
    # almost-eligible ones: fixable first, then by the score once fixed.
    def q(s: float) -> int:
        return round(s * 1e12)

    eligible = sorted((s for s in scored if s[1] == 0), key=lambda s: (-q(s[0]), s[2]))
    almost = []
    if include_almost and almost_limit > 0:
        almost = sorted(
            (s for s in scored if 1 <= s[1] <= MAX_GAPS),
            key=lambda s: (-(q(s[3][4]) + 2e12 * s[3][5]), s[2]),
        )
    return eligible[: max(limit, 0)], almost[:almost_limit]


def _score_one(scorer: Scorer, x: list[float], ctx: PairContext) -> float:
    if getattr(scorer, "uses_context", False):
        return scorer.score_one(x, ctx)  # type: ignore[call-arg]
    return scorer.score_one(x)


def _contributions(scorer: Scorer, x: list[float], ctx: PairContext) -> np.ndarray:
    if getattr(scorer, "uses_context", False):
        return scorer.contributions(np.array([x]), ctx)[0]  # type: ignore[call-arg]
    return scorer.contributions(np.array([x]))[0]


def _scored(
    scorer: Scorer, x: list[float], gaps: list, ctx: PairContext
) -> tuple[float, float, bool]:
    """(score, score once the fixable gaps are closed, every gap fixable)."""
    s = _score_one(scorer, x, ctx)
    if not gaps:
        return s, s, True
    failed = {g.rule for g in gaps}
    mask = np.array([[r in failed for r in RULES]])
    fixed = fix_features(np.array([x]), mask, RULES)[0].tolist()
    return s, _score_one(scorer, fixed, ctx), all(g.fixable for g in gaps)


def rank_products_for_need_loop(
    need: Mapping[str, Any],
    candidates: CandidateSet,
    scorer: Scorer | None = None,
    history: History | None = None,
    *,
    locale: str = "zh_CN",
    limit: int = 20,
    include_almost: bool = True,
    almost_limit: int = 5,
    names: Names = None,
    as_of: date | None = None,
) -> Ranking:
    """rank_products_for_need, one candidate at a time."""
    scorer = scorer or Prior()
    history = history or History.empty()
    as_of = default_as_of(as_of)
    n = need_profile(need)
    nw = candidates.text_space.weights(n.text)
    rows = candidates.rows_for(n.kind).tolist()
    scored = []
    for pos, i in enumerate(rows):
        p = candidates.profiles[i]
        gaps = check_eligibility(n, p)
        if len(gaps) > (MAX_GAPS if include_almost else 0):
            continue
        x = pair_features(
            n, p, cosine(nw, candidates.weights(i)), history.features(p.funder_id, n.section, as_of)
        )
        ctx = PairContext(n.kind, [entity_key(p.funder_id)], [product_key(p.type, p.id)])
        s, fixed, fixable = _scored(scorer, x, gaps, ctx)
        scored.append((s, len(gaps), pos, (i, x, gaps, ctx, fixed, fixable)))
    eligible, almost = _select(scored, limit, include_almost, almost_limit)
    calibrated = bool(getattr(scorer, "calibrated", False))
    matches = []
    for s, _, _, (i, x, gaps, ctx, fixed, _fixable) in eligible + almost:
        p = candidates.profiles[i]
        stats = history.stats(p.funder_id, n.section, as_of)
        matches.append(
            _match(
                p.id,
                p.type,
                p.ref,
                p.name,
                s,
                np.array(x),
                _contributions(scorer, x, ctx),
                n,
                p,
                stats,
                gaps,
                locale,
                names,
                calibrated,
                fixed if gaps else None,
            )
        )
    n_elig = sum(1 for s in scored if s[1] == 0)
    return Ranking(matches, scorer.info, len(rows), n_elig, len(scored) - n_elig)


def rank_needs_for_product_loop(
    product: Mapping[str, Any],
    needs: NeedSet,
    scorer: Scorer | None = None,
    history: History | None = None,
    *,
    locale: str = "zh_CN",
    limit: int = 20,
    include_almost: bool = True,
    almost_limit: int = 5,
    names: Names = None,
    as_of: date | None = None,
) -> Ranking:
    """rank_needs_for_product, one need at a time."""
    scorer = scorer or Prior()
    history = history or History.empty()
    as_of = default_as_of(as_of)
    p = product_profile(product)
    pw = needs.text_space.weights(p.text)
    rows = needs.rows_for(p.kind).tolist()
    ctx = PairContext(p.kind, [entity_key(p.funder_id)], [product_key(p.type, p.id)])
    scored = []
    for pos, i in enumerate(rows):
        n = needs.profiles[i]
        gaps = check_eligibility(n, p)
        if len(gaps) > (MAX_GAPS if include_almost else 0):
            continue
        x = pair_features(
            n, p, cosine(needs.weights(i), pw), history.features(p.funder_id, n.section, as_of)
        )
        s, fixed, fixable = _scored(scorer, x, gaps, ctx)
        scored.append((s, len(gaps), pos, (i, x, gaps, ctx, fixed, fixable)))
    eligible, almost = _select(scored, limit, include_almost, almost_limit)
    calibrated = bool(getattr(scorer, "calibrated", False))
    matches = []
    for s, _, _, (i, x, gaps, ctx, fixed, _fixable) in eligible + almost:
        n = needs.profiles[i]
        stats = history.stats(p.funder_id, n.section, as_of)
        matches.append(
            _match(
                n.id,
                "need",
                n.ref,
                n.enterprise_name,
                s,
                np.array(x),
                _contributions(scorer, x, ctx),
                n,
                p,
                stats,
                gaps,
                locale,
                names,
                calibrated,
                fixed if gaps else None,
            )
        )
    n_elig = sum(1 for s in scored if s[1] == 0)
    return Ranking(matches, scorer.info, len(rows), n_elig, len(scored) - n_elig)
