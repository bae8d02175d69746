"""Applications: apply, pick up, and one service function per transition.

States (see techfin.models.applications): picked_up → submitted → accepted (受理) →
info_requested (补充材料, clock paused) → accepted … → approved → disbursed; declined and
withdrawn end it from any open state. `disbursed`, `declined` and `withdrawn` are terminal.

Who moves what: the enterprise accepts or declines a pick-up, provides information,
withdraws, and may revoke its consent (which withdraws the application); the institution
owning the product (verified) — and operators, who supervise — accept, request
information, approve, disburse and decline. Each transition writes a history row, an audit
entry and, where the deal pipeline has a matching step, that step through
pipeline.advance in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import (
    CONSENT_SCOPE,
    OPEN_STATUSES,
    REPAYMENTS,
    Application,
    ApplicationEvent,
    Need,
    Outcome,
    Product,
    User,
)
from techfin.models.base import utcnow
from techfin.services import access, audit, documents, pipeline
from techfin.services.applications import clock, notices, reasons

log = logging.getLogger(__name__)

NOT_FOUND = "Not found / 记录不存在"
ONLY_ENTERPRISE = "Only the applying enterprise may do this / 仅申请企业可执行此操作"
ONLY_INSTITUTION = "Only a verified institution may do this / 仅已认证机构可执行此操作"


# ------------------------------------------------------------------ who is who


def is_applicant(user: User, app: Application) -> bool:
    return user.is_enterprise and access.org_id(user) == app.enterprise_id


def is_lender(user: User, app: Application) -> bool:
    """Staff of the verified institution the application is addressed to."""
    return access.is_verified_institution(user) and access.org_id(user) == app.funder_id


def can_view(user: User, app: Application) -> bool:
    return user.is_operator or is_applicant(user, app) or is_lender(user, app)


def _side(user: User, app: Application) -> str | None:
    if is_applicant(user, app):
        return "enterprise"
    if is_lender(user, app) or user.is_operator:
        return "institution"
    return None


# ------------------------------------------------------------------ input


class _Strict(Schema):
    class Meta:
        unknown = "raise"


def _note(required: bool = False) -> fields.String:
    checks = [validate.Length(max=2000)]
    if required:
        checks.append(validate.Length(min=1, error="Required / 必填"))
    if required:
        return fields.String(required=True, validate=checks)
    return fields.String(load_default="", validate=checks)


class _NoteOnly(_Strict):
    note = _note()


class _NoteRequired(_Strict):
    note = _note(required=True)


class _Approve(_Strict):
    amount_cny = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**13))
    rate = fields.Float(required=True, validate=validate.Range(0, 36))
    term_months = fields.Integer(required=True, strict=True, validate=validate.Range(1, 600))
    note = _note()


class _Disburse(_Strict):
    amount_cny = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**13))
    rate = fields.Float(required=True, validate=validate.Range(0, 36))
    issued = fields.Date(required=True)
    matures = fields.Date(required=True)
    repayment = fields.String(required=True, validate=validate.OneOf(REPAYMENTS))
    note = _note()

    @validates_schema
    def _dates(self, data: dict, **_: Any) -> None:
        if data.get("issued") and data.get("matures") and data["matures"] < data["issued"]:
            raise ValidationError({"matures": ["Maturity before issue date / 到期日早于放款日"]})


class _Decline(_Strict):
    reason_code = fields.String(required=True, validate=validate.OneOf(reasons.CODES))
    note = _note(required=True)


def _load(schema: type[Schema], data: dict[str, Any]) -> dict[str, Any]:
    try:
        clean = schema().load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}
        fields_ = {k: [str(m) for m in (v if isinstance(v, list) else [v])]
                   for k, v in messages.items()}  # fmt: skip
        raise DomainError("invalid input / 输入无效", fields_) from exc
    if isinstance(clean.get("note"), str):
        clean["note"] = clean["note"].strip()
        if schema in (_NoteRequired, _Decline) and not clean["note"]:
            raise DomainError("invalid input / 输入无效", {"note": ["Required / 必填"]})
    return clean


# ------------------------------------------------------------------ eligibility


def kind_gap(need: Need, product: Product) -> str | None:
    if need.kind != product.kind:
        return (f"The product is for {product.kind}, the need asks for {need.kind} / "
                f"产品类型（{product.kind}）与需求类型（{need.kind}）不符")  # fmt: skip
    return None


def gaps(need: Need, product: Product, locale: str = "zh_CN") -> list[str]:
    """Why this pair is not eligible, in words (the matching service's own rules); [] = it is."""
    from techfin.matching import check_eligibility, need_profile, product_profile, render_gap
    from techfin.services.matching.common import funder_dict, names, product_dict
    from techfin.services.matching.snapshot import need_records

    out = [g for g in (kind_gap(need, product),) if g]
    record = need_records([need.id]).get(need.id)
    if record is None:
        raise NotFound(NOT_FOUND)
    profile = product_profile(product_dict(product, funder_dict(product.funder)))
    out += [
        render_gap(g, locale, names()) for g in check_eligibility(need_profile(record), profile)
    ]
    return out


# ------------------------------------------------------------------ bookkeeping


def _record(user: User, app: Application, to: str, note: str = "") -> None:
    """The move's history row, audit entry and notices, in its transaction."""
    before = app.status
    app.status = to
    db.session.add(ApplicationEvent(application=app, at=utcnow(), user_id=user.id,
                                    actor=user.email, from_status=before, to_status=to,
                                    note=note))  # fmt: skip
    db.session.flush()
    audit.record("application", app, object_type="application", user=user,
                 detail={"from": before, "to": to})  # fmt: skip
    notices.status_changed(user, app, before, note)


# Steps that only mark where the pair stands: when the pipeline refuses one (the pair is
# already there or past it, or its deal ended earlier) the application goes on without it.
# `approved` and `funded` feed the reports, so the pipeline's refusal stands (an operator
# reopens an ended deal).
_OPTIONAL_STEPS = frozenset({"contacted", "declined", "withdrawn"})


def _pipeline(user: User, app: Application, stage: str, data: dict[str, Any] | None = None) -> None:
    """The matching deal-pipeline step, in this transaction (pipeline.advance checks before
    it writes anything, so a refused optional step leaves the session as it was)."""
    day = clock.beijing_today()
    done = db.session.scalar(
        select(Outcome.id).where(Outcome.need_id == app.need_id,
                                 Outcome.product_id == app.product_id,
                                 Outcome.stage == stage, Outcome.date == day)
    )  # fmt: skip
    if done:
        return
    try:
        pipeline.advance(user, app.need, app.product, {"stage": stage, "date": day.isoformat(),
                                                      **(data or {})}, commit=False)  # fmt: skip
    except Conflict:
        if stage not in _OPTIONAL_STEPS:
            raise
        log.info("application %s: pipeline step %s not recorded (pair already there or "
                 "its deal ended)", app.id, stage)  # fmt: skip


def _start_clock(app: Application) -> None:
    cfg = current_app.config
    today = clock.beijing_today()
    app.submitted_at = utcnow()
    app.first_response_due = clock.add_working_days(
        today, int(cfg.get("APPLICATION_FIRST_RESPONSE_DAYS", 3))
    )
    app.decision_due = clock.add_working_days(today, int(cfg.get("APPLICATION_DECISION_DAYS", 10)))


def _consent(app: Application) -> None:
    scope = [s for s in CONSENT_SCOPE if s != "documents" or app.document_ids]
    app.consent_at, app.consent_scope, app.consent_revoked_at = utcnow(), scope, None


def consent_scope(document_ids: list[int] | None = None) -> list[str]:
    """What applying shares with the institution (shown before submitting)."""
    return [s for s in CONSENT_SCOPE if s != "documents" or document_ids]


def _open_for_pair(need: Need, product: Product) -> Application | None:
    return db.session.scalar(
        select(Application).where(Application.need_id == need.id,
                                  Application.product_id == product.id,
                                  Application.status.in_(OPEN_STATUSES))
    )  # fmt: skip


def _check_need_and_product(need: Need, product: Product) -> None:
    if need.status != "published":
        raise DomainError("need not published / 需求未发布",
                          {"need_id": ["Publish the need first / 请先发布该需求"]})  # fmt: skip
    funder = product.funder
    if product.status != "active" or funder is None or not funder.verified:
        raise DomainError("product not active / 产品未上架",
                          {"product_id": ["This product is not open for applications / "
                                          "该产品目前不接受申请"]})  # fmt: skip


# ------------------------------------------------------------------ apply and pick up


def apply(
    user: User,
    need: Need,
    product: Product,
    document_ids: list[int] | None = None,
    *,
    locale: str = "zh_CN",
    commit: bool = True,
) -> Application:
    """The enterprise applies for a product with one of its published needs (一键申请).

    By applying it consents to share its profile, the need, its financials and its
    non-confidential patents (and the documents attached) with the product's institution.
    """
    if not (user.is_enterprise and need.enterprise_id == access.org_id(user)):
        raise Forbidden(ONLY_ENTERPRISE)
    _check_need_and_product(need, product)
    missing = gaps(need, product, locale)
    if missing:
        raise DomainError("not eligible / 不符合申请条件", {"gaps": missing})
    docs = documents.owned(user, document_ids or [])
    if _open_for_pair(need, product) is not None:
        raise Conflict("open application / 已有进行中的申请",
                       {"product_id": ["An application for this need and product is already "
                                       "open / 该需求已申请此产品，尚未结束"]})  # fmt: skip
    app = Application(need=need, product=product, funder_id=product.funder_id,
                      enterprise_id=need.enterprise_id, status="", origin="applied",
                      document_ids=[d.id for d in docs], created_by_id=user.id,
                      paused_days=0, reason_note="", escalated_for="", reminded_for="")  # fmt: skip
    db.session.add(app)
    _start_clock(app)
    _consent(app)
    # The institution may download the attached documents for as long as the consent stands.
    documents.grant(user, docs, product.funder)
    _record(user, app, "submitted", "")
    _pipeline(user, app, "contacted", {"note": f"application #{app.id}"})
    if commit:
        db.session.commit()
    return app


def pick_up(user: User, need: Need, product: Product, *, commit: bool = True) -> Application:
    """A verified institution takes a published need nobody has applied for (抢单).

    The application waits for the enterprise: it accepts (the clock starts, its consent is
    recorded) or declines. The product must be the institution's own, active and eligible.
    """
    if not access.is_verified_institution(user):
        raise Forbidden(ONLY_INSTITUTION)
    if product.funder_id != access.org_id(user):
        raise DomainError("invalid input / 输入无效",
                          {"product_id": ["Pick one of your own products / 请选择本机构的产品"]})  # fmt: skip
    _check_need_and_product(need, product)
    taken = db.session.scalar(
        select(Application.id).where(Application.need_id == need.id,
                                     Application.status.in_(OPEN_STATUSES)).limit(1)
    )  # fmt: skip
    if taken:
        raise Conflict("already applied / 该需求已有进行中的申请",
                       {"need_id": ["This need already has an open application / "
                                    "该需求已有进行中的申请，不能抢单"]})  # fmt: skip
    missing = gaps(need, product)
    if missing:
        raise DomainError("not eligible / 不符合申请条件", {"gaps": missing})
    app = Application(need=need, product=product, funder_id=product.funder_id,
                      enterprise_id=need.enterprise_id, status="", origin="picked_up",
                      document_ids=[], consent_scope=[], created_by_id=user.id,
                      paused_days=0, reason_note="", escalated_for="", reminded_for="")  # fmt: skip
    db.session.add(app)
    _record(user, app, "picked_up", "")
    _pipeline(user, app, "contacted", {"note": f"pick-up #{app.id}"})
    if commit:
        db.session.commit()
    return app


# ------------------------------------------------------------------ transitions


def _require_side(user: User, app: Application, side: str) -> None:
    actual = _side(user, app)
    if actual is None:
        raise NotFound(NOT_FOUND)
    if actual != side:
        _illegal(user, app, None)


def accept_pickup(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    """The enterprise accepts an institution's pick-up: consent recorded, the clock starts."""
    _require_side(user, app, "enterprise")
    clean = _load(_NoteOnly, data or {})
    _start_clock(app)
    _consent(app)
    _record(user, app, "submitted", clean["note"])


def decline_pickup(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    _require_side(user, app, "enterprise")
    clean = _load(_NoteOnly, data or {})
    _record(user, app, "withdrawn", clean["note"])
    app.decided_at = utcnow()
    _pipeline(user, app, "withdrawn", {"note": f"pick-up #{app.id} declined"})


def accept(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    """受理: the institution takes the application up for review (its first response)."""
    _require_side(user, app, "institution")
    clean = _load(_NoteOnly, data or {})
    app.first_response_at = app.first_response_at or utcnow()
    _record(user, app, "accepted", clean["note"])


def request_info(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    """补充材料: the note says what is missing; the clock stops until it is provided."""
    _require_side(user, app, "institution")
    clean = _load(_NoteRequired, data or {})
    app.paused_on = clock.beijing_today()
    _record(user, app, "info_requested", clean["note"])


def provide_info(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    """The enterprise answered: the clock resumes, the decision due date moves by the
    working days it stood still."""
    _require_side(user, app, "enterprise")
    clean = _load(_NoteOnly, data or {})
    today = clock.beijing_today()
    paused = clock.working_days_between(app.paused_on or today, today)
    app.paused_days = (app.paused_days or 0) + paused
    if app.decision_due is not None and paused:
        app.decision_due = clock.add_working_days(app.decision_due, paused)
    app.paused_on = None
    _record(user, app, "accepted", clean["note"])


def approve(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    _require_side(user, app, "institution")
    clean = _load(_Approve, data or {})
    app.approved_amount_cny, app.approved_rate = clean["amount_cny"], clean["rate"]
    app.approved_term_months = clean["term_months"]
    app.first_response_at = app.first_response_at or utcnow()
    app.decided_at = utcnow()
    _record(user, app, "approved", clean["note"])
    _pipeline(user, app, "approved", {"amount_cny": clean["amount_cny"], "rate": clean["rate"],
                                      "note": clean["note"]})  # fmt: skip


def disburse(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    """放款, reported back by the institution: feeds the pool's 申报汇总表 and the dashboard
    through the pipeline's `funded` step."""
    _require_side(user, app, "institution")
    clean = _load(_Disburse, data or {})
    app.disbursed_amount_cny, app.disbursed_rate = clean["amount_cny"], clean["rate"]
    app.issued, app.matures, app.repayment = clean["issued"], clean["matures"], clean["repayment"]
    _record(user, app, "disbursed", clean["note"])
    _pipeline(user, app, "funded", {
        "amount_cny": clean["amount_cny"], "rate": clean["rate"],
        "issued": clean["issued"].isoformat(), "matures": clean["matures"].isoformat(),
        "repayment": clean["repayment"], "note": clean["note"]})  # fmt: skip


def decline(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    """A refusal needs a coded reason and a note (the enterprise reads both)."""
    _require_side(user, app, "institution")
    clean = _load(_Decline, data or {})
    app.reason_code, app.reason_note = clean["reason_code"], clean["note"]
    app.first_response_at = app.first_response_at or utcnow()
    app.decided_at = utcnow()
    _record(user, app, "declined", clean["note"])
    _pipeline(user, app, "declined",
              {"note": f"{clean['reason_code']}: {clean['note']}"[:2000]})  # fmt: skip


def _revoke_documents(user: User, app: Application) -> None:
    """End the institution's access to this application's documents, except those another
    open application to the same institution still shares."""
    if not app.document_ids:
        return
    others = db.session.scalars(
        select(Application.document_ids).where(
            Application.funder_id == app.funder_id, Application.enterprise_id == app.enterprise_id,
            Application.id != app.id, Application.status.in_(OPEN_STATUSES))
    )  # fmt: skip
    still = {i for ids in others for i in (ids or [])}
    ids = [i for i in app.document_ids if i not in still]
    if ids:
        from techfin.models import Document

        docs = list(db.session.scalars(select(Document).where(Document.id.in_(ids))))
        documents.revoke(user, docs, app.funder)


def withdraw(user: User, app: Application, data: dict[str, Any] | None = None) -> None:
    _require_side(user, app, "enterprise")
    clean = _load(_NoteOnly, data or {})
    _revoke_documents(user, app)
    app.decided_at = utcnow()
    _record(user, app, "withdrawn", clean["note"])
    _pipeline(user, app, "withdrawn", {"note": f"application #{app.id} withdrawn"})


def revoke_consent(
    user: User, app: Application, *, note: str = "", commit: bool = True
) -> Application:
    """The enterprise takes back its consent while the application is undecided; the
    institution can no longer assess it, so the application is withdrawn with it."""
    if _side(user, app) != "enterprise":
        if can_view(user, app):
            raise Forbidden(ONLY_ENTERPRISE)
        raise NotFound(NOT_FOUND)
    if app.status not in ("submitted", "accepted", "info_requested") or app.consent_at is None:
        raise Conflict("consent cannot be revoked / 无法撤回授权",
                       {"consent": ["Consent can be revoked only until the application is "
                                    "decided / 仅在机构作出决定前可撤回授权"]})  # fmt: skip
    app.consent_revoked_at = utcnow()
    withdraw(user, app, {"note": ("consent revoked / 撤回授权 " + note.strip())[:2000].strip()})
    audit.record("revoke_consent", app, object_type="application", user=user,
                 detail={"funder_id": app.funder_id, "scope": list(app.consent_scope or [])})  # fmt: skip
    if commit:
        db.session.commit()
    return app


@dataclass(frozen=True)
class _Move:
    side: str
    fn: Callable[[User, Application, dict[str, Any] | None], None]


# (from, to) → who may make the move and the one service function that does it.
MOVES: dict[tuple[str, str], _Move] = {
    ("picked_up", "submitted"): _Move("enterprise", accept_pickup),
    ("picked_up", "withdrawn"): _Move("enterprise", decline_pickup),
    ("submitted", "accepted"): _Move("institution", accept),
    ("submitted", "declined"): _Move("institution", decline),
    ("submitted", "withdrawn"): _Move("enterprise", withdraw),
    ("accepted", "info_requested"): _Move("institution", request_info),
    ("accepted", "approved"): _Move("institution", approve),
    ("accepted", "declined"): _Move("institution", decline),
    ("accepted", "withdrawn"): _Move("enterprise", withdraw),
    ("info_requested", "accepted"): _Move("enterprise", provide_info),
    ("info_requested", "declined"): _Move("institution", decline),
    ("info_requested", "withdrawn"): _Move("enterprise", withdraw),
    ("approved", "disbursed"): _Move("institution", disburse),
    ("approved", "declined"): _Move("institution", decline),
    ("approved", "withdrawn"): _Move("enterprise", withdraw),
}


def allowed(user: User, app: Application) -> list[str]:
    """The statuses this user may move the application to now."""
    side = _side(user, app)
    return [to for (frm, to), move in MOVES.items() if frm == app.status and move.side == side]


def _illegal(user: User, app: Application, to: str | None) -> None:
    ok = allowed(user, app)
    listed = ", ".join(ok) if ok else "none / 无"
    raise Conflict(
        f"Not allowed from {app.status}; allowed: {listed} / 当前状态不允许该操作，可执行：{listed}",
        {
            "to": [f"{to or '?'} is not allowed from {app.status} / 当前状态不允许"],
            "allowed": ok,
        },  # fmt: skip
    )


def transition(
    user: User, app: Application, data: dict[str, Any], *, commit: bool = True
) -> Application:
    """The API's and pages' one door: {"to": status, …fields of that move}."""
    if not can_view(user, app):
        raise NotFound(NOT_FOUND)
    payload = dict(data or {})
    to = payload.pop("to", None)
    move = MOVES.get((app.status, to)) if isinstance(to, str) else None
    if move is None or move.side != _side(user, app):
        _illegal(user, app, to if isinstance(to, str) else None)
    move.fn(user, app, payload)  # type: ignore[union-attr]
    if commit:
        db.session.commit()
    return app


# ------------------------------------------------------------------ reading


def get_visible(user: User, application_id: int) -> Application:
    app = db.session.get(Application, application_id) if application_id <= 2**31 - 1 else None
    if app is None or not can_view(user, app):
        raise NotFound(NOT_FOUND)
    return app


def overdue_deadline(app: Application, today: date | None = None) -> str | None:
    """ "first_response" or "decision" when that deadline has passed unmet (paused and
    decided applications are never overdue)."""
    today = today or clock.beijing_today()
    if app.status in ("submitted", "accepted") and app.decision_due and app.decision_due < today:
        return "decision"
    if app.status == "submitted" and app.first_response_due and app.first_response_due < today:
        return "first_response"
    return None


def attached_documents(app: Application) -> list[Any]:
    """The documents attached to the application (deleted ones left out)."""
    from techfin.models import Document

    if not app.document_ids:
        return []
    return list(db.session.scalars(
        select(Document).where(Document.id.in_(app.document_ids), Document.deleted_at.is_(None))
        .order_by(Document.id)
    ))  # fmt: skip


def shared_data(app: Application) -> dict[str, Any]:
    """What the enterprise consented to share with the institution, for its staff to read
    while the consent stands (the caller checks that, and logs the access)."""
    from techfin.models import Patent

    scope = set(app.consent_scope or [])
    ent = app.enterprise
    out: dict[str, Any] = {"enterprise": ent, "need": app.need if "need" in scope else None}
    out["financials"] = (
        {"employees": ent.employees, "revenue_cny": ent.revenue_cny,
         "total_assets_cny": ent.total_assets_cny} if "financials" in scope else None
    )  # fmt: skip
    out["patents"] = (
        list(db.session.scalars(select(Patent).where(Patent.enterprise_id == ent.id,
                                                     Patent.confidential.is_(False))
                                .order_by(Patent.id).limit(200)))
        if "patents" in scope else []
    )  # fmt: skip
    return out
