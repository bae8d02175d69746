"""Recommendations (推荐): an operator puts a published need in front of a partner
institution's product; the institution accepts (→ outcome `contacted`) or declines with a
reason (→ outcome `declined`). Every step is an outcome record, so the funnel sees it."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import Select, func, select

from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.localtime import beijing_today
from techfin.models import Funder, Need, Outcome, Product, Recommendation, User
from techfin.models.base import utcnow
from techfin.money import wan_with_unit
from techfin.services import access, audit


def _step(need_id: int, product_id: int, stage: str, user: User, note: str = "") -> Outcome:
    """Today's outcome at `stage` for the pair (the existing one when already recorded)."""
    today = beijing_today()
    existing = db.session.execute(
        select(Outcome).filter_by(need_id=need_id, product_id=product_id, stage=stage, date=today)
    ).scalar_one_or_none()
    if existing is not None:
        if note and not existing.note:
            existing.note = note
        return existing
    outcome = Outcome(need_id=need_id, product_id=product_id, stage=stage, date=today,
                      note=note, created_by_id=user.id)  # fmt: skip
    db.session.add(outcome)
    db.session.flush()
    audit.record("create", outcome, object_type="outcome", user=user, detail={"stage": stage})
    return outcome


def recommend(
    user: User, need: Need | None, product: Product | None, note: str = ""
) -> Recommendation:
    if not user.is_operator:
        raise Forbidden(_("Only operators recommend enterprises."))
    problems: dict[str, list] = {}
    if need is None or need.status != "published":
        problems["need_id"] = [_("Choose a published financing need.")]
    if product is None or product.status != "active" or not product.funder.verified:
        problems["product_id"] = [_("Choose an available product of a verified institution.")]
    if problems:
        raise DomainError("invalid", problems)
    assert need is not None and product is not None
    pending = db.session.execute(
        select(Recommendation.id).filter_by(
            need_id=need.id, product_id=product.id, status="pending"
        )  # fmt: skip
    ).first()
    if pending:
        raise Conflict("pending", {"product_id": [
            _("This need is already recommended to this product and awaits an answer.")]})  # fmt: skip
    rec = Recommendation(need_id=need.id, product_id=product.id, note=(note or "").strip()[:2000],
                         recommended_by_id=user.id)  # fmt: skip
    db.session.add(rec)
    _step(need.id, product.id, "recommended", user, rec.note)
    db.session.flush()
    audit.record("recommend", rec, object_type="recommendation", user=user,
                 detail={"need": need.ref, "product": product.ref})  # fmt: skip
    db.session.commit()
    return rec


def visible(user: User, status: str | None = None) -> list[Recommendation]:
    """Operators see all; a verified institution the recommendations to its products."""
    query = select(Recommendation).order_by(Recommendation.created_at.desc(),
                                            Recommendation.id.desc())  # fmt: skip
    if not user.is_operator:
        if not access.is_verified_institution(user):
            raise Forbidden(_("Recommendations are for verified institutions."))
        query = query.join(Product, Recommendation.product_id == Product.id).where(
            Product.funder_id == access.org_id(user)
        )
    if status:
        query = query.where(Recommendation.status == status)
    return list(db.session.execute(query).scalars())


def get(user: User, rec_id: int) -> Recommendation:
    rec = db.session.get(Recommendation, rec_id)
    if rec is None:
        raise NotFound(_("No such recommendation."))
    if user.is_operator:
        return rec
    if not access.is_verified_institution(user):
        raise Forbidden(_("Recommendations are for verified institutions."))
    if rec.product.funder_id != access.org_id(user):
        raise NotFound(_("No such recommendation."))
    return rec


def require_answerer(user: User, rec: Recommendation) -> None:
    """Only the institution owning the product answers a recommendation."""
    if not (access.is_verified_institution(user) and rec.product.funder_id == access.org_id(user)):
        raise Forbidden(_("Only the institution the need was recommended to answers."))


def _decidable(user: User, rec: Recommendation) -> None:
    require_answerer(user, rec)
    if rec.status != "pending":
        raise Conflict("decided", {"reason": [_("This recommendation was already answered.")]})


def accept(user: User, rec: Recommendation) -> Recommendation:
    _decidable(user, rec)
    rec.status, rec.decided_by_id, rec.decided_at = "accepted", user.id, utcnow()
    _step(rec.need_id, rec.product_id, "contacted", user, str(_("Accepted the recommendation")))
    audit.record("accept", rec, object_type="recommendation", user=user)
    db.session.commit()
    return rec


def decline(user: User, rec: Recommendation, reason: str) -> Recommendation:
    _decidable(user, rec)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason", {"reason": [_("Tell the platform why.")]})
    rec.status, rec.reason = "declined", reason[:2000]
    rec.decided_by_id, rec.decided_at = user.id, utcnow()
    _step(rec.need_id, rec.product_id, "declined", user, rec.reason)
    audit.record("decline", rec, object_type="recommendation", user=user,
                 detail={"reason": rec.reason})  # fmt: skip
    db.session.commit()
    return rec


def _pending_of(user: User) -> Select:
    return (
        select(Recommendation)
        .join(Product, Recommendation.product_id == Product.id)
        .where(Product.funder_id == access.org_id(user), Recommendation.status == "pending")
    )


def pending_count(user: User) -> int:
    """The 推荐 badge: recommendations to the institution's products still waiting for its
    answer — one COUNT per page, answered by the products.funder_id and
    recommendations.product_id indexes (like the unread-notifications badge)."""
    if user.is_operator or not access.is_verified_institution(user):
        return 0
    query = _pending_of(user).with_only_columns(func.count(Recommendation.id))
    return int(db.session.scalar(query) or 0)


def pending_for(user: User, limit: int = 5) -> list[Recommendation]:
    """The newest recommendations waiting for the institution's answer (its dashboard)."""
    if user.is_operator or not access.is_verified_institution(user):
        return []
    query = _pending_of(user).order_by(Recommendation.created_at.desc(), Recommendation.id.desc())
    return list(db.session.execute(query.limit(limit)).scalars())


NEED_CHOICES = 500


def need_choices(include: Any = None) -> list[tuple[int, str]]:
    """The newest published needs (a region has over 100 000: the list is capped), plus the
    one the operator came from or submitted (`include`), whatever its age."""
    rows = list(db.session.execute(
        select(Need).where(Need.status == "published").order_by(Need.id.desc())
        .limit(NEED_CHOICES)
    ).scalars())  # fmt: skip
    try:
        wanted = int(include) if include not in (None, "") else None
    except (TypeError, ValueError):
        wanted = None
    if wanted is not None and all(n.id != wanted for n in rows):
        extra = db.session.get(Need, wanted)
        if extra is not None and extra.status == "published":
            rows.insert(0, extra)
    return [(n.id, f"{n.enterprise.name} · {n.ref} · {wan_with_unit(n.amount_cny)}") for n in rows]


def product_choices() -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(Product.id, Product.name, Funder.name.label("funder"))
        .join(Funder, Product.funder_id == Funder.id)
        .where(Product.status == "active", Funder.status == "verified")
        .order_by(Funder.name, Product.name)
    ).all()
    return [(r.id, f"{r.funder} · {r.name}") for r in rows]
