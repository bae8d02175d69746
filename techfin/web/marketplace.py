"""The financial product marketplace (金融产品超市), for every logged-in user."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from techfin.errors import NotFound
from techfin.services import marketplace
from techfin.services.marketplace import ProductFilters
from techfin.web.marketplace_forms import MarketplaceFilterForm
from techfin.web.util import acting_user, guard

bp = Blueprint("marketplace", __name__, url_prefix="/marketplace")
bp.before_request(guard(lambda user: True))

PER_PAGE = 12


def _filters(form: MarketplaceFilterForm) -> ProductFilters:
    """The filters that are valid; a bad one is reported on the form and left out."""
    form.validate()

    def ok(name: str):  # noqa: ANN202
        field = form[name]
        return None if field.errors or field.data in ("", None) else field.data

    return ProductFilters(
        kind=ok("kind"),
        amount_cny=None if form.amount.errors else form.amount.cny,
        term_months=ok("term"),
        region=ok("region"),
        industry=ok("industry"),
        max_rate=ok("max_rate"),
        sort=ok("sort") or "newest",
    )


@bp.route("")
def index():
    form = MarketplaceFilterForm(formdata=request.args)
    page = marketplace.find_products(
        acting_user(), _filters(form), request.args.get("page", 1), PER_PAGE
    )
    return render_template("marketplace/index.html", form=form, page=page)


@bp.route("/products/<id:product_id>")
def product(product_id: int):
    try:
        item = marketplace.visible_product(acting_user(), product_id)
    except NotFound:
        abort(404)
    return render_template("marketplace/product.html", product=item)
