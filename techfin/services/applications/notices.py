"""What an application's moves tell people (techfin.services.notifications): the enterprise
on every status change (what changed and what to do next), the institution's staff on each
new application, pick-up and move the enterprise makes. Notices are written in the move's
transaction; their emails go through the queue once it commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from techfin.extensions import db
from techfin.models import Application, Membership, User
from techfin.money import wan_text
from techfin.services import notifications
from techfin.urls import site_path

# To the enterprise, one kind per status reached (each text translated for its reader).
ENTERPRISE_KINDS: dict[str, tuple[Any, Any]] = {
    "picked_up": (
        _l("%(funder)s wants to finance your need %(need)s"),
        _l("%(funder)s picked up your financing need %(need)s with %(product)s. Accept it to "
           "share your data with the institution and start its response clock, or decline it."),
    ),
    "submitted": (
        _l("Application #%(id)s submitted"),
        _l("Your application for %(product)s at %(funder)s is submitted. The institution owes "
           "you a first response by %(first_due)s and a decision by %(decision_due)s."),
    ),
    "accepted": (
        _l("Application #%(id)s is under review"),
        _l("%(funder)s is reviewing your application for %(product)s. Its decision is due by "
           "%(decision_due)s. %(note)s"),
    ),
    "info_requested": (
        _l("More information needed for application #%(id)s"),
        _l("%(funder)s asks for more information: %(note)s Answer on the application page; "
           "the clock waits until you do."),
    ),
    "approved": (
        _l("Application #%(id)s approved"),
        _l("%(funder)s approved %(amount)s 万元 at %(rate)s%% for %(term)s months. It will "
           "record the disbursement here."),
    ),
    "disbursed": (
        _l("Loan disbursed for application #%(id)s"),
        _l("%(funder)s disbursed %(amount)s 万元 on %(issued)s, maturing on %(matures)s."),
    ),
    "declined": (
        _l("Application #%(id)s declined"),
        _l("%(funder)s declined your application for %(product)s. The reason, and what you "
           "could change, are on the application page."),
    ),
    "withdrawn": (
        _l("Application #%(id)s withdrawn"),
        _l("The application for %(product)s at %(funder)s is withdrawn. You may apply again "
           "or choose another product."),
    ),
}  # fmt: skip
# To the institution's staff.
INSTITUTION_KINDS: dict[str, tuple[Any, Any]] = {
    "submitted": (
        _l("New application #%(id)s from %(enterprise)s"),
        _l("%(enterprise)s applied for %(product)s. First response due by %(first_due)s, "
           "decision by %(decision_due)s."),
    ),
    "picked_up": (
        _l("Need %(need)s picked up for %(product)s"),
        _l("%(actor)s picked up the financing need %(need)s of %(enterprise)s for %(product)s. "
           "The enterprise is asked to accept."),
    ),
    "accepted": (
        _l("%(enterprise)s answered on application #%(id)s"),
        _l("%(enterprise)s provided the information you asked for: %(note)s The clock runs "
           "again; the decision is due by %(decision_due)s."),
    ),
    "withdrawn": (
        _l("Application #%(id)s withdrawn by %(enterprise)s"),
        _l("%(enterprise)s withdrew its application for %(product)s. %(note)s"),
    ),
}  # fmt: skip

# The daily deadline job (deadlines.py): its emails' in-app counterparts, so an escalation or
# a reminder also shows in the notification centre (unread badge) of each person mailed.
notifications.register(
    "application_escalation",
    _l("%(n)s application(s) past their deadline"),
    _l("Past a deadline without an answer from the institution: %(items)s. Follow them up "
       "from the overdue list."),
)  # fmt: skip
notifications.register(
    "application_reminder",
    _l("Reminder: %(n)s application deadline(s) on the next working day"),
    _l("Applications to %(funder)s with a deadline on the next working day: %(items)s. Answer "
       "them in your application queue."),
)  # fmt: skip

for _status, (_title, _body) in ENTERPRISE_KINDS.items():
    notifications.register(f"application_{_status}", _title, _body)
for _status, (_title, _body) in INSTITUTION_KINDS.items():
    notifications.register(f"application_institution_{_status}", _title, _body)


def _members(org_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).join(Membership).where(
                Membership.organization_id == org_id, User.active.is_(True)).order_by(User.id)
        )
    )  # fmt: skip


def _wan(amount: int | None) -> str:
    # exact: the enterprise compares it with the offer to the yuan
    return wan_text(amount, exact=True, missing="")


def _params(actor: User, app: Application, note: str) -> dict[str, Any]:
    return {
        "id": app.id, "need": app.need.ref, "product": app.product.name,
        "funder": app.funder.name, "enterprise": app.enterprise.name,
        "actor": actor.name or actor.email, "note": note,
        "first_due": app.first_response_due.isoformat() if app.first_response_due else "",
        "decision_due": app.decision_due.isoformat() if app.decision_due else "",
        "amount": _wan(app.disbursed_amount_cny if app.status == "disbursed"
                       else app.approved_amount_cny),
        "rate": app.disbursed_rate if app.status == "disbursed" else app.approved_rate,
        "term": app.approved_term_months or "",
        "issued": app.issued.isoformat() if app.issued else "",
        "matures": app.matures.isoformat() if app.matures else "",
    }  # fmt: skip


def status_changed(actor: User, app: Application, before: str, note: str = "") -> None:
    """Notices for a move just made (in its transaction); the actor is not told of its own."""
    params = _params(actor, app, note)
    link = site_path("application_pages.app_detail", application_id=app.id)
    to = app.status
    ours = [u for u in _members(app.enterprise_id) if u.id != actor.id]
    notifications.notify(ours, f"application_{to}", params, link)
    staff_told = to in ("submitted", "picked_up", "withdrawn") or (
        to == "accepted" and before == "info_requested"
    )
    if staff_told and to in INSTITUTION_KINDS:
        staff = [u for u in _members(app.funder_id) if u.id != actor.id]
        contact = app.funder.contact_email
        extra = [(contact, app.funder.name, "zh_CN")] if contact and to == "submitted" else []
        notifications.notify(staff, f"application_institution_{to}", params, link,
                             also_email=extra)  # fmt: skip


def _due_items(items: list[tuple[Application, date]]) -> str:
    """ "#12 name (2026-10-10)" per application: data, the same in every language."""
    return "; ".join(f"#{a.id} {a.enterprise.name} ({due.isoformat()})" for a, due in items)


def deadlines_due(
    escalated: list[tuple[Application, date]],
    operators: list[User],
    reminded: dict[int, list[tuple[Application, date]]],
) -> None:
    """In-app notices of one deadline run, in its transaction: the operators are told of the
    escalated applications, each institution's staff of its coming deadlines. The run marks
    each application in the same transaction, so a second run writes none again. No email:
    the job sends its own (one per person, listing every application)."""
    if escalated and operators:
        link = site_path("application_pages.app_list", overdue=1)
        notifications.notify(operators, "application_escalation",
                             {"n": len(escalated), "items": _due_items(escalated)}, link,
                             email=False)  # fmt: skip
    link = site_path("application_pages.app_list")
    for funder_id, items in reminded.items():
        staff = _members(funder_id)
        if staff:
            notifications.notify(staff, "application_reminder",
                                 {"n": len(items), "funder": items[0][0].funder.name,
                                  "items": _due_items(items)}, link, email=False)  # fmt: skip
