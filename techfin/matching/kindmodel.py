"""The kind-aware logistic regression (matching v2, issue #15) and its Platt calibration.

One logistic regression over generic features gives every kind of product the same
weights, so it cannot say "coverage matters for IP pledges and not for equity". This one
fits, on a sparse design matrix,

    logit = b + b_kind
          + Σ_j (w_j + v_kind,j) · (x_j − μ_kind,j) / σ_kind,j     shared + kind-specific weights
          + u_institution + u_product                               smoothed appetite effects

with an L2 penalty on everything: the shared weights w let a kind with few outcomes borrow
from the others (v_kind shrinks to 0 without evidence), and the one-hot institution and
product effects shrink to 0 for a funder or product with few decisions (their columns are
scaled by ENTITY_SCALE < 1, which is the same as a stronger penalty on them). An unseen
institution or product, or a kind never trained on, simply gets 0 for that part.

Every term is additive, so a pair's score splits exactly into per-feature contributions
(centred on the average pair of its kind: "what makes this pair better than a typical
IP-pledge request") plus the institution's and product's effects; they sum to the logit.
Platt scaling (logit' = a · logit + c, fitted on a time-ordered slice the regression did
not see) turns scores into calibrated approval probabilities and keeps that sum exact:
every contribution is multiplied by a.

The fitted regression lives in a one-step scikit-learn Pipeline whose input is
`Design.matrix(X, kinds, funders, products)`; the design itself (kinds, means, scales,
institution and product keys) is plain JSON, so a skops file needs no extra trusted type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from techfin.matching.features import FEATURES, row_dot

# Column multipliers (scaling a column by s divides the L2 penalty on its weight by s²),
# chosen on the time-ordered hold-out of the benchmark world (3 000 needs): at
# ENTITY_SCALE 0.5 the institution and product effects came out at half their true spread,
# the funder's approval-rate feature took over, and NDCG@10 lift was 0.02 lower; 2.0
# gained nothing more and calibrated slightly worse. KIND_SCALE 3 (kind-specific weights
# penalised 9× less than shared ones) lets a kind depart from the others where its data
# says so; at 1 the shared weights leaked one kind's drivers into another's reasons.
KIND_SCALE = 3.0
ENTITY_SCALE = 1.0
C_DEFAULT = 1.0
CONTRIBUTION_EXTRAS = ("institution", "product")


def entity_key(value: Any) -> str:
    """Institution / product ids as JSON-safe strings."""
    return str(value)


def product_key(type_: str, id_: Any) -> str:
    """A candidate's key: its id for a product, "mandate:<id>" for a funder's mandate (whose
    id is the funder's and must not pick up the effect of a product with the same id)."""
    return entity_key(id_) if type_ == "product" else f"{type_}:{id_}"


@dataclass(frozen=True)
class PairContext:
    """Who each feature row is about: the product kind (one for the whole call, as ranking
    scores one kind at a time, or one per row), and the institution and product keys per row
    (or one for all rows). `rows` selects from the per-row arrays without copying them, so a
    scorer can cache lookups for a candidate set's full key arrays."""

    kind: str | None | np.ndarray
    funders: np.ndarray | Sequence[Any]
    products: np.ndarray | Sequence[Any]
    rows: np.ndarray | None = None

    def per_row(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kinds, funders, products), one entry per row."""
        out = []
        for values in (self.kind, self.funders, self.products):
            if isinstance(values, np.ndarray) and values.shape:
                arr = values
            elif isinstance(values, (list, tuple)):
                arr = np.array([*values, None], dtype=object)[: len(values)]
            else:
                arr = np.array([values], dtype=object)
            if values is not self.kind and self.rows is not None and len(arr) > 1:
                arr = arr[self.rows]
            out.append(np.broadcast_to(arr, (n,)) if len(arr) == 1 else arr)
        return out[0], out[1], out[2]

    def take(self, idx: np.ndarray | Sequence[int]) -> PairContext:
        idx = np.asarray(idx, dtype=np.int64)
        rows = idx if self.rows is None else np.asarray(self.rows)[idx]
        kind = self.kind
        if isinstance(kind, np.ndarray) and kind.shape:
            kind = kind[idx]
        return PairContext(kind, self.funders, self.products, rows)


@dataclass
class Design:
    """How feature rows become the regression's sparse input (JSON round-trip: to_json)."""

    kinds: list[str]
    mean: dict[str, list[float]]  # per kind, and "*" for a kind never trained on
    scale: dict[str, list[float]]
    funders: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    kind_scale: float = KIND_SCALE
    entity_scale: float = ENTITY_SCALE
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    # Per kind, whether each feature varied in training; one that did not (coverage outside
    # IP pledges) has no weight for that kind, so a value never seen is not extrapolated.
    varies: dict[str, list[bool]] = field(default_factory=dict)

    @property
    def width(self) -> int:
        f, k = len(self.features), len(self.kinds)
        return f * (1 + k) + k + len(self.funders) + len(self.products)

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        kinds: np.ndarray,
        funders: np.ndarray,
        products: np.ndarray,
        kind_scale: float | None = None,
        entity_scale: float | None = None,
    ) -> Design:
        kind_list = sorted({str(k) for k in kinds if k is not None})
        mean, scale, varies = {}, {}, {}
        for k in [*kind_list, "*"]:
            rows = X if k == "*" else X[kinds == k]
            mu = rows.mean(axis=0)
            sd = rows.std(axis=0)
            # A feature constant within a kind gets scale 1: its centred value is 0 in
            # training, and KindWeights drops its weight for that kind.
            mean[k] = mu.tolist()
            scale[k] = np.where(sd > 1e-9, sd, 1.0).tolist()
            varies[k] = (sd > 1e-9).tolist()
        return cls(
            kinds=kind_list,
            mean=mean,
            scale=scale,
            funders=sorted({entity_key(f) for f in funders if f is not None}),
            products=sorted({entity_key(p) for p in products if p is not None}),
            kind_scale=KIND_SCALE if kind_scale is None else kind_scale,
            entity_scale=ENTITY_SCALE if entity_scale is None else entity_scale,
            varies=varies,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kinds": self.kinds,
            "mean": self.mean,
            "scale": self.scale,
            "funders": self.funders,
            "products": self.products,
            "kind_scale": self.kind_scale,
            "entity_scale": self.entity_scale,
            "features": self.features,
            "varies": self.varies,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Design:
        return cls(
            kinds=list(data["kinds"]),
            mean={k: list(v) for k, v in data["mean"].items()},
            scale={k: list(v) for k, v in data["scale"].items()},
            funders=list(data.get("funders", [])),
            products=list(data.get("products", [])),
            kind_scale=float(data.get("kind_scale", KIND_SCALE)),
            entity_scale=float(data.get("entity_scale", ENTITY_SCALE)),
            features=list(data.get("features", [])),
            varies={k: [bool(b) for b in v] for k, v in data.get("varies", {}).items()},
        )

    def matrix(
        self, X: np.ndarray, kinds: np.ndarray, funders: np.ndarray, products: np.ndarray
    ) -> sp.csr_matrix:
        """The regression input for rows X of the given kinds, institutions and products."""
        X = np.asarray(X, dtype=np.float64)
        n, f = X.shape
        nk = len(self.kinds)
        kidx = {k: i for i, k in enumerate(self.kinds)}
        kpos = np.array([kidx.get(str(k), -1) for k in kinds], dtype=np.int64)
        mu = np.array([self.mean[k] for k in [*self.kinds, "*"]])[kpos]  # -1 → "*"
        sd = np.array([self.scale[k] for k in [*self.kinds, "*"]])[kpos]
        Z = (X - mu) / sd
        blocks = [sp.csr_matrix(Z)]
        rows = np.arange(n)
        known = kpos >= 0
        # Kind-specific copy of the standardised features: non-zero only in the row's kind.
        kcols = (f * (1 + kpos[known]))[:, None] + np.arange(f)[None, :]
        kind_part = sp.csr_matrix(
            (
                (Z[known] * self.kind_scale).ravel(),
                (np.repeat(rows[known], f), kcols.ravel() - f),
            ),
            shape=(n, f * nk),
        )
        blocks.append(kind_part)
        blocks.append(
            sp.csr_matrix((np.ones(int(known.sum())), (rows[known], kpos[known])), shape=(n, nk))
        )
        for vocab, keys in ((self.funders, funders), (self.products, products)):
            index = {k: i for i, k in enumerate(vocab)}
            pos = np.array([index.get(entity_key(v), -1) for v in keys], dtype=np.int64)
            ok = pos >= 0
            blocks.append(
                sp.csr_matrix(
                    (np.full(int(ok.sum()), self.entity_scale), (rows[ok], pos[ok])),
                    shape=(n, len(vocab)),
                )
            )
        return sp.hstack(blocks, format="csr")


def fit_regression(
    design: Design,
    X: np.ndarray,
    y: np.ndarray,
    kinds: np.ndarray,
    funders: np.ndarray,
    products: np.ndarray,
    C: float = C_DEFAULT,  # noqa: N803 - scikit-learn's name
    warm: LogisticRegression | None = None,
) -> Pipeline:
    """The one-step Pipeline (LogisticRegression on the design matrix), fitted; `warm`, a
    regression fitted on the same design, seeds the solver (fewer iterations)."""
    # newton-cg: on the kind-scaled columns lbfgs needed ~200 iterations and still stopped
    # 0.1 short of the optimum on some weights; Newton steps converge in ~8 and faster.
    lr = LogisticRegression(C=C, solver="newton-cg", max_iter=200, warm_start=warm is not None)
    if warm is not None:
        lr.coef_ = np.array(warm.coef_, dtype=np.float64, copy=True)
        lr.intercept_ = np.array(warm.intercept_, dtype=np.float64, copy=True)
    pipe = Pipeline([("model", lr)])
    return pipe.fit(design.matrix(X, kinds, funders, products), y)


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, c) so that sigmoid(a · logit + c) is calibrated on these rows; (1, 0) when the
    rows hold one class only or the fit would reverse the order (a ≤ 0)."""
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(logits).reshape(-1, 1), y)
    a, c = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    return (a, c) if a > 0 else (1.0, 0.0)


class KindWeights:
    """Fitted coefficients folded per kind, for fast scoring and exact contributions.

    For kind k: contribution_j = a · (w_j + s·v_k,j) / σ_k,j · (x_j − μ_k,j), the base is
    a · (b + b_k) + c, and the entity offsets are a · s_e · u; logit = base + Σ + offsets.
    """

    def __init__(self, design: Design, lr: LogisticRegression, a: float, c: float) -> None:
        f, nk = len(design.features), len(design.kinds)
        coef = np.asarray(lr.coef_[0], dtype=np.float64)
        b = float(lr.intercept_[0])
        shared = coef[:f]
        kind_w = coef[f : f * (1 + nk)].reshape(nk, f) if nk else np.zeros((0, f))
        kind_b = coef[f * (1 + nk) : f * (1 + nk) + nk]
        ent = coef[f * (1 + nk) + nk :]
        nf = len(design.funders)
        self.a, self.c = a, c
        self.design = design
        self.weights: dict[str, np.ndarray] = {}  # per unit of x, calibrated
        self.mean: dict[str, np.ndarray] = {}
        self.base: dict[str, float] = {}  # logit of a pair at the kind's means, no entities
        self.bias: dict[str, float] = {}  # base − Σ w·μ: logit = bias + x·w + offsets
        for i, k in enumerate([*design.kinds, "*"]):
            known = i < nk
            w_std = shared + (design.kind_scale * kind_w[i] if known else 0.0)
            w = a * w_std / np.asarray(design.scale[k])
            if k in design.varies:
                w = np.where(design.varies[k], w, 0.0)
            mu = np.asarray(design.mean[k])
            self.weights[k] = w
            self.mean[k] = mu
            self.base[k] = a * (b + (float(kind_b[i]) if known else 0.0)) + c
            self.bias[k] = self.base[k] - float(np.dot(mu, w))
        scale = a * design.entity_scale
        self.funder = dict(zip(design.funders, (scale * ent[:nf]).tolist(), strict=True))
        self.product = dict(zip(design.products, (scale * ent[nf:]).tolist(), strict=True))
        self._cache: dict[int, tuple[Any, np.ndarray]] = {}

    def kind_key(self, kind: Any) -> str:
        k = str(kind) if kind is not None else "*"
        return k if k in self.weights else "*"

    def _lookup(self, table: dict[str, float], keys: Any) -> np.ndarray:
        if isinstance(keys, np.ndarray) and keys.ndim == 1 and len(keys) > 1:
            # Candidate sets pass the same key array on every call: look it up once.
            hit = self._cache.get(id(keys))
            if hit is not None and hit[0] is keys:
                return hit[1]
            out = np.array([table.get(entity_key(k), 0.0) for k in keys.tolist()])
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[id(keys)] = (keys, out)
            return out
        if isinstance(keys, (list, tuple, np.ndarray)):
            return np.array([table.get(entity_key(k), 0.0) for k in keys], dtype=np.float64)
        return np.array([table.get(entity_key(keys), 0.0)])

    def entity_offsets(self, ctx: PairContext, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(institution, product) calibrated effects per row (broadcast to n rows)."""
        out = []
        for table, keys in ((self.funder, ctx.funders), (self.product, ctx.products)):
            vals = self._lookup(table, keys)
            if ctx.rows is not None and len(vals) > 1:
                vals = vals[ctx.rows]
            out.append(np.broadcast_to(vals, (n,)) if len(vals) == 1 else vals)
        return out[0], out[1]

    def row_kinds(self, ctx: PairContext, n: int) -> list[str] | str:
        if isinstance(ctx.kind, np.ndarray) and ctx.kind.shape:
            return [self.kind_key(k) for k in ctx.kind.tolist()]
        return self.kind_key(ctx.kind)

    def logits(self, X: np.ndarray, ctx: PairContext) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        fo, po = self.entity_offsets(ctx, n)
        kinds = self.row_kinds(ctx, n)
        if isinstance(kinds, str):
            # row_dot, not @ (OpenBLAS threads) or einsum (order varies with the shape).
            return row_dot(X, self.weights[kinds]) + self.bias[kinds] + fo + po
        W = np.array([self.weights[k] for k in kinds]).reshape(n, -1)
        b = np.array([self.bias[k] for k in kinds])
        return row_dot(X, W) + b + fo + po

    def contributions(self, X: np.ndarray, ctx: PairContext) -> tuple[np.ndarray, np.ndarray]:
        """(n × (FEATURES + institution + product) contributions, base per row)."""
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        fo, po = self.entity_offsets(ctx, n)
        kinds = self.row_kinds(ctx, n)
        names = [kinds] * n if isinstance(kinds, str) else kinds
        W = np.array([self.weights[k] for k in names]).reshape(n, -1)
        M = np.array([self.mean[k] for k in names]).reshape(n, -1)
        base = np.array([self.base[k] for k in names], dtype=np.float64)
        return np.column_stack([(X - M) * W, fo, po]), base
