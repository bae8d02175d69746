"""The product marketplace (金融产品超市), the dealflow of published needs, and what a
verified institution may see of an enterprise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from techfin import reference
from techfin.errors import Forbidden, NotFound
from techfin.extensions import db
from techfin.models import Copyright, Enterprise, Funder, Need, Patent, Product, Trademark, User
from techfin.money import wan_text
from techfin.services import access, catalog
from techfin.services.paging import Page, paginate, paginate_list
from techfin.services.reports import Table

SORTS = ("newest", "rate", "amount")
# A region publishes about 90 000 needs: the list counts up to this many ("more than …").
LIST_COUNT_LIMIT = 10_000


@dataclass
class ProductFilters:
    """What a marketplace visitor asks for; money in yuan, rate in annual percent."""

    kind: str | None = None
    amount_cny: int | None = None
    term_months: int | None = None
    region: str | None = None
    industry: str | None = None
    max_rate: float | None = None
    sort: str = "newest"


def _sort_key(sort: str):  # noqa: ANN202 - a key function for sorted()
    if sort == "rate":
        return lambda p: (p.rate_min is None, p.rate_min or 0.0, -p.id)
    if sort == "amount":
        return lambda p: (p.max_amount_cny is None, -(p.max_amount_cny or 0), -p.id)
    return lambda p: (-p.created_at.timestamp(), -p.id)


def _sql_order(sort: str) -> tuple:
    """_sort_key in SQL (NULLS LAST: an unknown rate or ceiling sorts after the known)."""
    if sort == "rate":
        return (Product.rate_min.asc().nulls_last(), Product.id.desc())
    if sort == "amount":
        return (Product.max_amount_cny.desc().nulls_last(), Product.id.desc())
    return (Product.created_at.desc(), Product.id.desc())


def find_products(
    user: User, filters: ProductFilters, page: Any = 1, per_page: Any = 20
) -> Page[Product]:
    """Active products of verified institutions that fit the filters, sorted, one page.

    Amount and term must fall inside the product's range (an open end is no limit); the
    region and industry must be among the product's prefixes (none listed: anywhere);
    `max_rate` keeps products whose lowest rate is at most that.
    """
    f = filters
    # The columns the sorts read, for every candidate; whole products (and their
    # institutions) only for the page shown: a region lists a few thousand products.
    cols = [Product.id, Product.created_at, Product.rate_min, Product.max_amount_cny]
    prefixes = bool(f.region or f.industry)
    if prefixes:  # JSON lists, decoded for each candidate only when a filter reads them
        cols += [Product.regions, Product.industries]
    stmt = (
        select(*cols)
        .join(Funder, Product.funder_id == Funder.id)
        .where(Product.status == "active", Funder.status == "verified", access.product_filter(user))
    )  # fmt: skip
    if f.kind:
        stmt = stmt.where(Product.kind == f.kind)
    if f.amount_cny is not None:
        stmt = stmt.where(
            or_(Product.min_amount_cny.is_(None), Product.min_amount_cny <= f.amount_cny),
            or_(Product.max_amount_cny.is_(None), Product.max_amount_cny >= f.amount_cny),
        )
    if f.term_months is not None:
        stmt = stmt.where(
            or_(Product.min_term_months.is_(None), Product.min_term_months <= f.term_months),
            or_(Product.max_term_months.is_(None), Product.max_term_months >= f.term_months),
        )
    if f.max_rate is not None:
        stmt = stmt.where(Product.rate_min.is_not(None), Product.rate_min <= f.max_rate)
    sort = f.sort if f.sort in SORTS else "newest"
    if prefixes:
        rows = list(db.session.execute(stmt))
        # Prefix lists are JSON: matched here, the same way matching does, not in dialect SQL.
        if f.region:
            rows = [p for p in rows if reference.region_matches(f.region, p.regions)]
        if f.industry:
            rows = [p for p in rows if reference.industry_matches(f.industry, p.industries)]
        rows.sort(key=_sort_key(sort))
        shown = paginate_list([r.id for r in rows], page, per_page)
    else:
        # Without a prefix filter the database sorts and counts (the order of _sort_key),
        # and only the page's ids come back: the plain marketplace read every active
        # product's JSON lists (2 000 products at region scale) on each visit.
        shown = paginate(stmt.with_only_columns(Product.id).order_by(*_sql_order(sort)),
                         page, per_page)  # fmt: skip
    loaded = {
        p.id: p
        for p in db.session.execute(
            select(Product).where(Product.id.in_(shown.items)).options(selectinload(Product.funder))
        ).scalars()
    }
    return Page([loaded[i] for i in shown.items], shown.page, shown.per_page, shown.total)


def visible_product(user: User, product_id: int) -> Product:
    """A product the user may see (the marketplace's, or the institution's own)."""
    product = db.session.scalar(
        select(Product).where(Product.id == product_id, access.product_filter(user))
    )
    if product is None:
        raise NotFound("no such product")
    return product


def can_browse_dealflow(user: User) -> bool:
    return user.is_operator or access.is_verified_institution(user)


def published_needs(
    user: User, kind: str | None = None, page: Any = 1, per_page: Any = 20
) -> Page[Need]:
    """Published needs a verified institution (or an operator) may see, newest first."""
    if not can_browse_dealflow(user):
        raise Forbidden("Your institution is not verified yet / 机构尚未通过认证")
    stmt = (
        select(Need)
        .where(access.need_filter(user), Need.status == "published")
        .options(selectinload(Need.enterprise))
        .order_by(Need.created_at.desc(), Need.id.desc())
    )
    if kind:
        stmt = stmt.where(Need.kind == kind)
    return paginate(stmt, page, per_page, count_limit=LIST_COUNT_LIMIT)


@dataclass
class EnterpriseView:
    """What one viewer may see of an enterprise."""

    enterprise: Enterprise
    financials: bool
    patents_shared: bool
    patents: list[Patent]
    needs: list[Need]
    # Shared under the same rule as patents (the sharing rule's "patents" covers all IP).
    copyrights: list[Any] = field(default_factory=list)
    trademarks: list[Any] = field(default_factory=list)


def view_enterprise(user: User, enterprise_id: int) -> EnterpriseView:
    """An enterprise's page for a verified institution or an operator; the view is logged.

    Basic profile always; financials and non-confidential patents only where the enterprise
    shares them with this institution (services/access.py decides).
    """
    view = _enterprise_view(user, enterprise_id)
    catalog.log_data_access(user, view.enterprise.id, "view", _what(view))
    return view


def _what(view: EnterpriseView) -> str:
    return ",".join(
        ["profile"] + (["financials"] if view.financials else [])
        + (["patents"] if view.patents or view.copyrights or view.trademarks else [])
    )  # fmt: skip


def export_enterprise(user: User, enterprise_id: int) -> Table:
    """The enterprise's page as a sheet (same rules as the page); the export is logged."""
    from flask_babel import gettext as _

    from techfin.i18n import current_locale

    view = _enterprise_view(user, enterprise_id)
    e = view.enterprise
    locale = current_locale()
    rows: list[list[Any]] = [
        [_("Name"), e.name],
        [_("Reference"), e.ref],
        [_("Industry"), reference.industry_name(e.industry, locale) or e.industry],
        [_("Region"), reference.region_name(e.region, locale, full=True) or e.region],
        [_("Development stage"), e.stage or ""],
        [_("Founded"), e.founded],
        [_("Certified high-tech enterprise"), _("Yes") if e.high_tech else _("No")],
        [_("Contact email"), e.contact_email or ""],
        [_("Description"), e.description],
    ]
    if view.financials:
        rows += [
            [_("Employees"), e.employees],
            [_("Annual revenue (万元)"), _wan(e.revenue_cny)],
            [_("Total assets (万元)"), _wan(e.total_assets_cny)],
            [_("SME size class"), e.size_class or ""],
            [_("Unified social credit code"), e.uscc or ""],
        ]
    for need in view.needs:
        rows.append([_("Published financing needs"),
                     f"{need.ref} · {need.kind} · {_wan(need.amount_cny)} · {need.purpose}"])  # fmt: skip
    for patent in view.patents:
        rows.append([_("Patents"), f"{patent.number} · {patent.title} · {patent.status}"])
    catalog.log_data_access(user, e.id, "export", _what(view))
    return Table(name=f"enterprise-{e.ref}", title=e.name, columns=[_("Field"), _("Value")],
                 rows=rows)  # fmt: skip


def _wan(amount_cny: int | None) -> str:
    return wan_text(amount_cny, missing="")


def _enterprise_view(user: User, enterprise_id: int) -> EnterpriseView:
    if not can_browse_dealflow(user):
        raise Forbidden("Your institution is not verified yet / 机构尚未通过认证")
    enterprise = db.session.get(Enterprise, enterprise_id)
    if enterprise is None or not access.can_view_enterprise(user, enterprise):
        raise NotFound("no such enterprise")
    financials = access.can_see_financials(user, enterprise)
    patents_shared = user.is_operator or access.sharing(enterprise.id, access.org_id(user))[1]
    patents = list(
        db.session.execute(
            select(Patent)
            .where(Patent.enterprise_id == enterprise.id, access.patent_filter(user))
            .order_by(Patent.filed.desc().nulls_last(), Patent.id)
        ).scalars()
    )
    needs = list(
        db.session.execute(
            select(Need)
            .where(
                Need.enterprise_id == enterprise.id,
                Need.status == "published",
                access.need_filter(user),
            )
            .order_by(Need.created_at.desc())
        ).scalars()
    )
    ip = {
        model: list(
            db.session.execute(
                select(model)
                .where(model.enterprise_id == enterprise.id, access.ip_filter(user, model))
                .order_by(model.registered.desc().nulls_last(), model.id)
            ).scalars()
        )
        for model in (Copyright, Trademark)
    }
    return EnterpriseView(enterprise, financials, patents_shared, patents, needs,
                          ip[Copyright], ip[Trademark])  # fmt: skip
