"""What a committed change makes stale, and how it is brought up to date."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_request_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from techfin.extensions import db
from techfin.models import (
    Enterprise,
    Funder,
    Need,
    Patent,
    Product,
)
from techfin.models.base import utcnow

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    pass

from techfin.services.matching.common import AUTO_REFRESH_MAX, MANDATE_FUNDER_KINDS
from techfin.services.matching.snapshot import snapshot
from techfin.services.matching.stored import (
    RefreshReport,
    needs_affected_by_products,
    refresh_all,
    refresh_needs,
)

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ refresh hooks


def _touch_organizations(session: Session, _ctx: Any, _instances: Any) -> None:
    # Enterprise / Funder columns live in their own tables, so the shared updated_at (on
    # organizations) would not move: bump it, so the snapshot fingerprint sees the change.
    for obj in session.dirty:
        if isinstance(obj, Enterprise | Funder) and session.is_modified(
            obj, include_collections=False
        ):
            obj.updated_at = utcnow()


def _collect(session: Session, _ctx: Any) -> None:
    """After each flush: which needs' stored rankings the change may alter."""
    pending = session.info.setdefault("matching_pending", _Pending())
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Need):
            pending.needs.add(obj.id)
        elif isinstance(obj, Product):
            pending.products.add(obj.id)
        elif isinstance(obj, Patent):
            pending.enterprises.add(obj.enterprise_id)
        elif isinstance(obj, Enterprise):
            if obj in session.new or session.is_modified(obj, include_collections=False):
                pending.enterprises.add(obj.id)
        elif isinstance(obj, Funder):
            new = obj in session.new
            if (
                (new and obj.kind in MANDATE_FUNDER_KINDS)
                or obj in session.deleted
                or (not new and session.is_modified(obj, include_collections=False))
            ):
                pending.everything = True


@dataclass
class _Pending:
    needs: set[int] = field(default_factory=set)
    products: set[int] = field(default_factory=set)
    enterprises: set[int] = field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.needs or self.products or self.enterprises or self.everything)


def install_hooks() -> None:
    if not event.contains(Session, "before_flush", _touch_organizations):
        event.listen(Session, "before_flush", _touch_organizations)
    if not event.contains(Session, "after_flush", _collect):
        event.listen(Session, "after_flush", _collect)


def apply_pending(pending: _Pending) -> RefreshReport | None:
    """Refresh what a committed change touched; too much at once is left to the CLI."""
    if pending.everything:
        if len(snapshot().need_by_id) > AUTO_REFRESH_MAX:
            log.warning("institution changed: run `flask matching refresh` to update matches")
            return None
        return refresh_all()
    ids = {i for i in pending.needs if i is not None}
    if pending.enterprises:
        ids.update(
            db.session.execute(
                select(Need.id).where(Need.enterprise_id.in_(pending.enterprises))
            ).scalars()
        )
    if pending.products:
        ids |= needs_affected_by_products(i for i in pending.products if i is not None)
    if len(ids) > AUTO_REFRESH_MAX:
        log.warning("%d needs changed: run `flask matching refresh` to update matches", len(ids))
        return None
    return refresh_needs(ids) if ids else None


def refresh_after_change() -> None:
    """Best effort after a request or command: `flask matching refresh` catches up."""
    pending = db.session.info.pop("matching_pending", None)
    if not pending or current_app.config.get("MATCHING_REFRESH_OFF"):
        return
    try:
        # Whatever was not committed is discarded first: only committed rows are ranked.
        # Inside the try: on a dropped connection even this rollback raises, and derived
        # data must never turn a committed write into an error.
        db.session.rollback()
        db.session.info.pop("matching_pending", None)
        apply_pending(pending)
    except Exception:  # matches are derived data: they must never break a committed write
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone; the pool replaces it
            db.session.remove()
        log.exception("refreshing matches failed; `flask matching refresh` will catch up")
    finally:
        db.session.info.pop("matching_pending", None)


def init_app(app: Flask) -> None:
    install_hooks()

    @app.teardown_request
    def _refresh_after_request(_exc: BaseException | None) -> None:
        refresh_after_change()

    @app.teardown_appcontext
    def _refresh_after_command(_exc: BaseException | None) -> None:
        if not has_request_context():
            refresh_after_change()
