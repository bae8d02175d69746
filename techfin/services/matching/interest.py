"""An enterprise's "express interest" and the notice it sends the institution.

The notice (in-app for the institution's members, email for them and for its contact
address) is written in the same transaction as the interest and mailed by the task queue
(techfin.services.notifications): a mail server that is down delays the email, it never
turns into an error shown to the enterprise, and the email is retried until it is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from techfin.errors import Conflict, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import (
    Funder,
    Membership,
    Need,
    Outcome,
    Product,
    User,
)
from techfin.services import access, audit, notifications
from techfin.services.matching.common import MANDATE_FUNDER_KINDS
from techfin.urls import site_path

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ express interest


@dataclass
class Interest:
    outcome: Outcome | None
    recipients: list[str]
    mailed: bool


def _members(funder: Funder) -> list[User]:
    """The institution's active members (each gets the notice in-app and by email)."""
    return list(
        db.session.execute(
            select(User).join(Membership).where(
                Membership.organization_id == funder.id, User.active.is_(True))
            .order_by(User.id)
        ).scalars()
    )  # fmt: skip


def _email_context(params: dict[str, Any]) -> dict[str, Any] | None:
    """The rows the interest email shows, read when it is sent; None (the generic notice)
    when one of them has gone meanwhile."""
    need = db.session.get(Need, params.get("need_id") or 0)
    funder = db.session.get(Funder, params.get("funder_id") or 0)
    product = db.session.get(Product, params["product_id"]) if params.get("product_id") else None
    if need is None or funder is None or (params.get("product_id") and product is None):
        return None
    return {"need": need, "enterprise": need.enterprise, "funder": funder, "product": product}


notifications.register(
    "interest",
    _l("%(enterprise)s is interested in %(target)s"),
    _l("%(enterprise)s has expressed interest in %(target)s for its financing need %(need)s. "
       "See the enterprise and move the docking forward in your dealflow."),
    email_template="interest",
    email_context=_email_context,
)  # fmt: skip


def express_interest(
    user: User,
    need: Need,
    *,
    product: Product | None = None,
    funder: Funder | None = None,
) -> Interest:
    """The enterprise tells an institution it is interested in a product (or a fund).

    For a product this records a `contacted` outcome (pipeline.advance); a fund's mandate
    has no product to record against, so it is audit-logged. In the same transaction the
    institution's members get a notice and they and its contact address an email, queued
    (`mailed` says whether any email was queued; sending is the queue's job).
    """
    if not access.can_edit_need(user, need) or not user.is_enterprise:
        raise Forbidden("Only the enterprise may express interest / 仅企业本身可表达意向")
    if need.status != "published":
        raise Conflict("not published", {"need": [
            "Publish the need first, so the institution can see it / 请先发布需求"]})  # fmt: skip
    visible_product = product is not None and db.session.scalar(
        select(Product.id).where(
            Product.id == product.id, access.product_filter(user), Product.status == "active"
        )  # fmt: skip
    )
    if product is not None:
        if not visible_product or product.kind != need.kind:
            raise NotFound("no such product", {"product_id": ["Unknown product / 产品不存在"]})
        funder = product.funder
    elif funder is None or not funder.verified or funder.kind not in MANDATE_FUNDER_KINDS:
        raise NotFound("no such fund", {"funder_id": ["Unknown institution / 机构不存在"]})
    outcome = None
    if product is not None:
        done = db.session.scalar(
            select(Outcome.id)
            .where(
                Outcome.need_id == need.id,
                Outcome.product_id == product.id,
                Outcome.stage == "contacted",
            )
            .limit(1)  # fmt: skip
        )
        if done:
            raise Conflict("already", {"product_id": [
                "You have already expressed interest / 已表达过意向"]})  # fmt: skip
        from techfin.services import pipeline

        outcome = pipeline.advance(user, need, product,
                                   {"stage": "contacted", "note": "interest"}, commit=False)  # fmt: skip
    else:
        audit.record("interest", need, object_type="need", detail={"funder_id": funder.id})
    if product is not None:
        link = site_path("matching.dealflow", product_id=product.id)
    else:
        link = site_path("dealflow.enterprise", enterprise_id=need.enterprise_id)
    members = _members(funder)
    contact = [(funder.contact_email, funder.name, "zh_CN")] if funder.contact_email else []
    params = {"enterprise": need.enterprise.name,
              "target": product.name if product else funder.name, "need": need.ref,
              "need_id": need.id, "funder_id": funder.id,
              "product_id": product.id if product else None}  # fmt: skip
    notifications.notify(members, "interest", params, link, also_email=contact)
    db.session.commit()
    recipients = sorted({*(u.email.lower() for u in members), *(c[0].lower() for c in contact)})
    return Interest(outcome, recipients, bool(recipients))
