"""/api/v1/funders — funding institutions (banks, VC, guarantee, micro-loan, insurers)."""

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
from techfin.api.schemas import (
    FUNDER_EXAMPLE,
    FunderCreate,
    FunderOut,
    FunderPage,
    FunderQuery,
    FunderUpdate,
)
from techfin.models import Funder
from techfin.services import access, catalog, lookup

bp = resource_blueprint("funders", "funders", "Funding institutions / 金融机构")


@bp.route("")
class Funders(MethodView):
    @bp.arguments(FunderQuery, location="query")
    @bp.response(200, FunderPage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List verified institutions (and the caller's own)."""
        return lookup.listing(caller(), Funder, args)

    @bp.doc(requestBody=body_doc(FunderCreate, example=FUNDER_EXAMPLE))
    @bp.response(201, FunderOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> Funder:
        """Register an institution (operators only; verified unless "verified": false)."""
        user = caller()
        require(access.can_create(user, "funder"))
        return catalog.create_funder(user, parse_body(FunderCreate))


@bp.route("/<int:funder_id>")
class FunderById(MethodView):
    @bp.response(200, FunderOut)
    @errors(bp, 404)
    def get(self, funder_id: int) -> Funder:
        """One institution."""
        return visible(caller(), Funder, funder_id)

    @bp.doc(requestBody=body_doc(FunderUpdate, partial=True, example={"regions": ["4420", "4403"]}))
    @bp.response(200, FunderOut)
    @errors(bp, 400, 403, 404, 422)
    def patch(self, funder_id: int) -> Funder:
        """Change some fields of an institution's profile (its own staff and operators)."""
        user = caller()
        funder = visible(user, Funder, funder_id)
        require(access.can_edit_funder(user, funder))
        return catalog.update_funder(user, funder, parse_body(FunderUpdate, partial=True))

    @bp.response(204)
    @errors(bp, 403, 404, 409)
    def delete(self, funder_id: int) -> None:
        """Delete an institution without accounts or docking records (operators only)."""
        user = caller()
        catalog.delete_funder(user, visible(user, Funder, funder_id))
