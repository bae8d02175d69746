"""/api/v1/copyrights and /api/v1/trademarks — an enterprise's software copyrights and
trademarks, kept like its patents (confidential ones stay within the enterprise)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from techfin.api.auth import caller
from techfin.api.core import (
    body_doc,
    errors,
    page_of,
    parse_body,
    require,
    resource_blueprint,
    visible,
)
from techfin.api.owners import owning_enterprise
from techfin.api.schemas import (
    COPYRIGHT_EXAMPLE,
    TRADEMARK_EXAMPLE,
    CopyrightCreate,
    CopyrightOut,
    CopyrightPage,
    CopyrightUpdate,
    IpQuery,
    TrademarkCreate,
    TrademarkOut,
    TrademarkPage,
    TrademarkUpdate,
)
from techfin.models import Copyright, Enterprise, Trademark, User
from techfin.services import access, catalog

copyrights_bp = resource_blueprint("copyrights", "copyrights", "Software copyrights / 软件著作权")
trademarks_bp = resource_blueprint("trademarks", "trademarks", "Trademarks / 商标")


def _filtered(user: User, model: Any, args: dict[str, Any]):  # noqa: ANN202 - a Select
    stmt = select(model).where(access.ip_filter(user, model))
    if "ref" in args:
        stmt = stmt.where(model.ref == args["ref"])
    if "enterprise_ref" in args:
        owner = select(Enterprise.id).where(Enterprise.ref == args["enterprise_ref"])
        stmt = stmt.where(model.enterprise_id.in_(owner))
    if "status" in args:
        stmt = stmt.where(model.status == args["status"])
    return stmt


@copyrights_bp.route("")
class Copyrights(MethodView):
    @copyrights_bp.arguments(IpQuery, location="query")
    @copyrights_bp.response(200, CopyrightPage)
    @errors(copyrights_bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the software copyrights the caller may see."""
        return page_of(_filtered(caller(), Copyright, args), args, Copyright)

    @copyrights_bp.doc(requestBody=body_doc(CopyrightCreate, example=COPYRIGHT_EXAMPLE))
    @copyrights_bp.response(201, CopyrightOut)
    @errors(copyrights_bp, 400, 403, 409, 422)
    def post(self) -> Copyright:
        """Add a software copyright to the caller's enterprise (operators name the
        enterprise_ref)."""
        user = caller()
        require(access.can_create(user, "copyright"))
        data = parse_body(CopyrightCreate)
        return catalog.create_ip(user, "copyright", owning_enterprise(user, data), data)


@copyrights_bp.route("/<int:item_id>")
class CopyrightById(MethodView):
    @copyrights_bp.response(200, CopyrightOut)
    @errors(copyrights_bp, 404)
    def get(self, item_id: int) -> Copyright:
        """One software copyright."""
        return visible(Copyright, item_id, access.ip_filter(caller(), Copyright))

    @copyrights_bp.doc(
        requestBody=body_doc(CopyrightUpdate, partial=True, example={"status": "registered"})
    )
    @copyrights_bp.response(200, CopyrightOut)
    @errors(copyrights_bp, 400, 403, 404, 409, 422)
    def patch(self, item_id: int) -> Copyright:
        """Change some fields of a software copyright."""
        user = caller()
        item = visible(Copyright, item_id, access.ip_filter(user, Copyright))
        require(access.can_edit_ip(user, item))
        return catalog.update_ip(user, item, parse_body(CopyrightUpdate, partial=True))

    @copyrights_bp.response(204)
    @errors(copyrights_bp, 403, 404)
    def delete(self, item_id: int) -> None:
        """Delete a software copyright."""
        user = caller()
        catalog.delete_ip(user, visible(Copyright, item_id, access.ip_filter(user, Copyright)))


@trademarks_bp.route("")
class Trademarks(MethodView):
    @trademarks_bp.arguments(IpQuery, location="query")
    @trademarks_bp.response(200, TrademarkPage)
    @errors(trademarks_bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the trademarks the caller may see."""
        return page_of(_filtered(caller(), Trademark, args), args, Trademark)

    @trademarks_bp.doc(requestBody=body_doc(TrademarkCreate, example=TRADEMARK_EXAMPLE))
    @trademarks_bp.response(201, TrademarkOut)
    @errors(trademarks_bp, 400, 403, 409, 422)
    def post(self) -> Trademark:
        """Add a trademark to the caller's enterprise (operators name the enterprise_ref)."""
        user = caller()
        require(access.can_create(user, "trademark"))
        data = parse_body(TrademarkCreate)
        return catalog.create_ip(user, "trademark", owning_enterprise(user, data), data)


@trademarks_bp.route("/<int:item_id>")
class TrademarkById(MethodView):
    @trademarks_bp.response(200, TrademarkOut)
    @errors(trademarks_bp, 404)
    def get(self, item_id: int) -> Trademark:
        """One trademark."""
        return visible(Trademark, item_id, access.ip_filter(caller(), Trademark))

    @trademarks_bp.doc(
        requestBody=body_doc(TrademarkUpdate, partial=True, example={"status": "registered"})
    )
    @trademarks_bp.response(200, TrademarkOut)
    @errors(trademarks_bp, 400, 403, 404, 409, 422)
    def patch(self, item_id: int) -> Trademark:
        """Change some fields of a trademark."""
        user = caller()
        item = visible(Trademark, item_id, access.ip_filter(user, Trademark))
        require(access.can_edit_ip(user, item))
        return catalog.update_ip(user, item, parse_body(TrademarkUpdate, partial=True))

    @trademarks_bp.response(204)
    @errors(trademarks_bp, 403, 404)
    def delete(self, item_id: int) -> None:
        """Delete a trademark."""
        user = caller()
        catalog.delete_ip(user, visible(Trademark, item_id, access.ip_filter(user, Trademark)))
