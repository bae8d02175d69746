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
from techfin.matching.features import FEATURES, pair_features
from techfin.matching.history import History, PairLabel, pair_labels
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
    | revenue_log10 | 0.25 | 7 | repayment capacity, per tenfold revenue, around 1 000 万元 |
    | staff_log10 | 0.1 | 1.5 | weak proxy of operating scale (about 30 staff) |
    | text_relevance | 2.5 | 0.1 | overlapping descriptions mean the product was written for firms like this; 0.1 ≈ an unrelated pair |
    | funder_approval_rate | 2.0 | 0.5 | the funder's own record with this industry is the best evidence of appetite; 0.5 = no history |
    | funder_recent_approvals | 0.15 | 0 | a funder lending in this industry now |
    """

    version = "prior-1"

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
        return _sigmoid(self._bias + np.einsum("ij,j->i", X, self.weights))

    def score_one(self, x: Sequence[float]) -> float:
        z = PRIOR_BIAS
        for xi, w, r in zip(x, self._w, self._r, strict=True):
            z += w * (xi - r)
        return _sigmoid1(z)


class NotEnoughOutcomes(ValueError):  # noqa: N818 - reads as the condition it reports
    """Too few decided pairs (or one class only) to train; the Prior stays in use."""


@dataclass
class TrainedModel:
    """StandardScaler + LogisticRegression pipeline with its metadata (see train())."""

    pipeline: Pipeline
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scaler, lr = self.pipeline[0], self.pipeline[-1]
        self._mean = np.asarray(scaler.mean_, dtype=np.float64)
        self._scale = np.asarray(scaler.scale_, dtype=np.float64)
        self._coef = np.asarray(lr.coef_[0], dtype=np.float64)
        self._intercept = float(lr.intercept_[0])
        self._py = (self._mean.tolist(), self._scale.tolist(), self._coef.tolist())
        # Scaling folded into the weights: one matrix-vector product per ranking.
        self._w = self._coef / self._scale
        self._b = self._intercept - float(np.dot(self._mean, self._w))

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": "learned", "version": self.version}

    @property
    def coefficients(self) -> dict[str, float]:
        """Coefficient per standardised feature: how much one standard deviation moves the log-odds."""
        return dict(zip(FEATURES, self._coef.tolist(), strict=True))

    def score(self, X: np.ndarray) -> np.ndarray:
        """P(approved): the pipeline's predict_proba computed from its fitted parameters
        (equal to it, tested), skipping ~1.5 ms of input validation per call."""
        # einsum, not @: a BLAS matrix-vector product starts OpenBLAS threads, and on a
        # shared 2-core machine that took 16 ms instead of 0.4 ms for 70 000 rows.
        return _sigmoid(np.einsum("ij,j->i", np.asarray(X, dtype=np.float64), self._w) + self._b)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self._mean) / self._scale * self._coef

    def score_one(self, x: Sequence[float]) -> float:
        z = self._intercept
        for xi, m, s, c in zip(x, *self._py, strict=True):
            z += c * ((xi - m) / s)
        return _sigmoid1(z)


@dataclass
class Examples:
    """Labelled pairs: X (n × FEATURES), y (1/0), decided dates, need ids (groups), product ids.

    Rows are sorted by the decision date, oldest first.
    """

    X: np.ndarray
    y: np.ndarray
    dates: np.ndarray  # datetime64[D], when the funder decided
    groups: np.ndarray  # need id per row: ranking metrics are computed per need
    product_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> Examples:
        return Examples(
            self.X[idx], self.y[idx], self.dates[idx], self.groups[idx], self.product_ids[idx]
        )


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
    return _examples(labels, rows)


def _examples(labels: list[PairLabel], rows: list[list[float]]) -> Examples:
    n = len(labels)
    return Examples(
        X=np.array(rows, dtype=np.float64).reshape(n, len(FEATURES)),
        y=np.array([lab.label for lab in labels], dtype=np.int64),
        dates=np.array([lab.decided for lab in labels], dtype="datetime64[D]"),
        groups=np.array([lab.need_id for lab in labels] + [None], dtype=object)[:n],
        product_ids=np.array([lab.product_id for lab in labels] + [None], dtype=object)[:n],
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


def train(
    examples: Examples,
    *,
    holdout: float = HOLDOUT,
    refit: bool = True,
    C: float = 1.0,  # noqa: N803
    now: datetime | None = None,
) -> TrainedModel:
    """Fit on the older (1 − holdout) of the rows, measure on the newest `holdout`, then
    (refit=True) refit on every row so the saved model has seen the latest decisions.

    metadata: version (UTC timestamp), trained_at, n_samples, n_train, n_holdout,
    n_positive, holdout_from, features, metrics (evaluate()'s dict, measured before the
    refit), estimator, sklearn. Raises NotEnoughOutcomes below the documented thresholds.
    """
    problem = check_trainable(examples.y)
    if problem:
        raise NotEnoughOutcomes(problem)
    train_idx, test_idx = time_split(examples, holdout)
    problem = check_trainable(examples.y[train_idx]) if len(test_idx) else None
    if problem:
        raise NotEnoughOutcomes(f"older {1 - holdout:.0%} of rows: {problem}")
    pipe = make_pipeline(C).fit(examples.X[train_idx], examples.y[train_idx])
    metrics = _evaluate_split(TrainedModel(pipe), examples, train_idx, test_idx)
    if refit:
        pipe = make_pipeline(C).fit(examples.X, examples.y)
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
        "estimator": "StandardScaler+LogisticRegression",
        "sklearn": sklearn.__version__,
    }
    return TrainedModel(pipe, metadata)


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


def metrics_for(y: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict[str, float | None]:
    return {
        "ndcg@10": ndcg_at_k(y, scores, groups, 10),
        "precision@5": precision_at_k(y, scores, groups, 5),
        "roc_auc": _roc_auc(y, scores),
    }


def _evaluate_split(
    model: Scorer | None,
    examples: Examples,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int = 0,
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
    return {
        "n_train": int(len(train_idx)),
        "n_holdout": int(len(test_idx)),
        "n_holdout_needs": n_groups,
        "holdout_from": str(test.dates.min()) if len(test) else None,
        "learned": metrics_for(test.y, model.score(test.X), test.groups) if model else None,
        "prior": metrics_for(test.y, Prior().score(test.X), test.groups),
        "random": random_metrics,
    }


def evaluate(
    examples: Examples, model: Scorer | None = None, *, holdout: float = HOLDOUT, seed: int = 0
) -> dict[str, Any]:
    """NDCG@10, precision@5 and ROC AUC of the learned model, the Prior and random order on
    the time-ordered hold-out (the newest `holdout` share by decision date).

    Without `model`, a model is fitted on the older rows first (the honest figure); a given
    model that was refitted on all rows has seen the hold-out, so prefer its metadata's
    "metrics", measured before the refit. "learned" is None when there is too little to train.
    """
    train_idx, test_idx = time_split(examples, holdout)
    if model is None and not check_trainable(examples.y[train_idx]):
        model = TrainedModel(make_pipeline().fit(examples.X[train_idx], examples.y[train_idx]))
    return _evaluate_split(model, examples, train_idx, test_idx, seed)
