"""/api/v1/products — financial products (金融产品) offered by institutions."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from techfin.api.auth import caller
from techfin.api.core import (
    body_doc,
    errors,
    parse_body,
    require,
    resource_blueprint,
    visible,
)
from techfin.api.owners import owning_funder
from techfin.api.schemas import (
    PRODUCT_EXAMPLE,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductQuery,
    ProductUpdate,
)
from techfin.models import Product
from techfin.services import access, catalog, lifecycle, lookup

bp = resource_blueprint("products", "products", "Financial products / 金融产品")


@bp.route("")
class Products(MethodView):
    @bp.arguments(ProductQuery, location="query")
    @bp.response(200, ProductPage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List active products of verified institutions (and the caller's own)."""
        return lookup.listing(caller(), Product, args)

    @bp.doc(requestBody=body_doc(ProductCreate, example=PRODUCT_EXAMPLE))
    @bp.response(201, ProductOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> Product:
        """Add a product to the caller's institution (operators name the funder_ref)."""
        user = caller()
        require(access.can_create(user, "product"))
        data = parse_body(ProductCreate)
        return catalog.create_product(user, owning_funder(user, data), data)


@bp.route("/<int:product_id>")
class ProductById(MethodView):
    @bp.response(200, ProductOut)
    @errors(bp, 404)
    def get(self, product_id: int) -> Product:
        """One product."""
        return visible(caller(), Product, product_id)

    @bp.doc(requestBody=body_doc(ProductUpdate, partial=True, example={"status": "paused"}))
    @bp.response(200, ProductOut)
    @errors(bp, 400, 403, 404, 422)
    def patch(self, product_id: int) -> Product:
        """Change some fields of a product."""
        user = caller()
        product = visible(user, Product, product_id)
        require(access.can_edit_product(user, product))
        return lifecycle.change_product(user, product, parse_body(ProductUpdate, partial=True))

    @bp.response(204)
    @errors(bp, 403, 404, 409)
    def delete(self, product_id: int) -> None:
        """Delete a product without docking records (retire it otherwise)."""
        user = caller()
        catalog.delete_product(user, visible(user, Product, product_id))
