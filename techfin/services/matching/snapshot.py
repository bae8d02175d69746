"""The per-process catalogue snapshot (products, institutions, their track records) and
the model store.

A web worker keeps only the product side in memory: a few thousand products and mandates
vectorised once, plus the institutions' track records (History). A need's ranking reads
that one need from the database, so no request costs O(all needs); the needs' side of the
catalogue is ranked by the task worker into the stored matches (stored.py), which the
dealflow reads. The catalogue is rebuilt when products or institutions change (row count
or latest updated_at); the track records follow the outcomes, at most every
MATCHING_HISTORY_TTL seconds in a web request (a funder's approval rate moving a few
seconds late is harmless; re-reading every outcome after each pipeline step was not).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_request_context
from sqlalchemy import func, literal, select, union, union_all

from techfin.extensions import db
from techfin.models import (
    Copyright,
    Enterprise,
    Funder,
    Need,
    Outcome,
    Patent,
    Product,
    Trademark,
)

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    from techfin.matching import CandidateSet, History, Scorer

from techfin.services.matching.common import (
    MANDATE_FUNDER_KINDS,
    enterprise_dict,
    funder_dict,
    need_dict,
    product_dict,
)

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """The product side of the catalogue as the library sees it."""

    key: tuple
    candidates: CandidateSet
    product_by_id: dict[int, dict[str, Any]]
    funder_by_id: dict[int, dict[str, Any]]
    history: History
    history_key: tuple = ()
    history_at: float = 0.0
    # Each institution's product ids, in id order: a dealflow lists its own without
    # looking at the other ~2 000.
    products_of: dict[int, tuple[int, ...]] = field(default_factory=dict)

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
        # Each process waits its own multiple of the TTL before re-reading the track
        # records, so gunicorn's workers (forked together) do not all do it at once.
        self.history_jitter = random.uniform(1.0, 1.5)


def _state() -> _State:
    app = current_app._get_current_object()
    state = app.extensions.get("techfin_matching")
    if state is None:
        state = app.extensions.setdefault("techfin_matching", _State(app))
    return state


def fingerprint() -> tuple:
    """Products and funders: row count and latest updated_at (a few thousand rows);
    outcomes: latest id and updated_at (index look-ups, whatever their number). One query.

    An outcome deleted with its need leaves the outcomes' key unchanged; the track records
    are re-read anyway once they are HISTORY_MAX_AGE old."""
    cols = []
    for model in (Product, Funder):
        cols.append(select(func.count(model.id)).scalar_subquery())
        cols.append(select(func.max(model.updated_at)).scalar_subquery())
    cols.append(select(func.max(Outcome.id)).scalar_subquery())
    cols.append(select(func.max(Outcome.updated_at)).scalar_subquery())
    return tuple(db.session.execute(select(*cols)).one())


HISTORY_MAX_AGE = 600.0  # seconds


# ------------------------------------------------------------------ loading


def load_catalogue() -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Every product (funder embedded) and every funder as the library's dicts."""
    funders = {f.id: funder_dict(f) for f in db.session.execute(select(Funder)).scalars()}
    products = [
        product_dict(p, funders[p.funder_id])
        for p in db.session.execute(select(Product).order_by(Product.id)).scalars()
    ]
    return products, funders


def load_outcomes() -> list[dict[str, Any]]:
    return [
        {"need_id": n, "product_id": p, "stage": s, "date": d}
        for n, p, s, d in db.session.execute(
            # An ending an operator reopened is no longer the pair's outcome: not a label.
            select(Outcome.need_id, Outcome.product_id, Outcome.stage, Outcome.date).where(
                Outcome.reopened_at.is_(None)
            )
        )
    ]


def load_history(product_by_id: dict[int, dict[str, Any]]) -> History:
    """Institutions' track records from the outcomes: one decision per decided pair
    (history.pair_labels' rule: approved or funded at any step, dated by the first such
    step, else declined, dated by the first decline; a reopened ending does not count),
    with the pair's institution, its enterprise and that enterprise's industry section.

    The pairs are collapsed by the database in one grouped query. Reading every step and
    collapsing them in Python took 0.7 s at 100 000 enterprises (96 000 steps), and a web
    worker does this whenever the outcomes moved, at most every MATCHING_HISTORY_TTL."""
    from techfin.matching import History
    from techfin.matching.profiles import NEGATIVE_STAGES, POSITIVE_STAGES, as_date

    steps = (
        select(
            Outcome.need_id,
            Outcome.product_id,
            func.min(Outcome.date).filter(Outcome.stage.in_(POSITIVE_STAGES)).label("pos"),
            func.min(Outcome.date).filter(Outcome.stage.in_(NEGATIVE_STAGES)).label("neg"),
        )
        .where(
            Outcome.reopened_at.is_(None),
            Outcome.need_id.is_not(None),
            Outcome.product_id.is_not(None),
        )  # fmt: skip
        .group_by(Outcome.need_id, Outcome.product_id)
        .subquery()
    )
    rows = db.session.execute(
        select(steps.c.product_id, Enterprise.id, Enterprise.industry, steps.c.pos, steps.c.neg)
        .join(Need, Need.id == steps.c.need_id)
        .join(Enterprise, Enterprise.id == Need.enterprise_id)
        .where((steps.c.pos.is_not(None)) | (steps.c.neg.is_not(None)))
    )
    decisions = []
    for product_id, enterprise_id, industry, pos, neg in rows:
        product = product_by_id.get(product_id)
        if product is None:
            continue
        funder = product.get("funder") or {}
        section = str(industry).strip()[:1].upper() if industry else None
        decided = as_date(pos if pos is not None else neg)
        decisions.append((funder.get("id", product.get("funder_id")), section or None,
                          enterprise_id, decided, 1 if pos is not None else 0))  # fmt: skip
    return History(decisions)


_IN_CHUNK = 5000


def need_records(need_ids: set[int] | list[int]) -> dict[int, dict[str, Any]]:
    """These needs as the library reads them (enterprise and all its patents embedded),
    in three queries whatever their number. Confidential patents count for eligibility;
    nothing here is ever shown."""
    ids = sorted(set(need_ids))
    if not ids:
        return {}
    if len(ids) > _IN_CHUNK:  # SQLite refuses more bound parameters than this per statement
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            out.update(need_records(ids[start : start + _IN_CHUNK]))
        return out
    needs = list(db.session.execute(select(Need).where(Need.id.in_(ids))).scalars())
    eids = {n.enterprise_id for n in needs}
    patents: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # Patents, software copyrights and trademarks in one list told apart by kind (the
    # library's IP_KINDS), read in one statement whatever the number of needs.
    rows = db.session.execute(
        union_all(
            select(Patent.enterprise_id, Patent.kind, Patent.status, Patent.valuation_cny)
            .where(Patent.enterprise_id.in_(eids)),
            select(Copyright.enterprise_id, literal("software_copyright"), Copyright.status,
                   Copyright.valuation_cny).where(Copyright.enterprise_id.in_(eids)),
            select(Trademark.enterprise_id, literal("trademark"), Trademark.status,
                   Trademark.valuation_cny).where(Trademark.enterprise_id.in_(eids)),
        )
    )  # fmt: skip
    for eid, kind, status, value in rows:
        patents[eid].append({"kind": kind, "status": status, "valuation_cny": value})
    enterprises = {
        e.id: enterprise_dict(e, patents.get(e.id, []))
        for e in db.session.execute(select(Enterprise).where(Enterprise.id.in_(eids))).scalars()
    }
    return {n.id: need_dict(n, enterprises[n.enterprise_id]) for n in needs}


def confidential_enterprises(enterprise_ids: set[int]) -> set[int]:
    """Those of these enterprises holding a confidential granted patent or registered
    software copyright / trademark (IP reasons could disclose them)."""
    if not enterprise_ids:
        return set()
    # One statement for the three kinds (the digest lookup's query budget is fixed).
    return set(
        db.session.execute(
            union(
                select(Patent.enterprise_id).where(
                    Patent.enterprise_id.in_(enterprise_ids), Patent.confidential.is_(True),
                    Patent.status == "granted"),
                select(Copyright.enterprise_id).where(
                    Copyright.enterprise_id.in_(enterprise_ids),
                    Copyright.confidential.is_(True), Copyright.status == "registered"),
                select(Trademark.enterprise_id).where(
                    Trademark.enterprise_id.in_(enterprise_ids),
                    Trademark.confidential.is_(True), Trademark.status == "registered"),
            )
        ).scalars()
    )  # fmt: skip


def load_snapshot(key: tuple = ()) -> Snapshot:
    """Read the products and institutions and vectorise them (a TF-IDF space of their own
    texts; a need's text is projected into it when it is ranked)."""
    from techfin.matching import CandidateSet

    products, funders = load_catalogue()
    candidates = CandidateSet.from_products(products, list(funders.values()))
    product_by_id = {p["id"]: p for p in products}
    products_of: dict[int, list[int]] = defaultdict(list)
    for p in products:
        products_of[p["funder"]["id"]].append(p["id"])
    history = load_history(product_by_id)
    return Snapshot(key[:4], candidates, product_by_id, funders, history, key[4:],
                    time.monotonic(), {f: tuple(ids) for f, ids in products_of.items()})  # fmt: skip


WORKER_FLAG = "techfin_task_worker"  # app.extensions key the `worker` command sets


def _history_ttl() -> float:
    """How long a process may rank with track records older than the latest outcomes.

    Pages and the task worker's tasks: MATCHING_HISTORY_TTL. A task worker re-read them
    for every task while outcomes moved (every docking step moves them): at 100 000
    enterprises a need's recompute took 190 ms instead of 10, most of it the grouped read
    of 96 000 steps, once a second under load. Stored rankings do not depend on it being
    fresher: a new step marks no need dirty, so a need's stored ranking always reflects
    the track records of when it was last recomputed. Other commands (an import, a full
    recompute, the demo data) read the latest: they may have written outcomes themselves
    since their snapshot was loaded."""
    app = current_app._get_current_object()
    if not (has_request_context() or app.extensions.get(WORKER_FLAG)):
        return 0.0
    return float(app.config.get("MATCHING_HISTORY_TTL", 30.0))


def snapshot() -> Snapshot:
    """The current snapshot: rebuilt when products or institutions changed, its track
    records re-read when outcomes changed (in a request, at most every TTL seconds)."""
    state = _state()
    key = fingerprint()
    snap = state.snapshot
    fresh = snap is not None and time.monotonic() - snap.history_at < HISTORY_MAX_AGE
    if snap is not None and snap.key == key[:4] and snap.history_key == key[4:] and fresh:
        return snap
    with state.lock:
        snap = state.snapshot
        if snap is None or snap.key != key[:4]:
            state.snapshot = load_snapshot(key)
        else:
            age = time.monotonic() - snap.history_at
            moved = snap.history_key != key[4:] or age >= HISTORY_MAX_AGE
            if moved and age >= _history_ttl() * state.history_jitter:
                history = load_history(snap.product_by_id)
                state.snapshot = replace(snap, history=history, history_key=key[4:],
                                         history_at=time.monotonic())  # fmt: skip
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
