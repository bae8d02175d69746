"""Training and evaluating the ranking model from recorded outcomes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    from techfin.matching import (
        Examples,
        TrainedModel,
    )

from techfin.extensions import db
from techfin.services.matching.dirty import mark_all_dirty
from techfin.services.matching.snapshot import _state, load_catalogue, load_outcomes, need_records
from techfin.services.matching.stored import RefreshReport

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ training


@dataclass
class TrainResult:
    examples: int
    positives: int
    model: TrainedModel | None = None
    path: Path | None = None
    reason: str = ""
    refresh: RefreshReport | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def training_examples() -> Examples:
    """One row per decided (need, product) pair, from every recorded outcome."""
    from techfin.matching import build_examples

    outcomes = load_outcomes()
    products, _funders = load_catalogue()
    needs = need_records({o["need_id"] for o in outcomes})
    return build_examples(needs, {p["id"]: p for p in products}, outcomes)


def train_model(directory: str | Path | None = None, *, force: bool = False) -> TrainResult:
    """Train from the recorded outcomes and save with skops into MODEL_DIR; then mark
    every stored ranking stale for the task queue. Too few outcomes, or a model whose hold-out ROC AUC does not beat
    the rule-based prior's (unless forced): nothing is saved and the Prior stays."""
    from techfin.matching import NotEnoughOutcomes, save_model, train

    examples = training_examples()
    result = TrainResult(len(examples), int(examples.y.sum()))
    try:
        model = train(examples)
    except NotEnoughOutcomes as exc:
        result.reason = str(exc)
        return result
    result.model, result.metrics = model, model.metadata.get("metrics") or {}
    learned = (result.metrics.get("learned") or {}).get("roc_auc")
    prior = (result.metrics.get("prior") or {}).get("roc_auc")
    if not force and learned is not None and prior is not None and learned <= prior:
        # Users were promised the better ranking, not the newer one.
        result.reason = f"hold-out ROC AUC {learned:.3f} does not beat the prior's {prior:.3f}"
        return result
    result.path = save_model(model, directory or current_app.config["MODEL_DIR"])
    _state().store.refresh()
    # Every stored ranking is now stale: the queue recomputes them in shared chunks (the
    # wake-up goes out when this command or task ends).
    mark_all_dirty(db.session)
    db.session.commit()
    return result


def evaluate_models() -> tuple[Examples, dict[str, Any]]:
    """Hold-out metrics of a model fitted on the older outcomes, the Prior and random order."""
    from techfin.matching import evaluate

    examples = training_examples()
    if len(examples) < 2:
        return examples, {}
    return examples, evaluate(examples)
