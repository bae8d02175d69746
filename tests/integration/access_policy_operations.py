"""Expected status of every operator-feature route for every role: risk-reserve pools, the
operator dashboard, recommendations and docking events (see access_policy_web.py for the
format).

SETUP adds a pool at F-001 (product P-001, E-001 recommended), an upcoming event with E-001
and F-001 registered and a meeting E-001 requested with F-001, and a pending recommendation
of N-001 to P-001. The partner bank (the verified institution, F-001) may view its pool and
upload its reconciliation; F-002's staff get 404 for it; everything else about pools, the
dashboard and running events is the operators'.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.extensions import db
    from techfin.models import (
        DockingEvent,
        Enterprise,
        EventMeeting,
        EventRegistration,
        Funder,
        Need,
        PoolContribution,
        PoolEnterprise,
        Product,
        Recommendation,
        RiskPool,
    )
    from techfin.models.base import utcnow

    def one(model: type, ref: str) -> Any:
        return db.session.execute(db.select(model).filter_by(ref=ref)).scalar_one()

    bank, e1 = one(Funder, "F-001"), one(Enterprise, "E-001")
    product, need = one(Product, "P-001"), one(Need, "N-001")
    pool = RiskPool(name="matrix pool", funder=bank, leverage_cap=Decimal(10),
                    compensation_pct=Decimal(50), products=[product])  # fmt: skip
    db.session.add_all([
        pool,
        PoolContribution(pool=pool, contributor="省", amount_cny=10_000_000, date=date(2026, 1, 1)),
        PoolEnterprise(pool=pool, enterprise=e1, recommended_on=date(2026, 1, 1)),
    ])  # fmt: skip
    start = utcnow().replace(microsecond=0) + timedelta(days=3)
    event = DockingEvent(title="matrix event", kind="roadshow", starts_at=start,
                         ends_at=start + timedelta(hours=2), place="中山", capacity=10)  # fmt: skip
    db.session.add(event)
    db.session.add_all([
        EventRegistration(event=event, organization_id=e1.id, code="MATRX1"),
        EventRegistration(event=event, organization_id=bank.id, code="MATRX2"),
        EventMeeting(event=event, enterprise_id=e1.id, funder_id=bank.id,
                     requested_by_org_id=e1.id, need_id=need.id, product_id=product.id),
        Recommendation(need_id=need.id, product_id=product.id, note="matrix"),
    ])  # fmt: skip
    db.session.commit()


def _id(ctx: Any, model_name: str) -> int:
    from techfin import models
    from techfin.extensions import db

    with ctx.app.app_context():
        model = getattr(models, model_name)
        return db.session.execute(db.select(model.id).order_by(model.id).limit(1)).scalar_one()


def _pool(tail: str = "") -> Any:
    return lambda ctx: f"/operations/pools/{_id(ctx, 'RiskPool')}{tail}"


def _event(tail: str = "") -> Any:
    return lambda ctx: f"/events/{_id(ctx, 'DockingEvent')}{tail}"


def _meeting(tail: str) -> Any:
    return lambda ctx: (
        f"/events/{_id(ctx, 'DockingEvent')}/meetings/{_id(ctx, 'EventMeeting')}{tail}"
    )


def _rec(tail: str) -> Any:
    return lambda ctx: f"/recommendations/{_id(ctx, 'Recommendation')}{tail}"


URLS: dict[tuple[str, str], Any] = {
    ("GET", "/operations/pools/<id:pool_id>"): _pool(),
    ("GET", "/operations/pools/<id:pool_id>/edit"): _pool("/edit"),
    ("GET", "/operations/pools/<id:pool_id>/contributions"): _pool("/contributions"),
    ("GET", "/operations/pools/<id:pool_id>/enterprises"): _pool("/enterprises"),
    ("GET", "/operations/pools/<id:pool_id>/enterprises/<id:enterprise_id>/remove"): lambda ctx: (
        f"/operations/pools/{_id(ctx, 'RiskPool')}/enterprises/{_id(ctx, 'Enterprise')}/remove"
    ),
    ("GET", "/operations/pools/<id:pool_id>/compensations"): _pool("/compensations"),
    ("GET", "/operations/pools/<id:pool_id>/report"): _pool("/report?quarter=2026Q4"),
    ("GET", "/operations/pools/<id:pool_id>/report.<any(csv, xlsx):fmt>"): _pool(
        "/report.csv?quarter=2026Q4"
    ),
    ("GET", "/operations/pools/<id:pool_id>/reconcile"): _pool("/reconcile"),
    ("GET", "/operations/dashboard/export/<any(csv, xlsx):fmt>/<table>"): (
        "/operations/dashboard/export/csv/kpis"
    ),
    ("GET", "/events/<id:event_id>"): _event(),
    ("GET", "/events/<id:event_id>/edit"): _event("/edit"),
    ("GET", "/events/<id:event_id>/register"): _event("/register"),
    ("GET", "/events/<id:event_id>/unregister"): _event("/unregister"),
    ("GET", "/events/<id:event_id>/meetings/new"): _event("/meetings/new"),
    ("GET", "/events/<id:event_id>/meetings/<id:meeting_id>/confirm"): _meeting("/confirm"),
    ("GET", "/events/<id:event_id>/meetings/<id:meeting_id>/decline"): _meeting("/decline"),
    ("GET", "/events/<id:event_id>/meetings/<id:meeting_id>/result"): _meeting("/result"),
    ("GET", "/events/<id:event_id>/schedule"): _event("/schedule"),
    ("GET", "/events/<id:event_id>/agenda"): _event("/agenda"),
    ("GET", "/events/<id:event_id>/agenda.ics"): _event("/agenda.ics"),
    ("GET", "/events/<id:event_id>/checkin"): _event("/checkin"),
    ("GET", "/events/<id:event_id>/attribution"): _event("/attribution"),
    ("GET", "/events/<id:event_id>/attribution.<any(csv, xlsx):fmt>"): _event("/attribution.csv"),
    (
        "GET",
        "/events/<id:event_id>/<any(participants, meetings):which>.<any(csv, xlsx):fmt>",
    ): _event("/participants.xlsx"),
    ("GET", "/recommendations/<id:rec_id>/accept"): _rec("/accept"),
    ("GET", "/recommendations/<id:rec_id>/decline"): _rec("/decline"),
}

ANY_USER = _s(LOGIN, 200, 200, 200, 200)
OPERATOR = _s(LOGIN, 403, 403, 403, 200)
OPERATOR_ACT = _s(LOGIN, 403, 403, 403, 302)
# The pool's own rows: the partner bank (F-001) may look; F-002's staff are told nothing.
POOL_VIEW = _s(LOGIN, 403, 404, 200, 200)
POOL_MANAGE = _s(LOGIN, 403, 404, 403, 200)
# Participants of the event (E-001 and F-001 are registered); operators do not take part.
PARTICIPANT = _s(LOGIN, 200, 403, 200, 403)
PARTICIPANT_ACT = _s(LOGIN, 302, 403, 302, 403)
# A meeting E-001 requested with F-001: the bank (or an operator) answers it.
MEETING_ANSWER = _s(LOGIN, 403, 404, 302, 302)
MEETING_RESULT = _s(LOGIN, 403, 404, 200, 200)
# The recommendation of N-001 to F-001's product: only F-001 answers it.
REC_LIST = _s(LOGIN, 403, 403, 200, 200)
REC_ANSWER_ACT = _s(LOGIN, 403, 403, 302, 403)
REC_ANSWER = _s(LOGIN, 403, 403, 200, 403)

OPERATIONS_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    # risk-reserve pools
    ("GET", "/operations/pools"): _s(LOGIN, 403, 403, 200, 200),
    ("GET", "/operations/pools/new"): OPERATOR,
    ("POST", "/operations/pools/new"): OPERATOR,  # empty form: field messages
    ("GET", "/operations/pools/<id:pool_id>"): POOL_VIEW,
    ("GET", "/operations/pools/<id:pool_id>/edit"): POOL_MANAGE,
    ("POST", "/operations/pools/<id:pool_id>/edit"): _s(LOGIN, 403, 404, 403, 302),
    ("GET", "/operations/pools/<id:pool_id>/contributions"): POOL_MANAGE,
    ("POST", "/operations/pools/<id:pool_id>/contributions"): POOL_MANAGE,
    ("GET", "/operations/pools/<id:pool_id>/enterprises"): POOL_MANAGE,
    ("POST", "/operations/pools/<id:pool_id>/enterprises"): POOL_MANAGE,
    ("POST", "/operations/pools/<id:pool_id>/enterprises/<id:enterprise_id>/remove"): _s(
        LOGIN, 403, 404, 403, 302
    ),
    ("GET", "/operations/pools/<id:pool_id>/compensations"): POOL_MANAGE,
    ("POST", "/operations/pools/<id:pool_id>/compensations"): POOL_MANAGE,
    ("GET", "/operations/pools/<id:pool_id>/report"): POOL_VIEW,
    ("GET", "/operations/pools/<id:pool_id>/report.<any(csv, xlsx):fmt>"): POOL_VIEW,
    ("GET", "/operations/pools/<id:pool_id>/reconcile"): POOL_VIEW,
    ("POST", "/operations/pools/<id:pool_id>/reconcile"): POOL_VIEW,  # no file: a field message
    # the operator dashboard
    ("GET", "/operations/dashboard"): OPERATOR,
    ("GET", "/operations/dashboard/export/<any(csv, xlsx):fmt>/<table>"): OPERATOR,
    ("GET", "/operations/dashboard/status"): OPERATOR,
    ("POST", "/operations/dashboard/refresh"): _s(LOGIN, 403, 403, 403, 302),
    # recommendations
    ("GET", "/recommendations"): REC_LIST,
    ("GET", "/recommendations/new"): OPERATOR,
    ("POST", "/recommendations/new"): OPERATOR,
    ("POST", "/recommendations/<id:rec_id>/accept"): REC_ANSWER_ACT,
    ("GET", "/recommendations/<id:rec_id>/decline"): REC_ANSWER,
    ("POST", "/recommendations/<id:rec_id>/decline"): REC_ANSWER,  # no reason: field message
    # docking events
    ("GET", "/events"): ANY_USER,
    ("GET", "/events/new"): OPERATOR,
    ("POST", "/events/new"): OPERATOR,
    ("GET", "/events/<id:event_id>"): ANY_USER,
    ("GET", "/events/<id:event_id>/edit"): OPERATOR,
    ("POST", "/events/<id:event_id>/edit"): OPERATOR,
    ("POST", "/events/<id:event_id>/register"): PARTICIPANT_ACT,
    ("POST", "/events/<id:event_id>/unregister"): PARTICIPANT_ACT,
    ("GET", "/events/<id:event_id>/meetings/new"): PARTICIPANT,
    ("POST", "/events/<id:event_id>/meetings/new"): PARTICIPANT,
    ("POST", "/events/<id:event_id>/meetings/<id:meeting_id>/confirm"): MEETING_ANSWER,
    ("POST", "/events/<id:event_id>/meetings/<id:meeting_id>/decline"): MEETING_ANSWER,
    ("GET", "/events/<id:event_id>/meetings/<id:meeting_id>/result"): MEETING_RESULT,
    ("POST", "/events/<id:event_id>/meetings/<id:meeting_id>/result"): MEETING_RESULT,
    ("POST", "/events/<id:event_id>/schedule"): OPERATOR_ACT,
    ("GET", "/events/<id:event_id>/agenda"): ANY_USER,
    ("GET", "/events/<id:event_id>/agenda.ics"): ANY_USER,
    ("GET", "/events/<id:event_id>/checkin"): OPERATOR,
    ("POST", "/events/<id:event_id>/checkin"): OPERATOR,
    ("GET", "/events/<id:event_id>/attribution"): OPERATOR,
    ("GET", "/events/<id:event_id>/attribution.<any(csv, xlsx):fmt>"): OPERATOR,
    # the event's lists: operators (and the organiser, who is one) download them
    (
        "GET",
        "/events/<id:event_id>/<any(participants, meetings):which>.<any(csv, xlsx):fmt>",
    ): OPERATOR,
}
