"""/api/v1/patents — an enterprise's patents (confidential ones stay within the enterprise)."""

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
from techfin.api.owners import owning_enterprise
from techfin.api.schemas import (
    PATENT_EXAMPLE,
    PatentCreate,
    PatentOut,
    PatentPage,
    PatentQuery,
    PatentUpdate,
)
from techfin.models import Patent
from techfin.services import access, access_log, catalog, lookup

bp = resource_blueprint("patents", "patents", "Patents / 专利")


@bp.route("")
class Patents(MethodView):
    @bp.arguments(PatentQuery, location="query")
    @bp.response(200, PatentPage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the patents the caller may see; an institution's look is logged."""
        user = caller()
        page = lookup.listing(user, Patent, args)
        access_log.record_reads(user, "api_list", access_log.patent_reads(page["items"]))
        return page

    @bp.doc(requestBody=body_doc(PatentCreate, example=PATENT_EXAMPLE))
    @bp.response(201, PatentOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> Patent:
        """Add a patent to the caller's enterprise (operators name the enterprise_ref)."""
        user = caller()
        require(access.can_create(user, "patent"))
        data = parse_body(PatentCreate)
        return catalog.create_patent(user, owning_enterprise(user, data), data)


@bp.route("/<int:patent_id>")
class PatentById(MethodView):
    @bp.response(200, PatentOut)
    @errors(bp, 404)
    def get(self, patent_id: int) -> Patent:
        """One patent; an institution's look is logged for the enterprise to see."""
        user = caller()
        patent = visible(user, Patent, patent_id)
        access_log.record_reads(user, "api", access_log.patent_reads([patent]))
        return patent

    @bp.doc(requestBody=body_doc(PatentUpdate, partial=True, example={"status": "granted"}))
    @bp.response(200, PatentOut)
    @errors(bp, 400, 403, 404, 422)
    def patch(self, patent_id: int) -> Patent:
        """Change some fields of a patent."""
        user = caller()
        patent = visible(user, Patent, patent_id)
        require(access.can_edit_patent(user, patent))
        return catalog.update_patent(user, patent, parse_body(PatentUpdate, partial=True))

    @bp.response(204)
    @errors(bp, 403, 404)
    def delete(self, patent_id: int) -> None:
        """Delete a patent."""
        user = caller()
        catalog.delete_patent(user, visible(user, Patent, patent_id))
