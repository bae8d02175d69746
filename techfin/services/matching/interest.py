"""An enterprise's "express interest" and the mail it sends."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from techfin import mail
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
from techfin.services import access, audit, catalog
from techfin.services.matching.common import MANDATE_FUNDER_KINDS
from techfin.urls import site_link

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ express interest


@dataclass
class Interest:
    outcome: Outcome | None
    recipients: list[str]
    mailed: bool


def _recipients(funder: Funder) -> list[tuple[str, str, str]]:
    """(email, name, locale) of the institution's contact address and active members."""
    out: dict[str, tuple[str, str, str]] = {}
    if funder.contact_email:
        out[funder.contact_email.lower()] = (funder.contact_email, funder.name, "zh_CN")
    members = db.session.execute(
        select(User).join(Membership).where(
            Membership.organization_id == funder.id, User.active.is_(True))
    ).scalars()  # fmt: skip
    for u in members:
        out[u.email.lower()] = (u.email, u.name or "", u.locale or "zh_CN")
    return list(out.values())


def compose_interest(
    to: tuple[str, str, str], need: Need, funder: Funder, product: Product | None, link: str
) -> EmailMessage:
    email, name, locale = to
    with force_locale(locale):
        subject = _("%(enterprise)s is interested in %(target)s",
                    enterprise=need.enterprise.name,
                    target=product.name if product else funder.name)  # fmt: skip
        return mail.build_message(email, subject, "interest", to_name=name, need=need,
                                  recipient_name=name or email,
                                  enterprise=need.enterprise, funder=funder, product=product,
                                  link=link, locale=locale)  # fmt: skip


def express_interest(
    user: User,
    need: Need,
    *,
    product: Product | None = None,
    funder: Funder | None = None,
    send: Callable[[EmailMessage], None] | None = None,
) -> Interest:
    """The enterprise tells an institution it is interested in a product (or a fund).

    For a product this records a `contacted` outcome (catalog.record_outcome); a fund's
    mandate has no product to record against, so it is audit-logged. Then the institution's
    contact address and members are mailed; a mail failure is logged and reported in
    `mailed`, the outcome stands.
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
        outcome = catalog.record_outcome(user, need, product,
                                         {"stage": "contacted", "note": "interest"})  # fmt: skip
    else:
        audit.record("interest", need, object_type="need", detail={"funder_id": funder.id})
        db.session.commit()
    if product is not None:
        link = site_link("matching.dealflow", product_id=product.id)
    else:
        link = site_link("dealflow.enterprise", enterprise_id=need.enterprise_id)
    send = send or mail.send
    recipients = _recipients(funder)
    mailed = bool(recipients)
    for to in recipients:
        try:
            send(compose_interest(to, need, funder, product, link))
        except (OSError, smtplib.SMTPException):
            mailed = False
            log.error("interest mail to %s failed; the interest is recorded", to[0], exc_info=True)
    return Interest(outcome, [r[0] for r in recipients], mailed)
