"""Scorers (the documented Prior and the learned model), training data, training, evaluation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from techfin.matching.candidates import row_weights
from techfin.matching.features import FEATURES, pair_features, row_dot
from techfin.matching.history import History, PairLabel, pair_labels
from techfin.matching.kindmodel import (
    C_DEFAULT,
    CONTRIBUTION_EXTRAS,
    Design,
    KindWeights,
    PairContext,
    fit_platt,
    fit_regression,
)
from techfin.matching.profiles import by_id, need_profile, product_profile
from techfin.matching.text import TextSpace, cosine

# Below these the learned model is not trained and the Prior ranks: with fewer than 30
# decided pairs, or fewer than 5 of either class, a 15-coefficient logistic regression
# mostly fits noise, and a time-ordered 20 % hold-out would hold a handful of rows.
MIN_LABELLED = 30
MIN_PER_CLASS = 5
HOLDOUT = 0.2


class Scorer(Protocol):
    """What ranking needs from a model: probabilities, per-feature contributions, identity."""

    @property
    def info(self) -> dict[str, Any]: ...

    def score(self, X: np.ndarray) -> np.ndarray: ...

    def contributions(self, X: np.ndarray) -> np.ndarray: ...

    def score_one(self, x: Sequence[float]) -> float: ...


# A scorer with `uses_context = True` (TrainedModel) also takes a PairContext as the second
# argument of score / contributions / score_one; a `calibrated` one scores probabilities.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid1(z: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * z))


# feature: (weight per unit, neutral reference value)
PRIOR_WEIGHTS: dict[str, tuple[float, float]] = {
    "amount_fit": (3.0, 1.0),
    "amount_position": (-0.8, 0.5),
    "term_fit": (1.5, 1.0),
    "region_level": (0.5, 1.0),
    "industry_level": (0.5, 1.0),
    "stage_fit": (0.4, 1.0),
    "invention_patents": (0.3, 0.0),
    "patent_coverage": (0.8, 0.0),
    "sme_size": (0.0, 1.0),
    "high_tech": (0.6, 0.0),
    "collateral": (0.0, 0.0),
    "revenue_log10": (0.25, 7.0),
    "staff_log10": (0.1, 1.5),
    "text_relevance": (2.5, 0.1),
    "funder_approval_rate": (2.0, 0.5),
    "funder_recent_approvals": (0.15, 0.0),
}
PRIOR_BIAS = -0.5


class Prior:
    """Hand-set ranking used until enough outcomes are recorded.

    score = sigmoid(-0.5 + Σ w·(x − ref)); a feature's contribution (and so its weight as
    a reason) is w·(x − ref): the reference is the "nothing special" value, so an
    unrestricted product earns no region reason and an absent history counts for nothing.
    Ranking is the same as with plain w·x (the references only shift every score alike).

    | feature | w | ref | why |
    |---|---|---|---|
    | amount_fit | 3.0 | 1 | outside the range the file must be resized (only almost-eligible rows are < 1) |
    | amount_position | −0.8 | 0.5 | requests near a product's ceiling are cut or declined more often than mid-range ones |
    | term_fit | 1.5 | 1 | as amount_fit, weaker: terms are easier to renegotiate |
    | region_level | 0.5 | 1 | a product aimed at the enterprise's city / province (local bank, 科技支行, local guarantor) knows local policy and risk pools and moves faster |
    | industry_level | 0.5 | 1 | naming the industry signals appetite and sector expertise |
    | stage_fit | 0.4 | 1 | a listed stage is an explicit target, not mere tolerance |
    | invention_patents | 0.3 | 0 | R&D strength counts for every funder kind; log scale, the tenth patent adds less than the first |
    | patent_coverage | 0.8 | 0 | IP-pledge lenders lend about 30–50 % of appraised value, so ≥ 2× coverage (+1.6) is what passes |
    | sme_size | 0 | 1 | policy favours micro/small firms while credit risk favours larger ones: left to the learned model |
    | high_tech | 0.6 | 0 | an audited R&D signal used by banks and funds alike, and a condition of most subsidy / risk-pool schemes |
    | collateral | 0 | 0 | lenders value it and equity funds do not: a single weight would be wrong for one of them, so it is left to the learned model (and prior-1's ranking is unchanged) |
    | revenue_log10 | 0.25 | 7 | repayment capacity, per tenfold revenue, around 1 000 万元 |
    | staff_log10 | 0.1 | 1.5 | weak proxy of operating scale (about 30 staff) |
    | text_relevance | 2.5 | 0.1 | overlapping descriptions mean the product was written for firms like this; 0.1 ≈ an unrelated pair |
    | funder_approval_rate | 2.0 | 0.5 | the funder's own record with this industry is the best evidence of appetite; 0.5 = no history |
    | funder_recent_approvals | 0.15 | 0 | a funder lending in this industry now |
    """

    version = "prior-1"
    uses_context = False
    calibrated = False  # hand-set, so its scores are orderings, not approval odds
    contribution_names = FEATURES

    def __init__(self) -> None:
        self.weights = np.array([PRIOR_WEIGHTS[f][0] for f in FEATURES])
        self.refs = np.array([PRIOR_WEIGHTS[f][1] for f in FEATURES])
        self._w = self.weights.tolist()
        self._r = self.refs.tolist()
        self._bias = PRIOR_BIAS - float(np.dot(self.refs, self.weights))

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": "prior", "version": self.version}

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.refs) * self.weights

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return _sigmoid(self._bias + row_dot(X, self.weights))

    def score_one(self, x: Sequence[float]) -> float:
        z = PRIOR_BIAS
        for xi, w, r in zip(x, self._w, self._r, strict=True):
            z += w * (xi - r)
        return _sigmoid1(z)


class NotEnoughOutcomes(ValueError):  # noqa: N818 - reads as the condition it reports
    """Too few decided pairs (or one class only) to train; the Prior stays in use."""


ESTIMATORS = ("kind_interactions", "linear")
ESTIMATOR_NAMES = {
    "kind_interactions": "KindInteractions+LogisticRegression",
    "linear": "StandardScaler+LogisticRegression",
}


def probability_band(p: float | None) -> str | None:
    """ "high" (≥ 0.6), "medium" (≥ 0.3) or "low" calibrated approval odds; None without."""
    if p is None:
        return None
    return "high" if p >= BAND_HIGH else "medium" if p >= BAND_MEDIUM else "low"


# Bands a person can act on: "high" means more likely approved than not by a clear margin,
# "low" that fewer than three in ten such requests are approved.
BAND_HIGH = 0.6
BAND_MEDIUM = 0.3


@dataclass
class TrainedModel:
    """A learned scorer with its metadata (see train()).

    Two estimators share this class. `design` None: the v1 StandardScaler +
    LogisticRegression over FEATURES (one weight per feature for every kind; `pipeline`
    maps X to P(approved)). `design` given: the kind-aware regression of
    techfin.matching.kindmodel, whose one-step `pipeline` reads design.matrix(...), and
    whose scores need a PairContext (kind, institution, product) to use the kind-specific
    weights and appetite effects. metadata["calibration"] = {"method": "platt", "a", "c"}
    makes score() a calibrated probability (logit' = a · logit + c); without it
    `calibrated` is False and ranking reports no probability.
    """

    pipeline: Pipeline
    metadata: dict[str, Any] = field(default_factory=dict)
    design: Design | None = None

    uses_context = True  # ranking passes a PairContext to score() / contributions()

    def __post_init__(self) -> None:
        cal = self.metadata.get("calibration") or {}
        self.calibrated = bool(cal)
        a, c = float(cal.get("a", 1.0)), float(cal.get("c", 0.0))
        self._a, self._c = a, c
        if self.design is not None:
            self._kw: KindWeights | None = KindWeights(self.design, self.pipeline[-1], a, c)
            self.contribution_names: tuple[str, ...] = FEATURES + CONTRIBUTION_EXTRAS
            return
        self._kw = None
        self.contribution_names = FEATURES
        scaler, lr = self.pipeline[0], self.pipeline[-1]
        self._mean = np.asarray(scaler.mean_, dtype=np.float64)
        self._scale = np.asarray(scaler.scale_, dtype=np.float64)
        self._coef = np.asarray(lr.coef_[0], dtype=np.float64)
        self._intercept = float(lr.intercept_[0])
        self._py = (self._mean.tolist(), self._scale.tolist(), self._coef.tolist())
        # Scaling (and calibration) folded into the weights: one matrix-vector product
        # per ranking.
        self._w = a * self._coef / self._scale
        self._b = a * (self._intercept - float(np.dot(self._mean, self._coef / self._scale))) + c

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": "learned", "version": self.version}

    @property
    def estimator(self) -> str:
        return "linear" if self.design is None else "kind_interactions"

    @property
    def coefficients(self) -> dict[str, float]:
        """Coefficient per standardised feature: how much one standard deviation moves the
        log-odds (v1; for the kind-aware model, the weights shared by every kind)."""
        if self._kw is not None:
            shared = self.pipeline[-1].coef_[0][: len(FEATURES)]
            return dict(zip(FEATURES, np.asarray(shared, dtype=float).tolist(), strict=True))
        return dict(zip(FEATURES, self._coef.tolist(), strict=True))

    def kind_coefficients(self, kind: str) -> dict[str, float]:
        """Calibrated log-odds per standard deviation of each feature for one kind (the
        kind-aware model), or the shared ones for v1 / a kind never trained on."""
        if self._kw is None:
            return {f: self._a * v for f, v in self.coefficients.items()}
        k = self._kw.kind_key(kind)
        w = self._kw.weights[k] * np.asarray(self.design.scale[k])
        return dict(zip(FEATURES, w.tolist(), strict=True))

    def pipeline_input(self, X: np.ndarray, context: PairContext | None = None) -> Any:
        """What `pipeline` reads for these rows: X itself (v1) or the design matrix."""
        if self.design is None:
            return np.asarray(X, dtype=np.float64)
        n = len(X)
        ctx = _ctx(context, n)
        return self.design.matrix(X, *ctx.per_row(n))

    def logit_parts(self, X: np.ndarray, context: PairContext | None = None):
        """(contributions n × contribution_names, base n): their row sums are the logit
        of score() exactly (calibration included)."""
        X = np.asarray(X, dtype=np.float64)
        if self._kw is not None:
            return self._kw.contributions(X, _ctx(context, len(X)))
        contrib = (X - self._mean) / self._scale * self._coef * self._a
        return contrib, np.full(len(X), self._a * self._intercept + self._c)

    def logits(self, X: np.ndarray, context: PairContext | None = None) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self._kw is not None:
            return self._kw.logits(X, _ctx(context, len(X)))
        # row_dot, not @: a BLAS matrix-vector product starts OpenBLAS threads, and on a
        # shared 2-core machine that took 16 ms instead of 0.4 ms for 70 000 rows.
        return row_dot(X, self._w) + self._b

    def score(self, X: np.ndarray, context: PairContext | None = None) -> np.ndarray:
        """P(approved) (calibrated when `calibrated`). v1: the pipeline's predict_proba
        computed from its fitted parameters (equal to it, tested), skipping ~1.5 ms of
        input validation per call."""
        return _sigmoid(self.logits(X, context))

    def contributions(self, X: np.ndarray, context: PairContext | None = None) -> np.ndarray:
        return self.logit_parts(X, context)[0]

    def score_one(self, x: Sequence[float], context: PairContext | None = None) -> float:
        if self._kw is not None:
            return float(self.score(np.array([x], dtype=np.float64), context)[0])
        z = self._intercept
        for xi, m, s, c in zip(x, *self._py, strict=True):
            z += c * ((xi - m) / s)
        return _sigmoid1(self._a * z + self._c)


def _ctx(context: PairContext | None, n: int) -> PairContext:
    # Without a context (a caller that predates v2) a row is scored as a pair of a kind never
    # trained on, by an unknown institution: shared weights, no appetite effects.
    return context if context is not None else PairContext(None, [None], [None])


@dataclass
class Examples:
    """Labelled pairs: X (n × FEATURES), y (1/0), decided dates, need ids (groups), product
    ids, and (for the kind-aware model) each pair's product kind and institution (funder id).

    Rows are sorted by the decision date, oldest first.
    """

    X: np.ndarray
    y: np.ndarray
    dates: np.ndarray  # datetime64[D], when the funder decided
    groups: np.ndarray  # need id per row: ranking metrics are computed per need
    product_ids: np.ndarray
    kinds: np.ndarray | None = None
    funder_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.kinds is None:
            self.kinds = np.array([None] * n + [None], dtype=object)[:n]
        if self.funder_ids is None:
            self.funder_ids = np.array([None] * n + [None], dtype=object)[:n]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> Examples:
        return Examples(
            self.X[idx],
            self.y[idx],
            self.dates[idx],
            self.groups[idx],
            self.product_ids[idx],
            self.kinds[idx],
            self.funder_ids[idx],
        )

    def context(self) -> PairContext:
        """Kind, institution and product of every row, for TrainedModel.score()."""
        return PairContext(self.kinds, self.funder_ids, self.product_ids)


def build_examples(
    needs: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
    products: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
    outcomes: Iterable[Mapping[str, Any]],
    text_space: TextSpace | None = None,
) -> Examples:
    """Training rows from outcome history.

    Each decided pair (history.pair_labels) becomes one row whose features are computed as
    of the pair's first recorded step: the funder's track record counts only decisions
    before that date, so no row sees its own outcome. Pairs whose need or product is not
    given are skipped.
    """
    labels = pair_labels(outcomes)
    need_map, product_map = by_id(needs), by_id(products)
    labels = [lab for lab in labels if lab.need_id in need_map and lab.product_id in product_map]
    history = History.from_labels(labels, need_map, product_map)
    nprof = {i: need_profile(need_map[i]) for i in dict.fromkeys(lab.need_id for lab in labels)}
    pprof = {
        i: product_profile(product_map[i]) for i in dict.fromkeys(lab.product_id for lab in labels)
    }
    nkeys, pkeys = list(nprof), list(pprof)
    texts = [nprof[k].text for k in nkeys] + [pprof[k].text for k in pkeys]
    if text_space is None:  # fit and transform in one jieba pass
        text_space, matrix = TextSpace.fit_transform(texts)
    else:
        matrix = text_space.transform(texts)
    vecs = [row_weights(matrix, i) for i in range(matrix.shape[0])]
    nw = dict(zip(nkeys, vecs[: len(nkeys)], strict=True))
    pw = dict(zip(pkeys, vecs[len(nkeys) :], strict=True))
    rows = []
    for lab in labels:
        need, product = nprof[lab.need_id], pprof[lab.product_id]
        stats = history.features(product.funder_id, need.section, lab.first)
        rows.append(
            pair_features(need, product, cosine(nw[lab.need_id], pw[lab.product_id]), stats)
        )
    out = _examples(labels, rows)
    out.kinds = _objects([pprof[lab.product_id].kind for lab in labels])
    out.funder_ids = _objects([pprof[lab.product_id].funder_id for lab in labels])
    return out


def _objects(values: list[Any]) -> np.ndarray:
    # The extra element stops numpy from building a 2-D array out of tuple ids.
    return np.array([*values, None], dtype=object)[: len(values)]


def _examples(labels: list[PairLabel], rows: list[list[float]]) -> Examples:
    n = len(labels)
    return Examples(
        X=np.array(rows, dtype=np.float64).reshape(n, len(FEATURES)),
        y=np.array([lab.label for lab in labels], dtype=np.int64),
        dates=np.array([lab.decided for lab in labels], dtype="datetime64[D]"),
        groups=_objects([lab.need_id for lab in labels]),
        product_ids=_objects([lab.product_id for lab in labels]),
    )


def check_trainable(y: np.ndarray) -> str | None:
    """Why these labels are not enough to train on, or None when they are."""
    n, pos = len(y), int(np.sum(y == 1))
    if n < MIN_LABELLED:
        return f"{n} decided pairs, at least {MIN_LABELLED} needed"
    if min(pos, n - pos) < MIN_PER_CLASS:
        return f"{pos} approved / {n - pos} declined, at least {MIN_PER_CLASS} of each needed"
    return None


def time_split(examples: Examples, holdout: float = HOLDOUT) -> tuple[np.ndarray, np.ndarray]:
    """(train, hold-out) row indices: the hold-out is the last `holdout` share by decision
    date; rows sharing the cut date all go to the hold-out, so no day is on both sides."""
    n = len(examples)
    order = np.argsort(examples.dates, kind="stable")
    cut = min(max(int(round(n * (1 - holdout))), 1), n - 1) if n > 1 else n
    if n <= 1:
        return order, order[:0]
    cut_date = examples.dates[order[cut]]
    train_idx = order[examples.dates[order] < cut_date]
    if len(train_idx) == 0:  # everything on one day: fall back to a plain positional cut
        return order[:cut], order[cut:]
    return train_idx, order[len(train_idx) :]


def make_pipeline(C: float = 1.0) -> Pipeline:  # noqa: N803 - scikit-learn's name
    """StandardScaler + LogisticRegression: 1.5 ms for 10 000 candidates, and its
    coefficient × standardised value is a faithful per-feature reason."""
    return Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(C=C, max_iter=1000))]
    )


# Share of the (older) training rows kept aside, newest last, to fit the Platt scaling on
# predictions the regression did not see.
CALIBRATION_SHARE = 0.2


def fit_model(
    examples: Examples,
    estimator: str = "kind_interactions",
    *,
    C: float | None = None,  # noqa: N803
    calibrate: bool = True,
    metadata: dict[str, Any] | None = None,
    design: Design | None = None,
    warm: TrainedModel | None = None,
) -> TrainedModel:
    """Fit one estimator on all of `examples`.

    calibrate=True: first fit on the older (1 − CALIBRATION_SHARE) of the rows, fit Platt
    scaling on the newest CALIBRATION_SHARE, then refit on every row (starting from the
    first fit's coefficients) and keep that scaling (the refit has seen a little more data,
    so it is, if anything, slightly sharper). `design` (kind-aware model): a Design fitted
    beforehand, e.g. on a superset of these rows, so that `warm` (a model of the same
    design) can seed the solver.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator {estimator!r}, expected one of {ESTIMATORS}")
    meta = dict(metadata or {})
    if estimator == "kind_interactions" and design is None:
        design = Design.fit(examples.X, examples.kinds, examples.funder_ids, examples.product_ids)
    if calibrate:
        fit_idx, cal_idx = time_split(examples, CALIBRATION_SHARE)
        if len(cal_idx) and not check_trainable(examples.y[fit_idx]):
            inner = fit_model(
                examples.subset(fit_idx), estimator, C=C, calibrate=False, design=design, warm=warm
            )
            cal = examples.subset(cal_idx)
            a, c = fit_platt(inner.logits(cal.X, cal.context()), cal.y)
            meta["calibration"] = {"method": "platt", "a": a, "c": c, "n": int(len(cal_idx))}
            warm = inner
    if estimator == "linear":
        pipe = make_pipeline(1.0 if C is None else C).fit(examples.X, examples.y)
        return TrainedModel(pipe, meta)
    assert design is not None
    pipe = fit_regression(
        design,
        examples.X,
        examples.y,
        examples.kinds,
        examples.funder_ids,
        examples.product_ids,
        C=C_DEFAULT if C is None else C,
        warm=warm.pipeline[-1] if warm is not None and warm.design is design else None,
    )
    return TrainedModel(pipe, meta, design)


def train(
    examples: Examples,
    *,
    holdout: float = HOLDOUT,
    refit: bool = True,
    C: float | None = None,  # noqa: N803
    now: datetime | None = None,
    estimator: str = "kind_interactions",
    calibrate: bool = True,
) -> TrainedModel:
    """Fit on the older (1 − holdout) of the rows, measure on the newest `holdout`, then
    (refit=True) refit on every row so the saved model has seen the latest decisions.

    `estimator`: "kind_interactions" (default: kind-specific weights plus smoothed
    institution and product effects, techfin.matching.kindmodel) or "linear" (the v1
    StandardScaler + LogisticRegression, kept for comparison). `calibrate`: Platt scaling
    fitted on a time-ordered slice (see fit_model), so scores are approval probabilities.

    metadata: version (UTC timestamp), trained_at, n_samples, n_train, n_holdout,
    n_positive, holdout_from, features, metrics (evaluate()'s dict, measured before the
    refit, with the v1 linear model as "previous"), estimator, calibration, sklearn.
    Raises NotEnoughOutcomes below the documented thresholds.
    """
    problem = check_trainable(examples.y)
    if problem:
        raise NotEnoughOutcomes(problem)
    train_idx, test_idx = time_split(examples, holdout)
    problem = check_trainable(examples.y[train_idx]) if len(test_idx) else None
    if problem:
        raise NotEnoughOutcomes(f"older {1 - holdout:.0%} of rows: {problem}")
    older = examples.subset(train_idx)
    # One design (kinds, feature means and scales, institution and product keys) for every
    # fit below, so each fit starts from the previous one's coefficients: three solver runs
    # on 100 000 rows instead of four cold ones. It reads the hold-out's features, never its
    # labels.
    design = None
    if estimator == "kind_interactions":
        design = Design.fit(examples.X, examples.kinds, examples.funder_ids, examples.product_ids)
    model = fit_model(older, estimator, C=C, calibrate=calibrate, design=design)
    previous = fit_model(older, "linear", calibrate=False) if estimator != "linear" else None
    metrics = _evaluate_split(model, examples, train_idx, test_idx, previous=previous)
    if refit:
        final = fit_model(examples, estimator, C=C, calibrate=False, design=design, warm=model)
        if calibrate and "calibration" in model.metadata:
            # Platt scaling for the refit from the hold-out, which the model measured
            # above had not seen: the newest decisions, as the inner split would choose.
            raw = TrainedModel(model.pipeline, {}, model.design)
            test = examples.subset(test_idx)
            a, c = fit_platt(raw.logits(test.X, test.context()), test.y)
            calibration = {"method": "platt", "a": a, "c": c, "n": int(len(test_idx))}
            final = TrainedModel(final.pipeline, {"calibration": calibration}, final.design)
        model = final
    now = now or datetime.now(UTC)
    holdout_from = str(examples.dates[test_idx].min()) if len(test_idx) else None
    metadata = {
        "version": now.strftime("%Y%m%dT%H%M%S.%fZ"),
        "trained_at": now.isoformat(timespec="seconds"),
        "n_samples": len(examples),
        "n_train": int(len(examples) if refit else len(train_idx)),
        "n_holdout": int(len(test_idx)),
        "n_positive": int(examples.y.sum()),
        "holdout_from": holdout_from,
        "features": list(FEATURES),
        "metrics": metrics,
        "estimator": ESTIMATOR_NAMES[estimator],
        "sklearn": sklearn.__version__,
    }
    if "calibration" in model.metadata:
        metadata["calibration"] = model.metadata["calibration"]
    return TrainedModel(model.pipeline, metadata, model.design)


def ndcg_at_k(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = 10, seed: int = 0
) -> float | None:
    """Mean NDCG@k over groups (needs) holding both an approved and a declined pair.

    Ties are broken in a fixed random order, so a constant scorer earns what random does.
    Groups of one class are skipped: every order of them is equally right.
    """
    vals = [
        _dcg(rel[:k]) / _dcg(np.sort(rel)[::-1][:k]) for rel in _ranked(y, scores, groups, seed)
    ]
    return float(np.mean(vals)) if vals else None


def precision_at_k(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = 5, seed: int = 0
) -> float | None:
    """Mean share of approved pairs among each need's top min(k, size) (same groups as NDCG)."""
    vals = [float(rel[:k].mean()) for rel in _ranked(y, scores, groups, seed)]
    return float(np.mean(vals)) if vals else None


def _dcg(rel: np.ndarray) -> float:
    return float(np.sum(rel / np.log2(np.arange(2, len(rel) + 2))))


def _ranked(y: np.ndarray, scores: np.ndarray, groups: np.ndarray, seed: int) -> list[np.ndarray]:
    codes: dict[Any, int] = {}
    g = np.array([codes.setdefault(x, len(codes)) for x in groups], dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    order = perm[np.lexsort((-np.asarray(scores)[perm], g[perm]))]
    gs, ys = g[order], np.asarray(y, dtype=np.float64)[order]
    bounds = np.flatnonzero(np.diff(gs)) + 1
    out = []
    for rel in np.split(ys, bounds):
        if 0 < rel.sum() < len(rel):
            out.append(rel)
    return out


def _roc_auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, scores))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Reliability table: per equal-width probability bin, rows, mean predicted probability
    and observed approval rate (empty bins left out)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        if sel.any():
            out.append(
                {
                    "lo": b / bins,
                    "hi": (b + 1) / bins,
                    "n": int(sel.sum()),
                    "predicted": float(p[sel].mean()),
                    "observed": float(y[sel].mean()),
                }
            )
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float | None:
    """ECE: Σ over bins of (rows in bin ÷ rows) · |mean predicted − observed rate|."""
    if len(y) == 0:
        return None
    n = len(y)
    return float(
        sum(r["n"] / n * abs(r["predicted"] - r["observed"]) for r in reliability(y, p, bins))
    )


def metrics_for(y: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict[str, float | None]:
    return {
        "ndcg@10": ndcg_at_k(y, scores, groups, 10),
        "precision@5": precision_at_k(y, scores, groups, 5),
        "roc_auc": _roc_auc(y, scores),
        "ece": expected_calibration_error(y, scores),
    }


def _lift(value: float | None, random: float | None) -> float | None:
    """(model − random) / (ideal − random) for NDCG, whose ideal is 1 by definition."""
    if value is None or random is None or random >= 1.0:
        return None
    return (value - random) / (1.0 - random)


def _score(model: Scorer, test: Examples) -> np.ndarray:
    if getattr(model, "uses_context", False):
        return model.score(test.X, test.context())  # type: ignore[call-arg]
    return model.score(test.X)


def _evaluate_split(
    model: Scorer | None,
    examples: Examples,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int = 0,
    previous: Scorer | None = None,
) -> dict[str, Any]:
    test = examples.subset(test_idx)
    rng = np.random.default_rng(seed)
    # Random order is averaged over 20 shuffles so its figure is an expectation, not a draw.
    runs = [metrics_for(test.y, rng.random(len(test)), test.groups) for _ in range(20)]
    random_metrics = {
        key: (float(np.mean([r[key] for r in runs])) if runs[0][key] is not None else None)
        for key in runs[0]
    }
    n_groups = len(_ranked(test.y, np.zeros(len(test)), test.groups, 0))
    out: dict[str, Any] = {
        "n_train": int(len(train_idx)),
        "n_holdout": int(len(test_idx)),
        "n_holdout_needs": n_groups,
        "holdout_from": str(test.dates.min()) if len(test) else None,
        "learned": metrics_for(test.y, _score(model, test), test.groups) if model else None,
        "prior": metrics_for(test.y, Prior().score(test.X), test.groups),
        "random": random_metrics,
    }
    if previous is not None:
        out["previous"] = metrics_for(test.y, _score(previous, test), test.groups)
    rand = random_metrics["ndcg@10"]
    for who in ("learned", "prior", "random", "previous"):
        if out.get(who) is not None:
            out[who]["ndcg_lift"] = _lift(out[who]["ndcg@10"], rand)
    if model is not None and len(test):
        out["reliability"] = reliability(test.y, _score(model, test))
    return out


def evaluate(
    examples: Examples,
    model: Scorer | None = None,
    *,
    holdout: float = HOLDOUT,
    seed: int = 0,
    estimator: str = "kind_interactions",
) -> dict[str, Any]:
    """NDCG@10 (and its lift over random), precision@5, ROC AUC and expected calibration
    error of the learned model, the previous (v1 linear) model, the Prior and random order
    on the time-ordered hold-out (the newest `holdout` share by decision date), plus the
    learned model's reliability table.

    Without `model`, models are fitted on the older rows first (the honest figure); a given
    model that was refitted on all rows has seen the hold-out, so prefer its metadata's
    "metrics", measured before the refit. "learned" is None when there is too little to train.
    """
    train_idx, test_idx = time_split(examples, holdout)
    previous = None
    if model is None and not check_trainable(examples.y[train_idx]):
        older = examples.subset(train_idx)
        model = fit_model(older, estimator)
        if estimator != "linear":
            previous = fit_model(older, "linear", calibrate=False)
    return _evaluate_split(model, examples, train_idx, test_idx, seed, previous=previous)
