"""The per-process catalogue snapshot and the model store."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from sqlalchemy import func, select

from techfin.extensions import db
from techfin.models import (
    Enterprise,
    Funder,
    Need,
    Outcome,
    Patent,
    Product,
)

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    from techfin.matching import (
        CandidateSet,
        History,
        NeedSet,
        Scorer,
    )

from techfin.services.matching.common import (
    MANDATE_FUNDER_KINDS,
    enterprise_dict,
    funder_dict,
    need_dict,
    product_dict,
)

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ the cached snapshot


@dataclass
class Snapshot:
    """The catalogue as the library sees it, built once per fingerprint."""

    key: tuple
    candidates: CandidateSet
    needs: NeedSet
    need_by_id: dict[int, dict[str, Any]]
    product_by_id: dict[int, dict[str, Any]]
    funder_by_id: dict[int, dict[str, Any]]
    outcomes: list[dict[str, Any]]
    history: History
    confidential: set[int]  # enterprises holding a confidential granted patent

    @property
    def mandate_count(self) -> int:
        return sum(1 for f in self.funder_by_id.values() if f["kind"] in MANDATE_FUNDER_KINDS)


class _State:
    """Per app (so per process): the snapshot, the model store, what was logged."""

    def __init__(self, app: Flask) -> None:
        from techfin.matching import ModelStore

        self.lock = threading.Lock()
        self.snapshot: Snapshot | None = None
        self.store = ModelStore(
            app.config["MODEL_DIR"], check_interval=app.config.get("MATCHING_MODEL_CHECK", 5.0)
        )
        self.logged_error: str | None = None


def _state() -> _State:
    app = current_app._get_current_object()
    state = app.extensions.get("techfin_matching")
    if state is None:
        state = app.extensions.setdefault("techfin_matching", _State(app))
    return state


_FINGERPRINTED = (Product, Funder, Need, Enterprise, Patent, Outcome)


def fingerprint() -> tuple:
    """Row counts and latest updated_at of everything a ranking reads (one query)."""
    cols = []
    for model in _FINGERPRINTED:
        cols.append(select(func.count(model.id)).scalar_subquery())
        cols.append(select(func.max(model.updated_at)).scalar_subquery())
    return tuple(db.session.execute(select(*cols)).one())


def load_snapshot(key: tuple = ()) -> Snapshot:
    """Read the catalogue and build the library's sets (one jieba pass over all texts)."""
    from techfin.matching import History, build_sets

    funders = {f.id: funder_dict(f) for f in db.session.execute(select(Funder)).scalars()}
    patents: dict[int, list[dict[str, Any]]] = defaultdict(list)
    confidential: set[int] = set()
    rows = db.session.execute(
        select(
            Patent.enterprise_id,
            Patent.kind,
            Patent.status,
            Patent.valuation_cny,
            Patent.confidential,
        )  # fmt: skip
    )
    for eid, kind, status, value, secret in rows:
        patents[eid].append({"kind": kind, "status": status, "valuation_cny": value})
        if secret and status == "granted":
            confidential.add(eid)
    enterprises = {
        e.id: enterprise_dict(e, patents.get(e.id, []))
        for e in db.session.execute(select(Enterprise)).scalars()
    }
    needs = [
        need_dict(n, enterprises[n.enterprise_id])
        for n in db.session.execute(select(Need).order_by(Need.id)).scalars()
    ]
    products = [
        product_dict(p, funders[p.funder_id])
        for p in db.session.execute(select(Product).order_by(Product.id)).scalars()
    ]
    outcomes = _load_outcomes()
    candidates, need_set = build_sets(products, needs, list(funders.values()))
    need_by_id = {n["id"]: n for n in needs}
    product_by_id = {p["id"]: p for p in products}
    history = History.from_outcomes(outcomes, need_by_id, product_by_id)
    return Snapshot(key, candidates, need_set, need_by_id, product_by_id, funders, outcomes,
                    history, confidential)  # fmt: skip


def _load_outcomes() -> list[dict[str, Any]]:
    return [
        {"need_id": n, "product_id": p, "stage": s, "date": d}
        for n, p, s, d in db.session.execute(
            select(Outcome.need_id, Outcome.product_id, Outcome.stage, Outcome.date)
        )
    ]


# Outcome is fingerprinted last: its two columns are the only ones a pipeline step changes.
_CATALOGUE = 2 * (len(_FINGERPRINTED) - 1)


def _with_new_outcomes(snap: Snapshot, key: tuple) -> Snapshot:
    """The same catalogue with the current outcome history: a docking step or an "express
    interest" changes only the history, and re-reading and re-vectorising the whole
    catalogue in every worker after each one cost more than the pages that followed."""
    from techfin.matching import History

    outcomes = _load_outcomes()
    history = History.from_outcomes(outcomes, snap.need_by_id, snap.product_by_id)
    return replace(snap, key=key, outcomes=outcomes, history=history)


def snapshot() -> Snapshot:
    """The current snapshot, rebuilt when the catalogue changed since it was built."""
    state = _state()
    key = fingerprint()
    snap = state.snapshot
    if snap is not None and snap.key == key:
        return snap
    with state.lock:
        snap = state.snapshot
        if snap is None or snap.key != key:
            if snap is not None and snap.key[:_CATALOGUE] == key[:_CATALOGUE]:
                state.snapshot = _with_new_outcomes(snap, key)
            else:
                state.snapshot = load_snapshot(key)
        return state.snapshot


def scorer() -> Scorer:
    """The newest trained model, or the Prior when there is none or it cannot be loaded
    (a broken model file is logged as an error once, and never breaks a page)."""
    from techfin.matching import Prior
    from techfin.matching.persistence import model_files

    state = _state()
    try:
        current = state.store.get()
    except Exception:  # the store itself must never take a page down
        log.exception("matching model store failed; ranking with the prior")
        return Prior()
    error = state.store.error
    if error and model_files(state.store.directory):
        if error != state.logged_error:
            log.error("matching model unusable, ranking with the rule-based prior: %s", error)
            state.logged_error = error
    else:
        state.logged_error = None
    return current


def model_info() -> dict[str, Any]:
    """{"kind": "learned" | "prior", "version", and for a learned model its metadata}."""
    from techfin.matching import TrainedModel

    current = scorer()
    info = dict(current.info)
    if isinstance(current, TrainedModel):
        meta = current.metadata
        info.update(trained_at=meta.get("trained_at"), n_samples=meta.get("n_samples"),
                    metrics=meta.get("metrics"))  # fmt: skip
    return info
