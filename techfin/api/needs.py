"""/api/v1/needs — financing needs (融资需求)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from techfin.api.auth import caller
from techfin.api.core import (
    INVALID,
    body_doc,
    errors,
    parse_body,
    require,
    resource_blueprint,
    visible,
)
from techfin.api.owners import owning_enterprise
from techfin.api.schemas import (
    NEED_EXAMPLE,
    ApplicationOut,
    NeedCreate,
    NeedOut,
    NeedPage,
    NeedQuery,
    NeedUpdate,
    PickupCreate,
)
from techfin.errors import DomainError, NotFound
from techfin.models import Need, Product
from techfin.services import access, catalog, lookup

bp = resource_blueprint("needs", "needs", "Financing needs / 融资需求")


@bp.route("")
class Needs(MethodView):
    @bp.arguments(NeedQuery, location="query")
    @bp.response(200, NeedPage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the needs the caller may see (industry and region of the enterprise, by prefix)."""
        return lookup.listing(caller(), Need, args)

    @bp.doc(requestBody=body_doc(NeedCreate, example=NEED_EXAMPLE))
    @bp.response(201, NeedOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> Need:
        """Post a need for the caller's enterprise (a draft unless status says otherwise)."""
        user = caller()
        require(access.can_create(user, "need"))
        data = parse_body(NeedCreate)
        return catalog.create_need(user, owning_enterprise(user, data), data)


@bp.route("/<int:need_id>")
class NeedById(MethodView):
    @bp.response(200, NeedOut)
    @errors(bp, 404)
    def get(self, need_id: int) -> Need:
        """One need."""
        return visible(caller(), Need, need_id)

    @bp.doc(requestBody=body_doc(NeedUpdate, partial=True, example={"amount_cny": 6000000}))
    @bp.response(200, NeedOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def patch(self, need_id: int) -> Need:
        """Change some fields of a need; closing it needs a closed_reason."""
        user = caller()
        need = visible(user, Need, need_id)
        require(access.can_edit_need(user, need))
        return catalog.update_need(user, need, parse_body(NeedUpdate, partial=True))

    @bp.response(204)
    @errors(bp, 403, 404, 409)
    def delete(self, need_id: int) -> None:
        """Delete a need without docking records (close it otherwise)."""
        user = caller()
        catalog.delete_need(user, visible(user, Need, need_id))


@bp.route("/<int:need_id>/pickup")
class NeedPickup(MethodView):
    @bp.doc(requestBody=body_doc(PickupCreate, example={"product_id": 1}))
    @bp.response(201, ApplicationOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def post(self, need_id: int) -> dict[str, Any]:
        """抢单: a verified institution opens an application on a published need nobody has
        applied for, with one of its active products; the enterprise accepts (transition
        `submitted`, the clock starts) or declines (`withdrawn`)."""
        from techfin.api.applications import to_dict
        from techfin.services import applications

        user = caller()
        require(access.is_verified_institution(user))
        need = visible(user, Need, need_id)
        data = parse_body(PickupCreate)
        try:
            product = lookup.owned(user, Product, data["product_id"])
        except NotFound:
            raise DomainError(
                INVALID, {"product_id": ["Pick one of your own products / 请选择本机构的产品"]}
            ) from None
        return to_dict(applications.pick_up(user, need, product), user)
