"""Who may see and change what — the one place the rules live.

- An enterprise sees and edits only its own records (drafts, confidential patents included).
- A verified institution sees published needs and the basic profile of their enterprises;
  financials and non-confidential patents only where the enterprise shares them (a rule for
  that funder, else the enterprise's rule for all verified funders). It edits its own products.
- An unverified institution sees no enterprise data at all.
- Everyone logged in sees active products and verified funders (the marketplace).
- Operators and admins see everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, false, or_, select, true

from techfin.extensions import db
from techfin.models import (
    Enterprise,
    Funder,
    Need,
    Outcome,
    Patent,
    Product,
    SharingRule,
    User,
)


def org_id(user: User) -> int | None:
    org = user.organization
    return org.id if org is not None else None


def is_verified_institution(user: User) -> bool:
    org = user.organization
    return user.is_institution and isinstance(org, Funder) and org.verified


def sharing(enterprise_id: int, funder_id: int | None) -> tuple[bool, bool]:
    """(financials, patents) visible to this funder: its own rule wins over the 'all' rule."""
    if funder_id is None:
        return (False, False)
    rules = db.session.execute(
        select(SharingRule).where(
            SharingRule.enterprise_id == enterprise_id,
            or_(SharingRule.funder_id == funder_id, SharingRule.funder_id.is_(None)),
        )
    ).scalars()
    chosen = None
    for rule in rules:
        if rule.funder_id == funder_id or chosen is None:
            chosen = rule
    return (chosen.financials, chosen.patents) if chosen else (False, False)


def _shared_enterprises(funder_id: int, attr: str) -> Select:
    """Enterprise ids whose effective rule for this funder shares `attr`."""
    specific = select(SharingRule.enterprise_id).where(
        SharingRule.funder_id == funder_id, getattr(SharingRule, attr).is_(True)
    )
    has_specific = select(SharingRule.enterprise_id).where(SharingRule.funder_id == funder_id)
    general = select(SharingRule.enterprise_id).where(
        SharingRule.funder_id.is_(None),
        getattr(SharingRule, attr).is_(True),
        SharingRule.enterprise_id.not_in(has_specific),
    )
    return specific.union(general)


# ------------------------------------------------------------------ needs


def need_filter(user: User):  # noqa: ANN201 - a SQL expression
    if user.is_operator:
        return true()
    if user.is_enterprise:
        return Need.enterprise_id == org_id(user)
    if is_verified_institution(user):
        return Need.status == "published"
    return false()


def can_view_need(user: User, need: Need) -> bool:
    if user.is_operator:
        return True
    if user.is_enterprise:
        return need.enterprise_id == org_id(user)
    return is_verified_institution(user) and need.status == "published"


def can_edit_need(user: User, need: Need | None = None, enterprise_id: int | None = None) -> bool:
    target = need.enterprise_id if need is not None else enterprise_id
    return user.is_operator or (user.is_enterprise and target == org_id(user))


# ------------------------------------------------------------------ enterprises


def enterprise_filter(user: User):  # noqa: ANN201
    if user.is_operator:
        return true()
    if user.is_enterprise:
        return Enterprise.id == org_id(user)
    if is_verified_institution(user):
        with_need = select(Need.enterprise_id).where(Need.status == "published")
        shared = select(SharingRule.enterprise_id).where(
            or_(SharingRule.funder_id == org_id(user), SharingRule.funder_id.is_(None)),
            or_(SharingRule.financials.is_(True), SharingRule.patents.is_(True)),
        )
        return or_(Enterprise.id.in_(with_need), Enterprise.id.in_(shared))
    return false()


def can_view_enterprise(user: User, enterprise: Enterprise) -> bool:
    return bool(
        db.session.scalar(
            select(Enterprise.id).where(Enterprise.id == enterprise.id, enterprise_filter(user))
        )
    )


def can_edit_enterprise(user: User, enterprise: Enterprise) -> bool:
    return user.is_operator or (user.is_enterprise and enterprise.id == org_id(user))


def can_see_financials(user: User, enterprise: Enterprise) -> bool:
    if user.is_operator or (user.is_enterprise and enterprise.id == org_id(user)):
        return True
    return is_verified_institution(user) and sharing(enterprise.id, org_id(user))[0]


# ------------------------------------------------------------------ patents


def patent_filter(user: User):  # noqa: ANN201
    if user.is_operator:
        return true()
    if user.is_enterprise:
        return Patent.enterprise_id == org_id(user)
    if is_verified_institution(user):
        return and_(
            Patent.confidential.is_(False),
            Patent.enterprise_id.in_(_shared_enterprises(org_id(user), "patents")),
        )
    return false()


def can_view_patent(user: User, patent: Patent) -> bool:
    if user.is_operator:
        return True
    if user.is_enterprise:
        return patent.enterprise_id == org_id(user)
    return (
        is_verified_institution(user)
        and not patent.confidential
        and sharing(patent.enterprise_id, org_id(user))[1]
    )


def can_edit_patent(
    user: User, patent: Patent | None = None, enterprise_id: int | None = None
) -> bool:
    target = patent.enterprise_id if patent is not None else enterprise_id
    return user.is_operator or (user.is_enterprise and target == org_id(user))


# ------------------------------------------------------------------ copyrights and trademarks
# Kept like patents: the enterprise's own; an institution sees the non-confidential ones of
# enterprises sharing their patents (the sharing rule's "patents" covers all IP) with it.


def ip_filter(user: User, model: Any):  # noqa: ANN201
    """Which rows of Copyright or Trademark the user may see."""
    if user.is_operator:
        return true()
    if user.is_enterprise:
        return model.enterprise_id == org_id(user)
    if is_verified_institution(user):
        return and_(
            model.confidential.is_(False),
            model.enterprise_id.in_(_shared_enterprises(org_id(user), "patents")),
        )
    return false()


def can_view_ip(user: User, item: Any) -> bool:
    if user.is_operator:
        return True
    if user.is_enterprise:
        return item.enterprise_id == org_id(user)
    return (
        is_verified_institution(user)
        and not item.confidential
        and sharing(item.enterprise_id, org_id(user))[1]
    )


def can_edit_ip(user: User, item: Any = None, enterprise_id: int | None = None) -> bool:
    target = item.enterprise_id if item is not None else enterprise_id
    return user.is_operator or (user.is_enterprise and target == org_id(user))


# ------------------------------------------------------------------ funders and products


def funder_filter(user: User):  # noqa: ANN201
    if user.is_operator:
        return true()
    own = org_id(user) if user.is_institution else None
    return or_(Funder.status == "verified", Funder.id == own)


def product_filter(user: User):  # noqa: ANN201
    if user.is_operator:
        return true()
    own = org_id(user) if user.is_institution else None
    public = and_(
        Product.status == "active",
        Product.funder_id.in_(select(Funder.id).where(Funder.status == "verified")),
    )
    return or_(public, Product.funder_id == own)


def can_edit_product(
    user: User, product: Product | None = None, funder_id: int | None = None
) -> bool:
    target = product.funder_id if product is not None else funder_id
    return user.is_operator or (user.is_institution and target == org_id(user))


def can_edit_funder(user: User, funder: Funder) -> bool:
    return user.is_operator or (user.is_institution and funder.id == org_id(user))


# ------------------------------------------------------------------ outcomes


def outcome_filter(user: User):  # noqa: ANN201
    if user.is_operator:
        return true()
    if user.is_enterprise:
        return Outcome.need_id.in_(select(Need.id).where(Need.enterprise_id == org_id(user)))
    if is_verified_institution(user):
        return Outcome.product_id.in_(select(Product.id).where(Product.funder_id == org_id(user)))
    return false()


# ------------------------------------------------------------------ creating (API gates)


def can_create(user: User, kind: str) -> bool:
    """Whether the role may create this kind of record at all; the owner is checked after."""
    if user.is_operator:
        return True
    if kind in ("patent", "copyright", "trademark", "need"):
        return user.is_enterprise
    if kind == "product":
        return user.is_institution
    if kind == "outcome":
        return user.is_enterprise or is_verified_institution(user)
    return False  # enterprises and funders are registered by operators


def can_edit_outcome(user: User, outcome: Outcome) -> bool:
    """Operators, or the institution owning the product while it may see the need."""
    return user.is_operator or (
        can_edit_product(user, outcome.product) and can_view_need(user, outcome.need)
    )
