"""/api/v1/outcomes — docking steps between a need and a product (对接记录)."""

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
    OUTCOME_EXAMPLE,
    OutcomeCreate,
    OutcomeOut,
    OutcomePage,
    OutcomeQuery,
    OutcomeReopen,
    OutcomeUpdate,
)
from techfin.models import Need, Outcome, Product
from techfin.services import access, catalog, lookup, pipeline

bp = resource_blueprint("outcomes", "outcomes", "Docking outcomes / 对接记录")


@bp.route("")
class Outcomes(MethodView):
    @bp.arguments(OutcomeQuery, location="query")
    @bp.response(200, OutcomePage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the docking steps on the caller's needs or products (operators: all)."""
        return lookup.listing(caller(), Outcome, args)

    @bp.doc(requestBody=body_doc(OutcomeCreate, example=OUTCOME_EXAMPLE))
    @bp.response(201, OutcomeOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> Outcome:
        """Record a docking step: enterprises contacted/withdrawn, institutions the rest."""
        user = caller()
        require(access.can_create(user, "outcome"))
        data = parse_body(OutcomeCreate)
        need = lookup.by_ref(user, Need, data.pop("need_ref"), "need_ref")
        product = lookup.by_ref(user, Product, data.pop("product_ref"), "product_ref")
        return catalog.record_outcome(user, need, product, data)


@bp.route("/reopen")
class OutcomeReopenView(MethodView):
    @bp.doc(requestBody=body_doc(OutcomeReopen, example={
        "need_ref": "N-001", "product_ref": "P-001", "reason": "贷款合同撤销，重新审批"}))  # fmt: skip
    @bp.response(200, OutcomeOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def post(self) -> Outcome:
        """Reopen an ended deal (funded, declined or withdrawn), with a reason: operators only.
        Answers the ending step, now marked reopened; the pair continues from the stage
        before it."""
        user = caller()
        require(user.is_operator)
        data = parse_body(OutcomeReopen)
        need = lookup.by_ref(user, Need, data["need_ref"], "need_ref")
        product = lookup.by_ref(user, Product, data["product_ref"], "product_ref")
        return pipeline.reopen(user, need, product, data["reason"])


@bp.route("/<int:outcome_id>")
class OutcomeById(MethodView):
    @bp.response(200, OutcomeOut)
    @errors(bp, 404)
    def get(self, outcome_id: int) -> Outcome:
        """One docking step."""
        return visible(caller(), Outcome, outcome_id)

    @bp.doc(requestBody=body_doc(OutcomeUpdate, partial=True, example={"note": "补充材料已收到"}))
    @bp.response(200, OutcomeOut)
    @errors(bp, 400, 403, 404, 422)
    def patch(self, outcome_id: int) -> Outcome:
        """Correct the amount, rate, dates, repayment or note of a step."""
        user = caller()
        outcome = visible(user, Outcome, outcome_id)
        require(access.can_edit_outcome(user, outcome))
        return catalog.update_outcome(user, outcome, parse_body(OutcomeUpdate, partial=True))

    @bp.response(204)
    @errors(bp, 403, 404)
    def delete(self, outcome_id: int) -> None:
        """Delete a step recorded in error (operators only)."""
        user = caller()
        catalog.delete_outcome(user, visible(user, Outcome, outcome_id))
