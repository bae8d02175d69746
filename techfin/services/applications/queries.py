"""What each role sees of the applications: lists, the institution's queue by due date,
the operators' overdue list, and the refusals an enterprise received (for its advice)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.orm import selectinload

from techfin.extensions import db
from techfin.models import APPLICATION_STATUSES, Application, Need, Product, User
from techfin.models.applications import QUEUE_DECIDED, QUEUE_DUE
from techfin.services import access
from techfin.services.applications import clock, reasons
from techfin.services.paging import Page, paginate


def visible_filter(user: User) -> ColumnElement[bool]:
    """The caller's own applications (enterprise), those addressed to its institution, or
    all (operators)."""
    if user.is_operator:
        return true()
    if user.is_enterprise:
        return Application.enterprise_id == access.org_id(user)
    if access.is_verified_institution(user):
        return Application.funder_id == access.org_id(user)
    return false()


def due_column() -> ColumnElement[Any]:
    """The next deadline: the first response while unanswered, else the decision."""
    return QUEUE_DUE


# What the lists show of each row, loaded with the page in one query per relation: lazily,
# a page of 20 cost 20 enterprise and product queries (the queue page at 100 000
# enterprises: 27 statements; bench/applications.py).
_ROW_PARTS = (
    selectinload(Application.enterprise),
    selectinload(Application.product),
    selectinload(Application.funder),
)


def listing(
    user: User, status: str | None = None, ref: str | None = None, *, history: bool = False
) -> Select:
    """The caller's applications, by status; applications have no ref, so asking for one
    finds none (the API's lists all take `ref`). `history` also loads each one's
    transitions (the API lists them) in one query for the page instead of one per row."""
    stmt = select(Application).where(visible_filter(user))
    if status:
        stmt = stmt.where(Application.status == status)
    if ref is not None:
        stmt = stmt.where(false())
    if history:
        stmt = stmt.options(selectinload(Application.history))
    return stmt


def queue_statement(user: User, status: str | None = None) -> Select:
    """The caller's applications in the queue's order: open ones first, by next due date,
    newest first (the order of ix_applications_queue_order, models/applications.py, so
    PostgreSQL reads a page from the index; its ASC already puts NULLs last: a pick-up has
    no due date)."""
    return listing(user, status).order_by(
        QUEUE_DECIDED, QUEUE_DUE.asc().nulls_last(), Application.id.desc()
    )


def page(user: User, status: str | None = None, page_no: Any = 1, per_page: Any = 20) -> Page:
    """One page of the caller's applications in the queue's order (the institution's queue
    and the enterprise's "my applications")."""
    if status not in APPLICATION_STATUSES:
        status = None
    return paginate(queue_statement(user, status).options(*_ROW_PARTS), page_no, per_page)


def overdue_filter(today: date) -> ColumnElement[bool]:
    return or_(
        and_(Application.status.in_(("submitted", "accepted")), Application.decision_due < today),
        and_(Application.status == "submitted", Application.first_response_due < today),
    )


def overdue(user: User, limit: int = 100) -> list[Application]:
    """Applications past a deadline, most overdue first (operators: all)."""
    stmt = (
        select(Application)
        .where(visible_filter(user), overdue_filter(clock.beijing_today()))
        .options(*_ROW_PARTS)
        .order_by(due_column().asc(), Application.id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def refusals_for(enterprise_id: int, locale: str = "zh_CN") -> dict[tuple[int, str], list[str]]:
    """(funder id, product kind) → the refusal reasons this enterprise received there, in
    words: a product of the same institution and kind is "similar" for the advice."""
    rows = db.session.execute(
        select(Application.funder_id, Product.kind, Application.reason_code)
        .join(Product, Application.product_id == Product.id)
        .where(Application.enterprise_id == enterprise_id, Application.status == "declined")
        .order_by(Application.id.desc())
        .limit(200)
    )
    out: dict[tuple[int, str], list[str]] = {}
    for funder_id, kind, code in rows:
        r = reasons.reason(code)
        if r is None:
            continue
        words = out.setdefault((funder_id, kind), [])
        if r.label(locale) not in words:
            words.append(r.label(locale))
    return out


def need_options(user: User) -> list[Need]:
    """The enterprise's published needs, to apply with."""
    if not user.is_enterprise:
        return []
    return list(db.session.scalars(
        select(Need).where(Need.enterprise_id == access.org_id(user), Need.status == "published")
        .order_by(Need.id.desc()).limit(100)
    ))  # fmt: skip


def own_active_products(user: User, kind: str | None = None) -> list[Product]:
    """The institution's active products (for a pick-up)."""
    if not access.is_verified_institution(user):
        return []
    stmt = select(Product).where(Product.funder_id == access.org_id(user),
                                 Product.status == "active")  # fmt: skip
    if kind:
        stmt = stmt.where(Product.kind == kind)
    return list(db.session.scalars(stmt.order_by(Product.name).limit(100)))
