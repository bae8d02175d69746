"""What a workspace shows: profile completeness, open needs, recent activity, and the lists
of the organisation's own patents, IP rights, needs and products."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from techfin.extensions import db
from techfin.models import (
    AuditEntry,
    Copyright,
    Enterprise,
    Funder,
    Membership,
    Need,
    Organization,
    Outcome,
    Patent,
    Product,
    Trademark,
    User,
)
from techfin.models.user import STAFF_ROLES

# Profile facts matching and funders use, in the order a person should fill them in.
# The pages explain, per key, why it matters (techfin/web/labels.py: COMPLETENESS_WHY).
PROFILE_CHECKS = (
    "revenue_cny",
    "employees",
    "total_assets_cny",
    "stage",
    "founded",
    "uscc",
    "description",
    "contact_email",
    "patents",
)

# Noise that is not "activity" of an organisation.
_QUIET_ACTIONS = ("login", "login_failed", "logout")


@dataclass(frozen=True)
class CheckItem:
    key: str
    done: bool


@dataclass(frozen=True)
class Completeness:
    items: list[CheckItem]

    @property
    def missing(self) -> list[str]:
        return [i.key for i in self.items if not i.done]

    @property
    def percent(self) -> int:
        if not self.items:
            return 100
        return round(100 * sum(i.done for i in self.items) / len(self.items))


def completeness(enterprise: Enterprise) -> Completeness:
    """Which of the profile facts that matching relies on are present."""
    patents = db.session.scalar(
        select(func.count()).select_from(Patent).where(Patent.enterprise_id == enterprise.id)
    )
    present = {
        "revenue_cny": enterprise.revenue_cny is not None,
        "employees": enterprise.employees is not None,
        "total_assets_cny": enterprise.total_assets_cny is not None,
        "stage": bool(enterprise.stage),
        "founded": enterprise.founded is not None,
        "uscc": bool(enterprise.uscc),
        "description": len((enterprise.description or "").strip()) >= 10,
        "contact_email": bool(enterprise.contact_email),
        "patents": bool(patents),
    }
    return Completeness([CheckItem(key, present[key]) for key in PROFILE_CHECKS])


def _funded(need_id: ColumnElement) -> ColumnElement[bool]:
    return exists().where(
        Outcome.need_id == need_id, Outcome.stage == "funded", Outcome.reopened_at.is_(None)
    )


def open_needs(enterprise: Enterprise) -> list[Need]:
    """Drafts and published needs still looking for money, newest first.

    A need with a funded docking step is not "open" any more, even while the enterprise has
    not closed it: it is listed as financed (funded_need_ids) on the needs page instead.
    """
    return list(
        db.session.execute(
            select(Need)
            .where(
                Need.enterprise_id == enterprise.id, Need.status != "closed", ~_funded(Need.id)
            )  # fmt: skip
            .order_by(Need.created_at.desc(), Need.id.desc())
        ).scalars()
    )


def needs(enterprise: Enterprise, *, closed: bool = True) -> list[Need]:
    """The enterprise's needs, newest first (without the closed ones when closed=False)."""
    stmt = select(Need).where(Need.enterprise_id == enterprise.id)
    if not closed:
        stmt = stmt.where(Need.status != "closed")
    return list(db.session.scalars(stmt.order_by(Need.created_at.desc(), Need.id.desc())))


def need_outcomes(need: Need) -> list[Outcome]:
    """A need's docking steps in the order they happened."""
    return list(db.session.scalars(
        select(Outcome).where(Outcome.need_id == need.id).order_by(Outcome.date, Outcome.id)
    ))  # fmt: skip


def patents(enterprise: Enterprise) -> list[Patent]:
    """The enterprise's patents, latest filed first (unknown filing dates last)."""
    return list(db.session.scalars(
        select(Patent).where(Patent.enterprise_id == enterprise.id)
        .order_by(Patent.filed.desc().nulls_last(), Patent.id.desc())
    ))  # fmt: skip


def ip_rights(enterprise: Enterprise, model: type[Copyright | Trademark]) -> list[Any]:
    """The enterprise's software copyrights or trademarks, latest registered first."""
    return list(db.session.scalars(
        select(model).where(model.enterprise_id == enterprise.id)
        .order_by(model.registered.desc().nulls_last(), model.id.desc())
    ))  # fmt: skip


def products(funder: Funder) -> list[Product]:
    """The institution's products by status, newest first within each."""
    return list(db.session.scalars(
        select(Product).where(Product.funder_id == funder.id)
        .order_by(Product.status, Product.created_at.desc(), Product.id.desc())
    ))  # fmt: skip


def funded_need_ids(enterprise: Enterprise) -> set[int]:
    """The enterprise's needs with a funded docking step (shown as 已获融资, not 已发布)."""
    return set(
        db.session.execute(
            select(Need.id).where(Need.enterprise_id == enterprise.id, _funded(Need.id))
        ).scalars()
    )


def need_match_count(need: Need) -> int | None:
    """How many products match this need — the matching hook for dashboards.

    Counts the eligible products and funds in the need's latest stored ranking (the
    `matches` table, refreshed whenever the need, its enterprise or a product changes).
    """
    from techfin.services import matching

    return matching.need_match_count(need)


@dataclass(frozen=True)
class Activity:
    """One line of a dashboard's activity feed, as the viewing organisation may see it.

    `actor` is the email of one of the organisation's own members, else empty, and
    `actor_kind` says who it was without naming them: "member", "operator" (platform staff),
    "other" (someone of another organisation) or "system" (import, CLI, tasks). No detail:
    the audit entry's detail is for operators.
    """

    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    object_type: str
    object_ref: str


# Records owned by one organisation: a feed never shows entries about another's.
_OWNED_TYPES = ("enterprise", "funder", "organization", "need", "patent", "product")


def recent_activity(org: Organization, limit: int = 10) -> list[Activity]:
    """Audit entries about the organisation's own records (by anyone), or by its members
    about anything not owned by another organisation, newest first; actors outside it are
    not named.

    An entry about a record counts only if it was written while that record existed: should
    an id ever be given twice (SQLite before AUTOINCREMENT, migration 0008), the history of
    the deleted row stays with its former owner instead of showing on the new one's dashboard.
    """
    members = select(Membership.user_id).where(Membership.organization_id == org.id)

    def about_own(model: type, object_type: str, owner: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(
            AuditEntry.object_type == object_type,
            exists().where(
                model.id == AuditEntry.object_id, owner, model.created_at <= AuditEntry.at
            ),
        )

    about = [
        and_(
            AuditEntry.object_type.in_((org.type, "organization")),
            AuditEntry.object_id == org.id,
            AuditEntry.at >= org.created_at,
        )
    ]
    if isinstance(org, Enterprise):
        about += [
            about_own(Patent, "patent", Patent.enterprise_id == org.id),
            about_own(Need, "need", Need.enterprise_id == org.id),
        ]
    elif isinstance(org, Funder):
        about.append(about_own(Product, "product", Product.funder_id == org.id))
    by_members = and_(
        AuditEntry.user_id.in_(members),
        or_(AuditEntry.object_type.not_in(_OWNED_TYPES), *about),
    )
    stmt = (
        select(AuditEntry)
        .where(or_(by_members, *about), AuditEntry.action.not_in(_QUIET_ACTIONS))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    entries = list(db.session.execute(stmt).scalars())
    actor_ids = {e.user_id for e in entries if e.user_id is not None}
    own: set[int] = set()
    staff: set[int] = set()
    if actor_ids:
        own = set(
            db.session.execute(
                select(Membership.user_id).where(
                    Membership.organization_id == org.id, Membership.user_id.in_(actor_ids)
                )
            ).scalars()
        )
        staff = set(
            db.session.execute(
                select(User.id).where(User.id.in_(actor_ids), User.role.in_(STAFF_ROLES))
            ).scalars()
        )

    def kind(entry: AuditEntry) -> str:
        if entry.user_id in own:
            return "member"
        if entry.user_id in staff:
            return "operator"
        return "system" if entry.user_id is None else "other"

    out = []
    for e in entries:
        who = kind(e)
        out.append(Activity(e.id, e.at, e.actor if who == "member" else "", who, e.action,
                            e.object_type, e.object_ref))  # fmt: skip
    return out


def product_counts(funder: Funder) -> dict[str, int]:
    """Products of an institution by status."""
    rows = db.session.execute(
        select(Product.status, func.count())
        .where(Product.funder_id == funder.id)
        .group_by(Product.status)
    ).all()
    return {status: count for status, count in rows}


def pending_funder_count() -> int:
    """Institutions waiting for an operator's verification."""
    return int(
        db.session.scalar(
            select(func.count()).select_from(Funder).where(Funder.status == "pending")
        )
        or 0
    )


# ------------------------------------------------------------------ the landing page

_COUNTS: dict[str, tuple[float, dict[str, int]]] = {}  # database URL → (taken at, counts)


def platform_counts() -> dict[str, int]:
    """The landing page's four figures. Counting a region's catalogue costs time that grows
    with it, so a process counts at most once per PLATFORM_COUNTS_TTL seconds (60)."""
    from flask import current_app

    from techfin.models import Funder, Need, Product

    ttl = float(current_app.config.get("PLATFORM_COUNTS_TTL", 60))
    key = str(current_app.config["SQLALCHEMY_DATABASE_URI"])
    taken = _COUNTS.get(key)
    if taken is not None and time.monotonic() - taken[0] < ttl:
        return taken[1]

    def count(model: type, *where: ColumnElement[bool]) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    counts = {
        "enterprises": count(Enterprise),
        "funders": count(Funder, Funder.status == "verified"),
        "products": count(Product, Product.status == "active"),
        "needs": count(Need, Need.status == "published"),
    }
    _COUNTS[key] = (time.monotonic(), counts)
    return counts
