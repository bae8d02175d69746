"""What a committed change makes stale, and the task that brings it up to date.

Every flush that changes a need, product, patent, enterprise or institution writes dirty
marks (techfin.models.DirtyMark) in the same transaction, so a committed change is never
forgotten. When the request or command ends, a wake-up goes on the task queue; a worker
claims marks in chunks, recomputes the stored matches they name, and deletes the marks in
the same transaction as the new rows. A mark whose wake-up was lost (queue down, worker
killed, Redis restarted) is picked up by the next wake-up or by the minute sweep.

Recomputing is idempotent, so a chunk done twice (a worker killed after its commit but
before its acknowledgement) costs time, never correctness. On PostgreSQL several workers
share the marks (`FOR UPDATE SKIP LOCKED`); SQLite has one writer anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context
from sqlalchemy import delete, event, func, insert, literal, select, union
from sqlalchemy.orm import Session

from techfin.extensions import db
from techfin.models import (
    Copyright,
    DirtyMark,
    Enterprise,
    Funder,
    Match,
    Need,
    Patent,
    Product,
    Trademark,
)
from techfin.models.base import utcnow
from techfin.services.matching.common import MANDATE_FUNDER_KINDS
from techfin.services.matching.stored import (
    RefreshReport,
    ensure_indexes,
    indexes_built_after,
    refresh_all,
    refresh_needs,
)
from techfin.tools.planner_stats import analyze_after_bulk

log = logging.getLogger(__name__)

_PENDING = "matching_dirty"  # session.info: marks already written in this transaction
_WOKEN = "matching_wake"  # session.info: a wake-up is due when the request ends


# ------------------------------------------------------------------ recording


def _touch_organizations(session: Session, _ctx: Any, _instances: Any) -> None:
    # Enterprise / Funder columns live in their own tables, so the shared updated_at (on
    # organizations) would not move: bump it, so the catalogue fingerprint sees the change.
    for obj in session.dirty:
        if isinstance(obj, Enterprise | Funder) and session.is_modified(
            obj, include_collections=False
        ):
            obj.updated_at = utcnow()


def _marks_for(session: Session) -> set[tuple[str, int | None]]:
    marks: set[tuple[str, int | None]] = set()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Need):
            marks.add(("need", obj.id))
        elif isinstance(obj, Product):
            marks.add(("product", obj.id))
        elif isinstance(obj, Patent | Copyright | Trademark):
            marks.add(("enterprise", obj.enterprise_id))
        elif isinstance(obj, Enterprise):
            if obj in session.new or session.is_modified(obj, include_collections=False):
                marks.add(("enterprise", obj.id))
        elif isinstance(obj, Funder):
            new = obj in session.new
            if (
                (new and obj.kind in MANDATE_FUNDER_KINDS)
                or obj in session.deleted
                or (not new and session.is_modified(obj, include_collections=False))
            ):
                # An institution's name, kind, regions or verification touch every need
                # its products (or its fund mandate) may rank for.
                marks.add(("everything", None))
    return {m for m in marks if m[0] == "everything" or m[1] is not None}


def _record(session: Session, _ctx: Any) -> None:
    """After each flush: write the marks this flush adds (once per transaction)."""
    if session.info.get("matching_marks_off"):
        return
    written: set = session.info.setdefault(_PENDING, set())
    fresh = _marks_for(session) - written
    if not fresh:
        return
    now = utcnow()
    session.connection().execute(
        insert(DirtyMark),
        [{"kind": k, "object_id": i, "created_at": now} for k, i in sorted(fresh, key=str)],
    )
    written |= fresh
    session.info[_WOKEN] = True


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def mark_all_dirty(session: Session) -> None:
    """Every stored ranking is stale (bulk import, new model): one mark, recomputed in
    chunks that every worker shares."""
    session.execute(
        insert(DirtyMark).values(kind="everything", object_id=None, created_at=utcnow())
    )
    session.info[_WOKEN] = True


def install_hooks() -> None:
    for name, fn in (("before_flush", _touch_organizations), ("after_flush", _record),
                     ("after_commit", _forget), ("after_rollback", _forget)):  # fmt: skip
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


def wake_after_change() -> None:
    """When a request or command ends: put a wake-up on the queue if it wrote marks."""
    if not db.session.info.pop(_WOKEN, False) or current_app.config.get("MATCHING_REFRESH_OFF"):
        return
    from techfin.after_response import later

    try:
        # Only committed marks count; what the view did not commit is discarded first.
        # (Inside the try: on a dropped connection even this rollback raises, and derived
        # data must never turn a committed write into an error.)
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; the pool replaces it
        db.session.remove()
    # The broker round trip waits until a request's answer is sent (a command: now).
    later(_wake_refresh)


def _wake_refresh() -> None:
    from techfin.tasks import jobs, wake

    wake(jobs.refresh_matches)


def init_app(app: Flask) -> None:
    install_hooks()

    @app.teardown_request
    def _wake_after_request(_exc: BaseException | None) -> None:
        wake_after_change()

    @app.teardown_appcontext
    def _wake_after_command(_exc: BaseException | None) -> None:
        if not has_request_context():
            wake_after_change()


# ------------------------------------------------------------------ processing


@dataclass
class Progress:
    marks: int = 0
    report: RefreshReport | None = None
    remaining: int = 0

    def __post_init__(self) -> None:
        self.report = self.report or RefreshReport()


_SQLITE_CLAIM = threading.Lock()  # SQLite: one claimer per process (it has one writer)


def _claim(limit: int) -> list[DirtyMark]:
    stmt = select(DirtyMark).order_by(DirtyMark.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(db.session.execute(stmt).scalars())


def _expand_everything() -> None:
    """One mark per open need: the chunks are then shared like any other marks."""
    now = utcnow()
    db.session.execute(
        insert(DirtyMark).from_select(
            ["kind", "object_id", "created_at"],
            select(literal("need"), Need.id, literal(now)).where(Need.status != "closed"),
        )
    )


def _expand_products(product_ids: set[int]) -> None:
    """A product may now rank (or stop ranking) for any open need of its kind, and for
    the needs that list it today: one need mark each, shared out in chunks."""
    now = utcnow()
    kinds = select(Product.kind).where(Product.id.in_(product_ids)).scalar_subquery()
    needs = union(
        select(Need.id).where(Need.kind.in_(kinds), Need.status != "closed"),
        select(Match.need_id).where(Match.product_id.in_(product_ids)),
    ).subquery()
    db.session.execute(
        insert(DirtyMark).from_select(
            ["kind", "object_id", "created_at"],
            select(literal("need"), needs.c[0], literal(now)),
        )
    )


def process_once(limit: int | None = None) -> Progress:
    """Claim up to `limit` marks, recompute what they name, delete them; one transaction."""
    limit = limit or int(current_app.config.get("MATCHES_CHUNK", 200))
    sqlite = db.session.get_bind().dialect.name != "postgresql"
    if sqlite:
        _SQLITE_CLAIM.acquire()
    try:
        progress = Progress()
        marks = _claim(limit)
        if not marks:
            db.session.rollback()
            return progress
        progress.marks = len(marks)
        ids = [m.id for m in marks]
        by_kind: dict[str, set[int]] = {}
        for m in marks:
            by_kind.setdefault(m.kind, set()).add(m.object_id or 0)
        if "everything" in by_kind:
            _expand_everything()
        elif "product" in by_kind:
            _expand_products(by_kind["product"])
        need_ids = set(by_kind.get("need", ()))
        if "enterprise" in by_kind:
            need_ids.update(
                db.session.execute(
                    select(Need.id).where(Need.enterprise_id.in_(by_kind["enterprise"]))
                ).scalars()
            )
        if "everything" not in by_kind and "product" not in by_kind and need_ids:
            refresh_needs(need_ids, report=progress.report, commit=False)
        elif need_ids:
            # Expanded marks are numbered after these, so they run in later chunks.
            db.session.execute(
                insert(DirtyMark),
                [{"kind": "need", "object_id": i, "created_at": utcnow()} for i in need_ids],
            )
        db.session.execute(delete(DirtyMark).where(DirtyMark.id.in_(ids)))
        db.session.commit()
        return progress
    except Exception:
        db.session.rollback()
        raise
    finally:
        if sqlite:
            _SQLITE_CLAIM.release()


def refresh_everything(
    progress: Callable[[int], None] | None = None, *, jobs: int = 1
) -> RefreshReport:
    """Every need's stored matches, now (`flask matching refresh`), then drop the marks it
    made obsolete, so the workers do not redo the same ranking afterwards.

    Only marks committed before the refresh began are dropped (their ids are read first):
    every need is ranked after that, from state that includes their change. A mark
    committed later may name a change the refresh did not see, so it stays for a worker.
    """
    ensure_indexes()  # an earlier recompute may have died before building them
    seen = list(db.session.execute(select(DirtyMark.id)).scalars())
    db.session.rollback()  # end the read: the refresh ranks from what is committed later
    with indexes_built_after():
        report = refresh_all(progress, jobs=jobs)
    for start in range(0, len(seen), 5000):
        db.session.execute(delete(DirtyMark).where(DirtyMark.id.in_(seen[start : start + 5000])))
    db.session.commit()
    report.cleared = len(seen)
    analyze_after_bulk(db.session, ("matches",), rows=report.inserted + report.updated)
    return report


def pending_marks() -> int:
    return int(db.session.scalar(select(func.count(DirtyMark.id))) or 0)


def process_dirty(budget_seconds: float = 20.0, limit: int | None = None) -> Progress:
    """Work through the marks for up to `budget_seconds`; `remaining` says what is left
    (the task enqueues itself again, so one long recompute never blocks the queue)."""
    total = Progress()
    deadline = time.monotonic() + budget_seconds
    while True:
        step = process_once(limit)
        total.marks += step.marks
        for name in ("needs", "inserted", "updated", "deactivated"):
            setattr(total.report, name, getattr(total.report, name) + getattr(step.report, name))
        if not step.marks or time.monotonic() >= deadline:
            break
    total.remaining = pending_marks()
    return total


def is_stale(need_ids: list[int], enterprise_id: int | None = None) -> bool:
    """Whether a mark still waits for these needs (pages say matches are being updated)."""
    conds = [DirtyMark.kind == "everything"]
    if need_ids:
        conds.append((DirtyMark.kind == "need") & DirtyMark.object_id.in_(need_ids))
    if enterprise_id is not None:
        conds.append((DirtyMark.kind == "enterprise") & (DirtyMark.object_id == enterprise_id))
    conds.append(DirtyMark.kind == "product")
    return db.session.scalar(select(DirtyMark.id).where(db.or_(*conds)).limit(1)) is not None


def any_marks() -> bool:
    """Whether any stored ranking is waiting to be recomputed (the dealflow says so)."""
    return db.session.scalar(select(DirtyMark.id).limit(1)) is not None
