"""The deal pipeline: every docking step of a (need, product) pair, from every channel
(pages, API, import, events, applications), goes through `advance`."""

from __future__ import annotations

from datetime import date
from typing import Any

from techfin.errors import Conflict, Forbidden
from techfin.extensions import db
from techfin.models import Need, Outcome, Product, User
from techfin.services import access, audit
from techfin.services.catalog import _FORBIDDEN, _load
from techfin.services.interchange import _outcome_values
from techfin.services.records import OutcomeRecord

__all__ = ["advance"]


def advance(
    user: User, need: Need, product: Product, data: dict[str, Any], *, commit: bool = True
) -> Outcome:
    """A docking step. The enterprise may express interest or withdraw; the institution owning
    the product moves the rest of the pipeline; operators may record anything."""
    payload = {"date": date.today().isoformat(), **data, "need_ref": need.ref,
               "product_ref": product.ref}  # fmt: skip
    clean = _load(OutcomeRecord, payload)
    stage = clean["stage"]
    allowed = (
        user.is_operator
        or (access.can_edit_need(user, need) and stage in ("contacted", "withdrawn"))
        or (access.can_edit_product(user, product) and access.can_view_need(user, need))
    )
    if not allowed:
        raise Forbidden(_FORBIDDEN)
    key = (need.id, product.id, stage, clean["date"])
    existing = db.session.execute(
        db.select(Outcome).filter_by(need_id=key[0], product_id=key[1], stage=key[2], date=key[3])
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict("exists", {"stage": ["Already recorded for this date / 当日已记录该阶段"]})
    outcome = Outcome(need=need, product=product, stage=stage, date=clean["date"],
                      created_by_id=user.id, **_outcome_values(clean))  # fmt: skip
    db.session.add(outcome)
    db.session.flush()
    audit.record("create", outcome, object_type="outcome", detail={"stage": stage})
    if commit:
        db.session.commit()
    return outcome
