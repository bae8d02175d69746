"""/api/v1/outcomes — docking steps between a need and a product (对接记录)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView
from sqlalchemy import ColumnElement, and_, false, or_, select

from techfin.api.auth import caller
from techfin.api.core import (
    body_doc,
    by_ref,
    errors,
    page_of,
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
from techfin.models import Enterprise, Funder, Need, Outcome, Product, User
from techfin.services import access, catalog, pipeline

bp = resource_blueprint("outcomes", "outcomes", "Docking outcomes / 对接记录")


def _ref_match(ref: str) -> ColumnElement[bool]:
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


def _filtered(user: User, args: dict[str, Any]):  # noqa: ANN202 - a Select
    stmt = select(Outcome).where(access.outcome_filter(user))
    if "ref" in args:
        stmt = stmt.where(_ref_match(args["ref"]))
    if "stage" in args:
        stmt = stmt.where(Outcome.stage == args["stage"])
    if "need_ref" in args:
        stmt = stmt.where(Outcome.need_id.in_(select(Need.id).where(Need.ref == args["need_ref"])))
    if "product_ref" in args:
        products = select(Product.id).where(Product.ref == args["product_ref"])
        stmt = stmt.where(Outcome.product_id.in_(products))
    if "enterprise_ref" in args:
        needs = select(Need.id).join(Enterprise).where(Enterprise.ref == args["enterprise_ref"])
        stmt = stmt.where(Outcome.need_id.in_(needs))
    if "funder_ref" in args:
        products = select(Product.id).join(Funder).where(Funder.ref == args["funder_ref"])
        stmt = stmt.where(Outcome.product_id.in_(products))
    return stmt


@bp.route("")
class Outcomes(MethodView):
    @bp.arguments(OutcomeQuery, location="query")
    @bp.response(200, OutcomePage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the docking steps on the caller's needs or products (operators: all)."""
        return page_of(_filtered(caller(), args), args, Outcome)

    @bp.doc(requestBody=body_doc(OutcomeCreate, example=OUTCOME_EXAMPLE))
    @bp.response(201, OutcomeOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> Outcome:
        """Record a docking step: enterprises contacted/withdrawn, institutions the rest."""
        user = caller()
        require(access.can_create(user, "outcome"))
        data = parse_body(OutcomeCreate)
        need = by_ref(Need, data.pop("need_ref"), access.need_filter(user), "need_ref")
        product = by_ref(
            Product, data.pop("product_ref"), access.product_filter(user), "product_ref"
        )
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
        need = by_ref(Need, data["need_ref"], access.need_filter(user), "need_ref")
        product = by_ref(Product, data["product_ref"], access.product_filter(user), "product_ref")
        return pipeline.reopen(user, need, product, data["reason"])


@bp.route("/<int:outcome_id>")
class OutcomeById(MethodView):
    @bp.response(200, OutcomeOut)
    @errors(bp, 404)
    def get(self, outcome_id: int) -> Outcome:
        """One docking step."""
        return visible(Outcome, outcome_id, access.outcome_filter(caller()))

    @bp.doc(requestBody=body_doc(OutcomeUpdate, partial=True, example={"note": "补充材料已收到"}))
    @bp.response(200, OutcomeOut)
    @errors(bp, 400, 403, 404, 422)
    def patch(self, outcome_id: int) -> Outcome:
        """Correct the amount, rate, dates, repayment or note of a step."""
        user = caller()
        outcome = visible(Outcome, outcome_id, access.outcome_filter(user))
        require(access.can_edit_outcome(user, outcome))
        return catalog.update_outcome(user, outcome, parse_body(OutcomeUpdate, partial=True))

    @bp.response(204)
    @errors(bp, 403, 404)
    def delete(self, outcome_id: int) -> None:
        """Delete a step recorded in error (operators only)."""
        user = caller()
        catalog.delete_outcome(user, visible(Outcome, outcome_id, access.outcome_filter(user)))
