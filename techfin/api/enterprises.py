"""/api/v1/enterprises — technology SMEs (科技型中小企业)."""

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
    ENTERPRISE_EXAMPLE,
    FINANCIAL_FIELDS,
    EnterpriseCreate,
    EnterpriseOut,
    EnterprisePage,
    EnterpriseQuery,
    EnterpriseUpdate,
)
from techfin.models import Enterprise, User
from techfin.services import access, access_log, catalog, lookup

bp = resource_blueprint("enterprises", "enterprises", "Technology SMEs / 科技型中小企业")


def shown(user: User, enterprise: Enterprise) -> dict[str, Any]:
    """The enterprise as this caller may see it: financials only where they are shared."""
    item = {name: getattr(enterprise, name) for name in EnterpriseOut._declared_fields}
    if not access.can_see_financials(user, enterprise):
        for name in FINANCIAL_FIELDS:
            item.pop(name)
    return item


@bp.route("")
class Enterprises(MethodView):
    @bp.arguments(EnterpriseQuery, location="query")
    @bp.response(200, EnterprisePage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the enterprises the caller may see (industry and region match code prefixes)."""
        user = caller()
        page = lookup.listing(user, Enterprise, args)
        page["items"] = [shown(user, e) for e in page["items"]]
        access_log.record_reads(
            user, "api_list",
            [(i["id"], "profile,financials" if "revenue_cny" in i else "profile")
             for i in page["items"]],
        )  # fmt: skip
        return page

    @bp.doc(requestBody=body_doc(EnterpriseCreate, example=ENTERPRISE_EXAMPLE))
    @bp.response(201, EnterpriseOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> dict[str, Any]:
        """Register an enterprise (operators only)."""
        user = caller()
        require(access.can_create(user, "enterprise"))
        return shown(user, catalog.create_enterprise(user, parse_body(EnterpriseCreate)))


@bp.route("/<int:enterprise_id>")
class EnterpriseById(MethodView):
    @bp.response(200, EnterpriseOut)
    @errors(bp, 404)
    def get(self, enterprise_id: int) -> dict[str, Any]:
        """One enterprise; an institution's look is logged for the enterprise to see."""
        user = caller()
        enterprise = visible(user, Enterprise, enterprise_id)
        item = shown(user, enterprise)
        what = "financials" if "revenue_cny" in item else "profile"
        catalog.log_data_access(user, enterprise.id, "api", what)
        return item

    @bp.doc(
        requestBody=body_doc(
            EnterpriseUpdate, partial=True, example={"employees": 120, "stage": "growth"}
        )
    )
    @bp.response(200, EnterpriseOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def patch(self, enterprise_id: int) -> dict[str, Any]:
        """Change some fields of an enterprise (its own users and operators)."""
        user = caller()
        enterprise = visible(user, Enterprise, enterprise_id)
        require(access.can_edit_enterprise(user, enterprise))
        data = parse_body(EnterpriseUpdate, partial=True)
        return shown(user, catalog.update_enterprise(user, enterprise, data))

    @bp.response(204)
    @errors(bp, 403, 404, 409)
    def delete(self, enterprise_id: int) -> None:
        """Delete an enterprise without accounts or docking records (operators only)."""
        user = caller()
        enterprise = visible(user, Enterprise, enterprise_id)
        catalog.delete_enterprise(user, enterprise)
