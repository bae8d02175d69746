"""/api/v1/applications — financing applications (申请) and their transitions, and
/api/v1/reference/refusal-reasons (the codes a refusal must carry)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView
from flask_babel import get_locale
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from techfin.api.auth import caller
from techfin.api.core import (
    body_doc,
    errors,
    parse_body,
    resource_blueprint,
)
from techfin.api.schemas import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationPage,
    ApplicationQuery,
    ConsentRevoke,
    RefusalReasonList,
    TransitionBody,
)
from techfin.errors import Forbidden
from techfin.models import FUNDER_KINDS, Application, Need, Product, User
from techfin.services import applications, lookup
from techfin.services.applications import league, reasons

bp = resource_blueprint("applications", "applications", "Financing applications / 融资申请")
reference_bp = resource_blueprint("api_reference", "reference", "Reference lists / 参考代码")


def to_dict(app: Application, user: User) -> dict[str, Any]:
    """The application as the caller sees it (with the moves open to it now)."""
    out = {c: getattr(app, c) for c in (
        "id", "status", "origin", "need_id", "product_id", "funder_id", "enterprise_id",
        "submitted_at", "first_response_due", "decision_due", "first_response_at",
        "decided_at", "paused_days", "approved_amount_cny", "approved_rate",
        "approved_term_months", "disbursed_amount_cny", "disbursed_rate", "issued", "matures",
        "repayment", "reason_code", "reason_note")}  # fmt: skip
    out["consent"] = {"at": app.consent_at, "scope": list(app.consent_scope or []),
                      "funder_id": app.funder_id, "revoked_at": app.consent_revoked_at}  # fmt: skip
    out["document_ids"] = list(app.document_ids or [])
    out["overdue"] = applications.overdue_deadline(app)
    out["allowed"] = applications.allowed(user, app)
    out["history"] = list(app.history)
    return out


def _locale() -> str:
    return str(get_locale() or "zh_CN")


APPLY_EXAMPLE = {"need_id": 1, "product_id": 1, "document_ids": []}


@bp.route("")
class Applications(MethodView):
    @bp.arguments(ApplicationQuery, location="query")
    @bp.response(200, ApplicationPage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The caller's own applications (enterprise), those addressed to its institution,
        or all (operators); `status` filters."""
        user = caller()
        stmt = applications.listing(user, args.get("status"), ref=args.get("ref"), history=True)
        result = lookup.page_of(stmt, args, Application)
        result["items"] = [to_dict(a, user) for a in result["items"]]
        return result

    @bp.doc(requestBody=body_doc(ApplicationCreate, example=APPLY_EXAMPLE))
    @bp.response(201, ApplicationOut)
    @errors(bp, 400, 403, 409, 422)
    def post(self) -> dict[str, Any]:
        """Apply for a product with one of the caller's published needs (enterprises): 409
        when the pair already has an open application, 422 with `gaps` when not eligible."""
        user = caller()
        if not user.is_enterprise:
            raise Forbidden(applications.core.ONLY_ENTERPRISE)
        data = parse_body(ApplicationCreate)
        need = lookup.by_id(user, Need, data["need_id"], "need_id")
        product = lookup.by_id(user, Product, data["product_id"], "product_id")
        app = applications.apply(user, need, product, data["document_ids"], locale=_locale())
        return to_dict(app, user)


@bp.route("/<int:application_id>")
class ApplicationById(MethodView):
    @bp.response(200, ApplicationOut)
    @errors(bp, 404)
    def get(self, application_id: int) -> dict[str, Any]:
        """One application with its history."""
        user = caller()
        return to_dict(applications.get_visible(user, application_id), user)


@bp.route("/<int:application_id>/transitions")
class Transitions(MethodView):
    @bp.doc(requestBody=body_doc(TransitionBody, example={"to": "accepted"}))
    @bp.response(200, ApplicationOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def post(self, application_id: int) -> dict[str, Any]:
        """Move the application: accepted | info_requested | approved | disbursed | declined
        (reason_code + note) | withdrawn, and `submitted` to accept a pick-up. An illegal
        move is a 409 whose `fields.allowed` lists the moves open to the caller."""
        user = caller()
        app = applications.get_visible(user, application_id)
        data = parse_body(TransitionBody)
        for key in ("issued", "matures"):
            if key in data:
                data[key] = data[key].isoformat()
        return to_dict(applications.transition(user, app, data), user)


@bp.route("/<int:application_id>/consent/revoke")
class RevokeConsent(MethodView):
    @bp.doc(requestBody=body_doc(ConsentRevoke, example={"note": "不再需要"}))
    @bp.response(200, ApplicationOut)
    @errors(bp, 400, 403, 404, 409, 422)
    def post(self, application_id: int) -> dict[str, Any]:
        """The enterprise revokes its consent before a decision (the application is withdrawn)."""
        user = caller()
        app = applications.get_visible(user, application_id)
        note = parse_body(ConsentRevoke)["note"]
        return to_dict(applications.revoke_consent(user, app, note=note), user)


class LeagueQuery(Schema):
    quarter = fields.String(
        validate=validate.Regexp(
            r"^(20\d\d)Q[1-4]$", error="A quarter like 2026Q4 / 季度格式如 2026Q4"
        )
    )
    date_from = fields.Date()
    date_to = fields.Date()
    kind = fields.String(validate=validate.OneOf(FUNDER_KINDS))

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            raise ValidationError(
                {"date_to": ["The end is before the start / 结束日期早于开始日期"]}
            )
        if start and end and (end - start).days > league.MAX_RANGE_DAYS:
            raise ValidationError({"date_to": ["At most three years / 最长三年"]})
        for key in ("date_from", "date_to"):
            if data.get(key) and not league.EARLIEST <= data[key] <= date(2100, 12, 31):
                raise ValidationError({key: ["Between 2004 and 2100 / 须在 2004 至 2100 年之间"]})


class LeagueRowOut(Schema):
    funder_id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    received = fields.Integer(required=True)
    picked_up = fields.Integer(required=True)
    pickup_rate = fields.Float(allow_none=True, metadata={"description": "percent"})
    median_days_to_first_response = fields.Float(
        allow_none=True, metadata={"description": "working days, China's official calendar"}
    )
    median_days_to_decision = fields.Float(
        allow_none=True, metadata={"description": "working days, less the days paused"}
    )
    decided = fields.Integer(required=True)
    approved = fields.Integer(required=True)
    approval_rate = fields.Float(allow_none=True, metadata={"description": "percent"})
    overdue_now = fields.Integer(required=True)
    overdue_ever = fields.Integer(required=True)
    disbursed_cny = fields.Integer(required=True, metadata={"description": "yuan"})
    refusals = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                           metadata={"description": "refusal reason code → applications"})  # fmt: skip


class LeaguePeriodOut(Schema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    quarter = fields.String(allow_none=True)


class LeagueOut(Schema):
    period = fields.Nested(LeaguePeriodOut, required=True)
    kind = fields.String(allow_none=True)
    items = fields.List(fields.Nested(LeagueRowOut), required=True)
    hidden = fields.Integer(required=True)


@bp.route("/league")
class League(MethodView):
    @bp.arguments(LeagueQuery, location="query")
    @bp.response(200, LeagueOut)
    @errors(bp, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The institutions' league table for a quarter (`quarter=2026Q4`) or a date range
        (`date_from`, `date_to`; default the current quarter), optionally one institution
        `kind`: operators (enterprises too when the platform shows it to them)."""
        chosen = league.make_filter(quarter=args.get("quarter"), date_from=args.get("date_from"),
                                    date_to=args.get("date_to"), kind=args.get("kind"))  # fmt: skip
        return league.as_dict(league.league(caller(), chosen))


@reference_bp.route("/refusal-reasons")
class RefusalReasons(MethodView):
    @reference_bp.response(200, RefusalReasonList)
    @errors(reference_bp)
    def get(self) -> dict[str, Any]:
        """The refusal reason codes, with zh/en labels and advice for the enterprise."""
        return {"items": reasons.reference()}
