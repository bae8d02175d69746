"""Rank products for a need and needs for a product: eligibility, features, score, reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import scipy.sparse as sp

from techfin.matching.candidates import CandidateSet, NeedSet, need_columns, product_columns
from techfin.matching.features import (
    FEATURE_INDEX,
    FEATURES,
    NEED_FEATURE_COLUMNS,
    PRODUCT_FEATURE_COLUMNS,
    feature_matrix,
    fix_features,
)
from techfin.matching.history import History, default_as_of
from techfin.matching.kindmodel import CONTRIBUTION_EXTRAS, PairContext, entity_key, product_key
from techfin.matching.profiles import NeedProfile, ProductProfile, need_profile, product_profile
from techfin.matching.reasons import FIXABLE_RULES, Gap, Names, Reason, render_gap, render_reason
from techfin.matching.rules import RULES, check_eligibility, rule_columns
from techfin.matching.scoring import Prior, Scorer, probability_band

MAX_GAPS = 2  # candidates failing at most this many rules are "almost eligible"
TEXT_REASON_MIN = 0.15  # below this cosine, "text closely matches" would overstate it


@dataclass(frozen=True, slots=True)
class Match:
    """One ranked candidate. `reasons` / `missing` are rendered in the requested locale;
    `reason_codes` / `gaps` are the structured forms they were rendered from."""

    id: Any
    type: str  # "product", "mandate" (a VC / guidance fund as a whole) or "need"
    ref: str | None
    name: str | None
    score: float
    eligible: bool
    reasons: list[str]
    missing: list[str]
    reason_codes: list[Reason] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    # Calibrated approval odds (a calibrated learned model; None under the Prior, whose
    # scores only order candidates), and for an almost-eligible entry the score it would
    # have once its fixable gaps are closed.
    probability: float | None = None
    score_if_fixed: float | None = None

    @property
    def band(self) -> str | None:
        """ "high" / "medium" / "low" from `probability` (scoring.probability_band)."""
        return probability_band(self.probability)

    @property
    def fixable(self) -> bool:
        """Every gap is one the enterprise can fix (True for an eligible match)."""
        return all(g.fixable for g in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "ref": self.ref,
            "name": self.name,
            "score": round(self.score, 4),
            "probability": None if self.probability is None else round(self.probability, 4),
            "band": self.band,
            "score_if_fixed": (
                None if self.score_if_fixed is None else round(self.score_if_fixed, 4)
            ),
            "eligible": self.eligible,
            "reasons": list(self.reasons),
            "missing": list(self.missing),
            "reason_codes": [r.to_dict() for r in self.reason_codes],
            "gaps": [g.to_dict() for g in self.gaps],
            "features": {k: round(v, 4) for k, v in self.features.items()},
        }


@dataclass
class Ranking:
    """The matches, best first (eligible ones, then almost-eligible ones), and the model used.

    Iterating a Ranking iterates its matches.
    """

    matches: list[Match]
    model: dict[str, Any]
    n_candidates: int = 0  # of the right kind and active / published
    n_eligible: int = 0
    n_almost: int = 0

    def __iter__(self):
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def __getitem__(self, i: int) -> Match:
        return self.matches[i]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": dict(self.model),
            "matches": [m.to_dict() for m in self.matches],
            "n_candidates": self.n_candidates,
            "n_eligible": self.n_eligible,
            "n_almost": self.n_almost,
        }


def _reason(
    feature: str,
    x: Sequence[float],
    need: NeedProfile,
    product: ProductProfile,
    stats: tuple,
    w: float = 0.0,
) -> Reason | None:
    """The reason a feature (or the institution's / product's own effect) gives for this
    pair, weighing `w`, or None when it has nothing to say. `x` is the pair's feature row
    (a list when many are explained: indexing a numpy row is slower)."""
    v = float(x[FEATURE_INDEX[feature]]) if feature in FEATURE_INDEX else 0.0
    if feature in ("amount_fit", "amount_position"):
        has_range = product.min_amount is not None or product.max_amount is not None
        if need.amount is not None and has_range and x[FEATURE_INDEX["amount_fit"]] == 1.0:
            return Reason(
                "amount_in_range",
                {"amount": need.amount, "min": product.min_amount, "max": product.max_amount},
                w,
            )
    elif feature == "term_fit":
        has_range = product.min_term is not None or product.max_term is not None
        if need.term is not None and has_range and v == 1.0:
            return Reason(
                "term_in_range",
                {"term": need.term, "min": product.min_term, "max": product.max_term},
                w,
            )
    elif feature == "region_level" and need.region:
        if v == 3.0:
            return Reason("region_same_city", {"region": need.region[:4].ljust(6, "0")}, w)
        if v == 2.0:
            return Reason("region_same_province", {"region": need.region[:2].ljust(6, "0")}, w)
    elif feature == "industry_level" and need.industry:
        if v == 3.0:
            return Reason("industry_division", {"industry": need.industry[:3]}, w)
        if v == 2.0:
            return Reason("industry_section", {"industry": need.section}, w)
    elif feature == "stage_fit" and v == 2.0:
        return Reason("stage_fit", {"stage": need.stage}, w)
    elif feature == "invention_patents" and need.inventions > 0:
        return Reason("invention_patents", {"n": need.inventions}, w)
    elif feature == "patent_coverage" and v > 0 and need.amount:
        _, value, valued = need.ip_held(product.accepted_ip)
        if valued > 0:
            # Name what was pledged: the accepted kinds that carry a valuation.
            kinds = [k for k in product.accepted_ip if need.ip_held((k,))[2] > 0]
            return Reason(
                "patent_coverage",
                {"n": valued, "ratio": round(value / need.amount, 1), "kinds": kinds},
                w,
            )
    elif feature == "sme_size" and need.size:
        return Reason("sme_size", {"size": need.size}, w)
    elif feature == "high_tech" and need.high_tech:
        return Reason("high_tech", {}, w)
    elif feature == "revenue_log10" and need.revenue:
        return Reason("revenue", {"revenue": need.revenue}, w)
    elif feature == "staff_log10" and need.employees:
        return Reason("staff", {"employees": int(need.employees)}, w)
    elif feature == "text_relevance" and v >= TEXT_REASON_MIN:
        return Reason("text_relevance", {"similarity": round(v, 2)}, w)
    elif feature == "funder_approval_rate" and stats[0] + stats[1] > 0:
        approved, total = stats[0], stats[0] + stats[1]
        return Reason(
            "funder_approval_rate",
            {
                "percent": round(100 * approved / total),
                "approved": approved,
                "decided": total,
                "funder_kind": product.funder_kind,
            },
            w,
        )
    elif feature == "funder_recent_approvals" and stats[2] > 0:
        return Reason(
            "funder_recent_approvals", {"n": stats[2], "funder_kind": product.funder_kind}, w
        )
    elif feature == "collateral" and need.collateral:
        return Reason("collateral", {}, w)
    elif feature == "institution":
        return Reason("institution_appetite", {"funder_kind": product.funder_kind}, w)
    elif feature == "product":
        return Reason("product_appetite", {}, w)
    return None


def explain(
    need: NeedProfile,
    product: ProductProfile,
    x: np.ndarray,
    contrib: np.ndarray,
    stats: tuple,
    top: int = 3,
) -> list[Reason]:
    """The `top` reasons with the largest positive contributions, one per reason code.

    `contrib` has one entry per FEATURES, optionally followed by the institution's and the
    product's effects (kindmodel.CONTRIBUTION_EXTRAS). With those, the four measures of
    one thing, the institution's appetite (its two track-record features and the two
    learned effects), speak as one reason weighing their sum, so a page does not say
    "this bank approves readily" three ways while the driver the rule cares about drops
    off the list."""
    names = FEATURES + CONTRIBUTION_EXTRAS
    if len(contrib) > len(FEATURES):
        contrib = _pool_appetite(np.asarray(contrib, dtype=np.float64), stats)
    out: dict[str, Reason] = {}
    for j in np.argsort(-contrib, kind="stable"):
        w = float(contrib[j])
        if w <= 0 or len(out) >= top:
            break
        r = _reason(names[j], x, need, product, stats, w)
        if r is not None and r.code not in out:
            out[r.code] = r
    return list(out.values())


_APPETITE = [FEATURE_INDEX["funder_approval_rate"], FEATURE_INDEX["funder_recent_approvals"]]
_INSTITUTION, _PRODUCT = len(FEATURES), len(FEATURES) + 1


def _pool_appetite(contrib: np.ndarray, stats: tuple) -> np.ndarray:
    """The appetite family's summed contribution, put on its most telling member: the
    approval record when the funder has decided for firms like this one, else the larger
    learned effect; the other members get 0."""
    family = [*_APPETITE, _INSTITUTION, _PRODUCT]
    out = contrib.copy()
    total = float(contrib[family].sum())
    if stats[0] + stats[1] > 0:
        rep = _APPETITE[0]
    else:
        rep = _INSTITUTION if contrib[_INSTITUTION] >= contrib[_PRODUCT] else _PRODUCT
    out[family] = 0.0
    out[rep] = total
    return out


def explain_rows(
    pairs: list[tuple[NeedProfile, ProductProfile, tuple]],
    X: np.ndarray,
    contribs: np.ndarray,
    top: int = 3,
) -> list[list[Reason]]:
    """explain() for many pairs at once (row i of X and contribs is pairs[i]): the appetite
    pooling and the ordering of contributions are one array operation each instead of one
    per pair; a full recompute explains about three million pairs. Equal to explain()
    pair by pair (tests/unit/matching compare both with the reference loop)."""
    if not pairs:
        return []
    C = np.asarray(contribs, dtype=np.float64)
    if C.shape[1] > len(FEATURES):
        a, b = _APPETITE
        # The family's sum in explain()'s order, so the weights are the same to the bit.
        total = C[:, a] + C[:, b] + C[:, _INSTITUTION] + C[:, _PRODUCT]
        decided = np.array([s[0] + s[1] > 0 for _, _, s in pairs], dtype=bool)
        learned = np.where(C[:, _INSTITUTION] >= C[:, _PRODUCT], _INSTITUTION, _PRODUCT)
        rep = np.where(decided, a, learned)
        C = C.copy()
        C[:, [a, b, _INSTITUTION, _PRODUCT]] = 0.0
        C[np.arange(len(C)), rep] = total
    order = np.argsort(-C, axis=1, kind="stable").tolist()
    names = FEATURES + CONTRIBUTION_EXTRAS
    out = []
    # Plain lists: a full recompute explains about three million pairs, and numpy's
    # per-element indexing was a third of the loop.
    for (need, product, stats), row, weights, x in zip(
        pairs, order, C.tolist(), np.asarray(X).tolist(), strict=True
    ):
        found: dict[str, Reason] = {}
        for j in row:
            w = weights[j]
            if w <= 0 or len(found) >= top:
                break
            r = _reason(names[j], x, need, product, stats, w)
            if r is not None and r.code not in found:
                found[r.code] = r
        out.append(list(found.values()))
    return out


def _top(idx: np.ndarray, key: np.ndarray, k: int) -> np.ndarray:
    """The k entries of ascending `idx` with the largest `key`, ties to the lower index,
    best first; O(n) selection, then a sort of k."""
    if k <= 0:
        return idx[:0]
    if k < len(idx):
        thr = np.partition(key, len(key) - k)[len(key) - k]  # the k-th largest key
        above = key > thr
        at = np.flatnonzero(key == thr)[: k - int(above.sum())]
        sel = np.concatenate([np.flatnonzero(above), at])
        idx, key = idx[sel], key[sel]
    return idx[np.lexsort((idx, -key))]


def _pick(
    scores: np.ndarray,
    n_fail: np.ndarray,
    limit: int,
    include_almost: bool,
    almost_limit: int,
    fixed: np.ndarray | None = None,
    fixable: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    # Scores equal to 1e-12 are ties, broken by candidate order, so the result does not
    # depend on the last bits of floating-point summation (BLAS vs the reference loop).
    q = np.rint(scores * 1e12)
    elig = np.flatnonzero(n_fail == 0)
    best = _top(elig, q[elig], limit)
    almost = np.empty(0, dtype=np.int64)
    if include_almost and almost_limit > 0:
        cand = np.flatnonzero((n_fail >= 1) & (n_fail <= MAX_GAPS))
        fixed = scores if fixed is None else fixed
        ok = np.ones(len(scores), dtype=bool) if fixable is None else fixable
        # Gaps the enterprise can close first, then the score it would have once they are
        # closed. Rounded scores are ≤ 1e12, so 2e12 · fixable orders by both at once
        # (exactly, in float64).
        almost = _top(cand, np.rint(fixed[cand] * 1e12) + 2e12 * ok[cand], almost_limit)
    return best, almost


_UNFIXABLE = np.array([r not in FIXABLE_RULES for r in RULES])


def _score(scorer: Scorer, X: np.ndarray, ctx: PairContext) -> np.ndarray:
    if getattr(scorer, "uses_context", False):
        return scorer.score(X, ctx)  # type: ignore[call-arg]
    return scorer.score(X)


def _contributions(scorer: Scorer, X: np.ndarray, ctx: PairContext) -> np.ndarray:
    if getattr(scorer, "uses_context", False):
        return scorer.contributions(X, ctx)  # type: ignore[call-arg]
    return scorer.contributions(X)


def _if_fixed(
    scorer: Scorer,
    X: np.ndarray,
    scores: np.ndarray,
    ctx: PairContext,
    rows: np.ndarray,
    failed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(score once the fixable gaps are closed, all gaps fixable) per row; `rows` are the
    failing rows and `failed` their rules.failed_rules matrix."""
    fixed = scores.copy()
    fixable = np.ones(len(scores), dtype=bool)
    if len(rows):
        fixable[rows] = ~(failed & _UNFIXABLE).any(axis=1)
        # Only rows with something fixable change; a region-only gap keeps its score.
        some = (failed & ~_UNFIXABLE).any(axis=1)
        sel = rows[some]
        if len(sel):
            fixed_X = fix_features(X[sel], failed[some], RULES, copy=False)  # X[sel] copies
            fixed[sel] = _score(scorer, fixed_X, ctx.take(sel))
    return fixed, fixable


def _take(
    cols: dict[str, np.ndarray], rows: np.ndarray, keys: tuple[str, ...]
) -> dict[str, np.ndarray]:
    return {k: cols[k][rows] for k in keys}


def _score_and_pick(
    scorer: Any,
    X: np.ndarray,
    ctx: Any,
    keep: np.ndarray,
    n_fail: np.ndarray,
    rule_cols: list[np.ndarray],
    limit: int,
    include_almost: bool,
    almost_limit: int,
) -> tuple[np.ndarray, list[tuple[int, bool]], np.ndarray, np.ndarray | None]:
    """Score the kept candidates, then pick the best eligible and the near misses (by
    their odds once fixed): the same in both ranking directions."""
    scores = _score(scorer, X, ctx)
    fixed = fixable = None
    if include_almost and almost_limit > 0:
        bad = np.flatnonzero(n_fail[keep] > 0)
        failed = np.column_stack([c[keep[bad]] for c in rule_cols]).reshape(-1, len(RULES))
        fixed, fixable = _if_fixed(scorer, X, scores, ctx, bad, failed)
    best, almost = _pick(scores, n_fail[keep], limit, include_almost, almost_limit, fixed, fixable)
    picked = [(int(i), True) for i in best] + [(int(i), False) for i in almost]
    return scores, picked, np.array([k for k, _ in picked], dtype=np.int64), fixed


def rank_products_for_need(
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
    """Products (and mandates) for one need, best first.

    Candidates are the active rows of the need's kind; eligible ones are scored and the
    best `limit` returned, followed by up to `almost_limit` almost-eligible ones (failing
    one or two rules; fewest gaps first), whose `missing` says what is lacking. `scorer`
    defaults to the Prior; `history` to none; `as_of` (for the funders' track records)
    to today. (rank_products_for_needs with one need: a page and a stored ranking are
    computed by the same code.)
    """
    return rank_products_for_needs(
        [need], candidates, scorer, history, locale=locale, limit=limit,
        include_almost=include_almost, almost_limit=almost_limit, names=names, as_of=as_of,
    )[0]  # fmt: skip


def rank_products_for_needs(
    needs: Sequence[Mapping[str, Any]],
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
) -> list[Ranking]:
    """rank_products_for_need for each of `needs`, in their order.

    The needs of one kind are ranked together: the rules, the text relevance, the feature
    matrix, the model's scores and contributions and the picking of each need's best are
    one array operation each over all their (need, candidate) pairs, not one per need. A
    full recompute ranks 130 000 needs; per need, those calls' own overhead was most of
    the time (1 000 candidates a kind). Each need's ranking is the one it gets alone.
    """
    scorer = scorer or Prior()
    history = history or History.empty()
    as_of = default_as_of(as_of)
    profiles = [need_profile(n) for n in needs]
    out = [Ranking([], scorer.info) for _ in profiles]
    by_kind: dict[str | None, list[int]] = {}
    for i, np_ in enumerate(profiles):
        by_kind.setdefault(np_.kind, []).append(i)
    for kind, members in by_kind.items():
        blk = candidates.block(kind)
        if blk is None:
            continue
        ranked = _rank_block(
            [profiles[i] for i in members], blk, candidates, scorer, history, as_of,
            _Options(locale, limit, include_almost, almost_limit, names),
        )  # fmt: skip
        for i, ranking in zip(members, ranked, strict=True):
            out[i] = ranking
    return out


@dataclass(frozen=True, slots=True)
class _Options:
    locale: str | None
    limit: int
    include_almost: bool
    almost_limit: int
    names: Names


def _match_rows(index: Any, values: list[Any]) -> np.ndarray:
    """(needs × candidates) matched prefix lengths, one look-up per distinct value."""
    if len(values) == 1:
        return index.match_len(values[0]).reshape(1, -1)
    seen: dict[Any, np.ndarray] = {}
    rows = []
    for v in values:
        row = seen.get(v)
        if row is None:
            row = seen[v] = index.match_len(v)
        rows.append(row)
    return np.vstack(rows)


def _text_rows(space: Any, tfidf: sp.csr_matrix, texts: list[str]) -> np.ndarray:
    """(texts × candidates) cosines: one sparse product for all the texts. Each cosine is
    summed over the candidate's terms in the order a matrix-vector product sums them
    (scipy's csr_matmat and csr_matvec both walk the candidate's row), so it is the same
    number, to the bit, as for one text alone."""
    m, n = len(texts), tfidf.shape[0]
    if space.size == 0 or n == 0:
        return np.zeros((m, n))
    if m == 1:  # a page's one need: no sparse matrix to build
        return np.asarray(tfidf @ space.dense(texts[0])).reshape(1, n)
    vectors = [space.vector(t) for t in texts]
    indptr = np.zeros(m + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(idx) for idx, _ in vectors])
    N = sp.csr_matrix(
        (np.concatenate([w for _, w in vectors]), np.concatenate([i for i, _ in vectors]),
         indptr), shape=(m, space.size),
    )  # fmt: skip
    return np.asarray((tfidf @ N.T).toarray().T)


def _grouped_top(group: np.ndarray, cand: np.ndarray, key: np.ndarray, k: int) -> np.ndarray:
    """_top per group: of the entries `cand` (ascending, each group's contiguous), each
    group's k with the largest `key` (aligned with cand), ties to the lower index, best
    first; groups in ascending order."""
    if k <= 0 or not len(cand):
        return cand[:0]
    if group[cand[0]] == group[cand[-1]]:  # one group (a page's one need): a selection
        return _top(cand, key, k)
    g = group[cand]
    order = np.lexsort((cand, -key, g))
    ranked, gs = cand[order], g[order]
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    place = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    return ranked[place < k]


def _rank_block(
    nps: list[NeedProfile],
    blk: Any,
    candidates: CandidateSet,
    scorer: Scorer,
    history: History,
    as_of: date,
    opt: _Options,
) -> list[Ranking]:
    """Rankings of needs of one kind against that kind's block of candidates."""
    rows = blk.rows
    n_cand = len(rows)
    flat = need_columns(nps)
    ncols = {k: v[:, None] for k, v in flat.items()}  # (needs, 1): broadcasts to pairs
    rlen = _match_rows(blk.regions, [p.region for p in nps])
    ilen = _match_rows(blk.industries, [p.industry for p in nps])
    rule_grid, fail_grid = rule_columns(ncols, blk.cols, rlen, ilen)  # (needs, candidates)
    # The pairs worth scoring, need by need, each need's in candidate order.
    ki, kp = np.nonzero(fail_grid <= (MAX_GAPS if opt.include_almost else 0))
    n_fail = fail_grid[ki, kp]
    text = _text_rows(candidates.text_space, blk.tfidf, [p.text for p in nps])[ki, kp]
    tables: dict[str | None, int] = {}
    section = np.array([tables.setdefault(p.section, len(tables)) for p in nps], dtype=np.int64)
    rate_t, recent_t = (
        np.vstack(t)
        for t in zip(*(history.feature_table(candidates.funder_keys, s, as_of) for s in tables),
                     strict=True)
    )  # fmt: skip
    srow, fcol = section[ki], blk.groups[kp]
    X = feature_matrix(
        _take(flat, ki, NEED_FEATURE_COLUMNS),
        _take(blk.cols, kp, PRODUCT_FEATURE_COLUMNS),
        rlen[ki, kp],
        ilen[ki, kp],
        text,
        rate_t[srow, fcol],
        recent_t[srow, fcol],
    )
    ctx = PairContext(nps[0].kind, blk.funder_keys, blk.product_keys, rows=kp)
    scores = _score(scorer, X, ctx)
    q = np.rint(scores * 1e12)  # ties as in _pick
    best = _grouped_top(ki, np.flatnonzero(n_fail == 0), q[n_fail == 0], opt.limit)
    almost = best[:0]
    fixed = None
    if opt.include_almost and opt.almost_limit > 0:
        bad = np.flatnonzero(n_fail > 0)
        failed = np.column_stack([c[ki[bad], kp[bad]] for c in rule_grid])
        failed = failed.reshape(-1, len(RULES))
        fixed, fixable = _if_fixed(scorer, X, scores, ctx, bad, failed)
        cand = np.flatnonzero((n_fail >= 1) & (n_fail <= MAX_GAPS))
        key = np.rint(fixed[cand] * 1e12) + 2e12 * fixable[cand]
        almost = _grouped_top(ki, cand, key, opt.almost_limit)
    # Each need's eligible best first, then its near misses, each in their order.
    picked = np.concatenate([best, almost])
    is_almost = np.r_[np.zeros(len(best), dtype=bool), np.ones(len(almost), dtype=bool)]
    order = np.lexsort((np.arange(len(picked)), is_almost, ki[picked]))
    idx, eligible = picked[order], ~is_almost[order]
    contribs = _contributions(scorer, X[idx], ctx.take(idx)) if len(idx) else X[:0]
    calibrated = bool(getattr(scorer, "calibrated", False))
    owner = ki[idx].tolist()  # the need of each picked pair
    pairs = []
    for i, r in zip(owner, rows[kp[idx]].tolist(), strict=True):
        need, product = nps[i], candidates.profiles[r]
        pairs.append((need, product, history.stats(product.funder_id, need.section, as_of)))
    explained = explain_rows(pairs, X[idx], contribs)
    matches: list[list[Match]] = [[] for _ in nps]
    for i, k, ok, contrib, (need, product, stats), reasons in zip(
        owner, idx.tolist(), eligible.tolist(), contribs, pairs, explained, strict=True
    ):
        gaps = [] if ok else check_eligibility(need, product)
        matches[i].append(
            _match(
                product.id,
                product.type,
                product.ref,
                product.name,
                scores[k],
                X[k],
                contrib,
                need,
                product,
                stats,
                gaps,
                opt.locale,
                opt.names,
                calibrated,
                None if ok or fixed is None else float(fixed[k]),
                reasons,
            )
        )
    n_eligible = (fail_grid == 0).sum(axis=1).tolist()
    n_almost = ((fail_grid >= 1) & (fail_grid <= MAX_GAPS)).sum(axis=1).tolist()
    return [
        Ranking(matches[i], scorer.info, n_cand, n_eligible[i], n_almost[i])
        for i in range(len(nps))
    ]


def rank_needs_for_product(
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
    """Published needs for one product (or a mandate dict from mandate_from_funder), best
    first; the same rules, features and scores as rank_products_for_need, seen from the
    funder's side."""
    scorer = scorer or Prior()
    history = history or History.empty()
    as_of = default_as_of(as_of)
    pp = product_profile(product)
    blk = needs.block(pp.kind)
    if blk is None:
        return Ranking([], scorer.info)
    rows = blk.rows
    pcols = product_columns([pp])
    rlen = blk.regions.match_len(pp.regions)
    ilen = blk.industries.match_len(pp.industries)
    rule_cols, n_fail = rule_columns(blk.cols, pcols, rlen, ilen)
    keep = np.flatnonzero(n_fail <= (MAX_GAPS if include_almost else 0))
    text = needs.text_relevance(pp.text, pp.kind)[keep]
    per_section = [history.features(pp.funder_id, s, as_of) for s in needs.sections]
    rate_s = np.array([v[0] for v in per_section], dtype=np.float64)
    recent_s = np.array([v[1] for v in per_section], dtype=np.float64)
    sidx = blk.groups[keep]
    X = feature_matrix(
        _take(blk.cols, keep, NEED_FEATURE_COLUMNS),
        pcols,
        rlen[keep],
        ilen[keep],
        text,
        rate_s[sidx],
        recent_s[sidx],
    )
    ctx = PairContext(
        pp.kind,
        np.array([entity_key(pp.funder_id)], dtype=object),
        np.array([product_key(pp.type, pp.id)], dtype=object),
    )
    scores, picked, idx, fixed = _score_and_pick(
        scorer, X, ctx, keep, n_fail, rule_cols, limit, include_almost, almost_limit
    )
    contribs = _contributions(scorer, X[idx], ctx.take(idx)) if picked else X[:0]
    calibrated = bool(getattr(scorer, "calibrated", False))
    pairs = []
    for k, _eligible in picked:
        need = needs.profiles[rows[keep[k]]]
        pairs.append((need, pp, history.stats(pp.funder_id, need.section, as_of)))
    explained = explain_rows(pairs, X[idx], contribs)
    matches = []
    for (k, eligible), contrib, (need, _, stats), reasons in zip(
        picked, contribs, pairs, explained, strict=True
    ):
        gaps = [] if eligible else check_eligibility(need, pp)
        matches.append(
            _match(
                need.id,
                "need",
                need.ref,
                need.enterprise_name,
                scores[k],
                X[k],
                contrib,
                need,
                pp,
                stats,
                gaps,
                locale,
                names,
                calibrated,
                None if eligible or fixed is None else float(fixed[k]),
                reasons,
            )
        )
    return Ranking(
        matches,
        scorer.info,
        len(rows),
        int(np.sum(n_fail == 0)),
        int(np.sum((n_fail >= 1) & (n_fail <= MAX_GAPS))),
    )


def _match(
    id_: Any,
    type_: str,
    ref: Any,
    name: Any,
    score: float,
    x: np.ndarray,
    contrib: np.ndarray,
    need: NeedProfile,
    product: ProductProfile,
    stats: tuple,
    gaps: list[Gap],
    locale: str | None,
    names: Names,
    calibrated: bool = False,
    score_if_fixed: float | None = None,
    reasons: list[Reason] | None = None,  # explain_rows' answer, when it was asked for many
) -> Match:
    if reasons is None:
        reasons = explain(need, product, x, contrib, stats)
    return Match(
        id=id_,
        type=type_,
        ref=ref,
        name=name,
        score=float(score),
        eligible=not gaps,
        # locale None: codes only (stored matches are rendered in each reader's language).
        reasons=[render_reason(r, locale, names) for r in reasons] if locale else [],
        missing=[render_gap(g, locale, names) for g in gaps] if locale else [],
        reason_codes=reasons,
        gaps=gaps,
        # locale None (stored matches) keeps no features: nothing reads them there, and a
        # full recompute built about three million of these dicts.
        features=dict(zip(FEATURES, x.tolist(), strict=True)) if locale else {},
        probability=float(score) if calibrated else None,
        score_if_fixed=score_if_fixed,
    )
