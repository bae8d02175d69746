"""Finding rows for a caller: one row by id or ref, and the API's filtered lists.

The pages and the API name rows by id (in the URL) or by ref (in a body); which of them the
caller may see is services/access.py's rule, applied here, so a view never writes a query
and never decides visibility itself. A row the caller may not see is as missing as one
that does not exist (NotFound, never Forbidden: another organisation's ids are not even
confirmed to exist).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from techfin.errors import DomainError, NotFound
from techfin.extensions import db
from techfin.models import (
    Copyright,
    Enterprise,
    Funder,
    Need,
    Outcome,
    Patent,
    Product,
    SharingRule,
    Trademark,
    User,
)
from techfin.services import access
from techfin.services.paging import paginate

T = TypeVar("T")

# Integer columns: a larger id can match nothing, and the drivers raise on it.
MAX_ID = 2**31 - 1

INVALID = "Some fields are not valid / 部分字段无效"
NOT_FOUND = "Not found / 记录不存在"

# The column naming the organisation that owns a workspace row.
OWNER_COLUMN: dict[type, str] = {
    Patent: "enterprise_id",
    Copyright: "enterprise_id",
    Trademark: "enterprise_id",
    Need: "enterprise_id",
    SharingRule: "enterprise_id",
    Product: "funder_id",
}


def visibility(user: User, model: type) -> ColumnElement[bool]:
    """The access rule for rows of `model` (services/access.py), as a WHERE clause."""
    rules: dict[type, Callable[[User], Any]] = {
        Enterprise: access.enterprise_filter,
        Funder: access.funder_filter,
        Need: access.need_filter,
        Product: access.product_filter,
        Patent: access.patent_filter,
        Outcome: access.outcome_filter,
        Copyright: lambda u: access.ip_filter(u, Copyright),
        Trademark: lambda u: access.ip_filter(u, Trademark),
    }
    return rules[model](user)


def find(model: type[T], row_id: int | None) -> T | None:
    """The row with this id, or None, for callers who may see every row (operators; the
    service they hand it to checks the role) and for services judging it themselves."""
    if not row_id or row_id > MAX_ID:
        return None
    return db.session.get(model, row_id)


def get(model: type[T], row_id: int) -> T:
    """The row with this id (operators' and administrators' pages), else NotFound."""
    row = find(model, row_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


def owned(user: User, model: type[T], row_id: int) -> T:
    """A workspace row of the user's own organisation, else NotFound."""
    row = find(model, row_id)
    org = user.organization
    if row is None or org is None or getattr(row, OWNER_COLUMN[model]) != org.id:
        raise NotFound(NOT_FOUND)
    return row


def visible(
    user: User, model: type[T], row_id: int, on_hidden: Callable[[Any], None] | None = None
) -> T:
    """The row if the caller may see it; NotFound alike for missing and hidden rows.

    `on_hidden` is told of a row that exists but is hidden (the API audits the attempt).
    """
    if row_id > MAX_ID:
        raise NotFound(NOT_FOUND)
    row = db.session.scalar(select(model).where(model.id == row_id, visibility(user, model)))
    if row is None:
        hidden = db.session.get(model, row_id) if on_hidden is not None else None
        if hidden is not None:
            on_hidden(hidden)
        raise NotFound(NOT_FOUND)
    return row


def visible_or_none(user: User, model: type[T], row_id: int | None) -> T | None:
    """The row if the caller may see it, else None (a page that says so itself)."""
    if not row_id or row_id > MAX_ID:
        return None
    return db.session.scalar(select(model).where(model.id == row_id, visibility(user, model)))


def by_ref(user: User, model: type[T], ref: str, field: str) -> T:
    """A row named by ref in a request body; one the caller may not see is as unknown as a
    missing one (a field error, since the body is what is wrong)."""
    row = db.session.scalar(select(model).where(model.ref == ref, visibility(user, model)))
    if row is None:
        raise DomainError(INVALID, {field: [f"Unknown ref {ref!r} / 编号不存在"]})
    return row


def by_id(user: User, model: type[T], row_id: int, field: str) -> T:
    """A row named by id in a request body, as by_ref."""
    row = visible_or_none(user, model, row_id)
    if row is None:
        raise DomainError(INVALID, {field: [f"Unknown id {row_id} / 记录不存在"]})
    return row


def discard() -> None:
    """Drop what a refused action left in the session: a service raising a DomainError may
    have added rows already, and the page or answer that follows must not commit them."""
    db.session.rollback()


# ------------------------------------------------------------------ the API's lists


def page_of(stmt: Select, args: dict[str, Any], model: type) -> dict[str, Any]:
    """One page of `stmt` in id order, in the API's list envelope."""
    found = paginate(stmt.order_by(model.id), args["page"], args["per_page"])
    return {"items": found.items, "page": found.page, "per_page": found.per_page,
            "total": found.total}  # fmt: skip


def _prefix(column: Any, args: dict[str, Any], name: str) -> list[ColumnElement[bool]]:
    return [column.startswith(args[name], autoescape=True)] if name in args else []


def _equal(model: type, args: dict[str, Any], *names: str) -> list[ColumnElement[bool]]:
    return [getattr(model, name) == args[name] for name in names if name in args]


def _ref_in(column: Any, owner: type, ref: str | None) -> list[ColumnElement[bool]]:
    """`column` among the ids of the `owner` rows with this ref (no clause without a ref)."""
    return [] if ref is None else [column.in_(select(owner.id).where(owner.ref == ref))]


def _outcome_ref(ref: str) -> ColumnElement[bool]:
    """Outcome refs are need_ref/product_ref/stage/date; refs themselves may contain '/'."""
    head, _, rest = ref.rpartition("/")
    pair, _, stage = head.rpartition("/")
    try:
        day = date.fromisoformat(rest)
    except ValueError:
        return false()
    cuts = [i for i, ch in enumerate(pair) if ch == "/"]
    if not cuts:
        return false()
    pairs = [
        and_(
            Outcome.need_id.in_(select(Need.id).where(Need.ref == pair[:i])),
            Outcome.product_id.in_(select(Product.id).where(Product.ref == pair[i + 1 :])),
        )
        for i in cuts
    ]
    return and_(Outcome.stage == stage, Outcome.date == day, or_(*pairs))


def _need_filters(args: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Needs by their own fields and by their enterprise's ref, industry and region."""
    owners = [
        *([Enterprise.ref == args["enterprise_ref"]] if "enterprise_ref" in args else []),
        *_prefix(Enterprise.industry, args, "industry"),
        *_prefix(Enterprise.region, args, "region"),
    ]
    by_owner = [Need.enterprise_id.in_(select(Enterprise.id).where(*owners))] if owners else []
    return [*_equal(Need, args, "ref", "kind", "status"), *by_owner]


def _outcome_filters(args: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Steps by ref, stage, and the refs of their need, product, enterprise or institution."""
    out = [_outcome_ref(args["ref"])] if "ref" in args else []
    out += _equal(Outcome, args, "stage")
    out += _ref_in(Outcome.need_id, Need, args.get("need_ref"))
    out += _ref_in(Outcome.product_id, Product, args.get("product_ref"))
    if "enterprise_ref" in args:
        needs = select(Need.id).join(Enterprise).where(Enterprise.ref == args["enterprise_ref"])
        out.append(Outcome.need_id.in_(needs))
    if "funder_ref" in args:
        products = select(Product.id).join(Funder).where(Funder.ref == args["funder_ref"])
        out.append(Outcome.product_id.in_(products))
    return out


def _filters(model: type, args: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a list query's arguments (validated by the API's schemas)."""
    if model is Enterprise:
        high_tech = [Enterprise.high_tech.is_(args["high_tech"])] if "high_tech" in args else []
        return [*_equal(Enterprise, args, "ref", "stage"), *high_tech,
                *_prefix(Enterprise.industry, args, "industry"),
                *_prefix(Enterprise.region, args, "region")]  # fmt: skip
    if model is Funder:
        return _equal(Funder, args, "ref", "kind")
    if model is Product:
        return [*_equal(Product, args, "ref", "kind", "status"),
                *_ref_in(Product.funder_id, Funder, args.get("funder_ref"))]  # fmt: skip
    if model is Need:
        return _need_filters(args)
    if model in (Patent, Copyright, Trademark):
        return [*_equal(model, args, "ref", "kind", "status"),
                *_ref_in(model.enterprise_id, Enterprise, args.get("enterprise_ref"))]  # fmt: skip
    if model is Outcome:
        return _outcome_filters(args)
    raise KeyError(model)


def listing(user: User, model: type, args: dict[str, Any]) -> dict[str, Any]:
    """One page of the rows of `model` the caller may see, filtered by the list query's
    arguments (refs exact, industry and region codes by prefix), in the list envelope."""
    stmt = select(model).where(visibility(user, model), *_filters(model, args))
    return page_of(stmt, args, model)
