"""The operator console: institutions to verify, accounts to suspend, the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from techfin.errors import Conflict, Forbidden
from techfin.extensions import db
from techfin.models import FUNDER_STATUSES, ROLES, AuditEntry, Funder, User
from techfin.services import accounts, audit
from techfin.services.paging import Page, paginate


def _require_operator(user: User) -> None:
    if not user.is_operator:
        raise Forbidden("Operators only / 仅限运营人员")


def _like(text: str) -> str:
    """A LIKE pattern that matches `text` literally anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def funders(
    user: User, status: str | None = "pending", page: Any = 1, per_page: Any = 20
) -> Page[Funder]:
    """Institutions, one status or all; waiting ones oldest first (first come, first served)."""
    _require_operator(user)
    stmt = select(Funder)
    if status in FUNDER_STATUSES:
        stmt = stmt.where(Funder.status == status)
    stmt = stmt.order_by(Funder.created_at, Funder.id)
    return paginate(stmt, page, per_page)


def users(
    user: User, q: str = "", role: str | None = None, page: Any = 1, per_page: Any = 20
) -> Page[User]:
    """Accounts by email or name fragment and role."""
    _require_operator(user)
    stmt = select(User)
    if q:
        pattern = _like(q.strip().lower())
        stmt = stmt.where(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    return paginate(stmt.order_by(User.email), page, per_page)


def set_user_active(actor: User, target: User, active: bool) -> User:
    """Suspend (logs the account out everywhere) or reactivate an account."""
    _require_operator(actor)
    if target.id == actor.id:
        raise Conflict("self", {"user": ["You cannot suspend yourself / 不能停用自己的账户"]})
    accounts.require_manage(actor, target)
    if target.active == active:
        return target
    target.active = active
    if not active:
        target.session_version += 1
    audit.record("reactivate" if active else "suspend", target, object_type="user")
    db.session.commit()
    return target


@dataclass
class AuditFilters:
    action: str | None = None
    actor: str | None = None
    object_type: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def audit_log(
    user: User, filters: AuditFilters, page: Any = 1, per_page: Any = 50
) -> Page[AuditEntry]:
    """Audit entries matching the filters, newest first; dates are inclusive, in UTC."""
    _require_operator(user)
    f = filters
    stmt = select(AuditEntry)
    if f.action:
        stmt = stmt.where(AuditEntry.action == f.action)
    if f.object_type:
        stmt = stmt.where(AuditEntry.object_type == f.object_type)
    if f.actor:
        stmt = stmt.where(
            func.lower(AuditEntry.actor).like(_like(f.actor.strip().lower()), escape="\\")
        )
    if f.date_from:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(f.date_from, time.min))
    if f.date_to and f.date_to < date.max:
        stmt = stmt.where(AuditEntry.at < datetime.combine(f.date_to + timedelta(days=1), time.min))
    return paginate(stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), page, per_page)


def audit_vocabulary() -> tuple[list[str], list[str]]:
    """The actions and object types present in the log, for the filter pickers."""
    actions = db.session.execute(select(AuditEntry.action).distinct()).scalars()
    types = db.session.execute(select(AuditEntry.object_type).distinct()).scalars()
    return sorted(a for a in actions if a), sorted(t for t in types if t)
