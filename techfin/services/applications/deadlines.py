"""Once per working day: escalate overdue applications to the operators and remind the
institution's staff one working day before a deadline.

Each application is escalated once per missed deadline and reminded once per coming one
(`escalated_for` / `reminded_for` hold "deadline:date"); the scheduler's JobRun row makes
one run per slot, so a second scheduler or a re-run of the same slot sends nothing.
The marks are committed before the mail goes out: a mail server failure loses that
message (logged, and the overdue list on the operators' pages still shows it) rather
than repeating it every day.
"""

from __future__ import annotations

import logging
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from techfin import mail
from techfin.extensions import db
from techfin.models import STAFF_ROLES, Application, Funder, Membership, User
from techfin.services.applications import clock, notices
from techfin.services.applications.core import overdue_deadline
from techfin.services.applications.queries import overdue_filter
from techfin.urls import site_link

log = logging.getLogger(__name__)


@dataclass
class DeadlineRun:
    working_day: bool = True
    escalated: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    mails: int = 0
    failed: int = 0

    def summary(self) -> str:
        if not self.working_day:
            return "not a working day"
        return (f"escalated {len(self.escalated)}, reminded {len(self.reminded)}, "
                f"mails {self.mails}, failed {self.failed}")  # fmt: skip


def _next_deadline(app: Application, horizon: date, today: date) -> tuple[str, date] | None:
    if (
        app.status == "submitted"
        and app.first_response_due
        and (today < app.first_response_due <= horizon)
    ):
        return "first_response", app.first_response_due
    if app.decision_due and today < app.decision_due <= horizon:
        return "decision", app.decision_due
    return None


def _staff(funder: Funder) -> list[tuple[str, str, str]]:
    out: dict[str, tuple[str, str, str]] = {}
    if funder.contact_email:
        out[funder.contact_email.lower()] = (funder.contact_email, funder.name, "zh_CN")
    for u in db.session.scalars(
        select(User).join(Membership).where(Membership.organization_id == funder.id,
                                            User.active.is_(True))
    ):  # fmt: skip
        out[u.email.lower()] = (u.email, u.name or "", u.locale or "zh_CN")
    return list(out.values())


def _operator_users() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role.in_(STAFF_ROLES), User.active.is_(True)).order_by(User.id)
    ))  # fmt: skip


def _operators() -> list[tuple[str, str, str]]:
    return [(u.email, u.name or "", u.locale or "zh_CN") for u in _operator_users()]


def run(today: date | None = None) -> DeadlineRun:
    """The daily job (techfin.tasks.jobs.application_deadlines)."""
    today = today or clock.beijing_today()
    result = DeadlineRun()
    if not clock.is_working_day(today):
        result.working_day = False
        return result
    horizon = clock.next_working_day(today)

    escalate: list[tuple[Application, str]] = []
    for app in db.session.scalars(
        select(Application).where(overdue_filter(today)).order_by(Application.id)
    ):
        deadline = overdue_deadline(app, today)
        if deadline is None:
            continue
        due = app.decision_due if deadline == "decision" else app.first_response_due
        mark = f"{deadline}:{due.isoformat()}"  # type: ignore[union-attr]
        if app.escalated_for != mark:
            app.escalated_for = mark
            escalate.append((app, deadline))

    remind: dict[int, list[tuple[Application, str, date]]] = defaultdict(list)
    upcoming = select(Application).where(
        Application.status.in_(("submitted", "accepted")),
        or_(
            and_(Application.first_response_due > today, Application.first_response_due <= horizon),
            and_(Application.decision_due > today, Application.decision_due <= horizon),
        ),
    )
    for app in db.session.scalars(upcoming.order_by(Application.id)):
        found = _next_deadline(app, horizon, today)
        if found is None:
            continue
        mark = f"{found[0]}:{found[1].isoformat()}"
        if app.reminded_for != mark:
            app.reminded_for = mark
            remind[app.funder_id].append((app, *found))
    notices.deadlines_due(
        [(a, a.decision_due if d == "decision" else a.first_response_due) for a, d in escalate],
        _operator_users() if escalate else [],
        {fid: [(a, due) for a, _k, due in items] for fid, items in remind.items()},
    )
    db.session.commit()

    messages = []
    if escalate:
        link = site_link("application_pages.app_list", overdue=1)
        for to in _operators():
            with force_locale(to[2]):
                subject = _("%(n)s application(s) past their deadline", n=len(escalate))
                messages.append(mail.build_message(
                    to[0], subject, "application_escalation", to_name=to[1],
                    recipient_name=to[1] or to[0], items=escalate, link=link, locale=to[2]))  # fmt: skip
        result.escalated = [a.id for a, _d in escalate]
    for funder_id, items in remind.items():
        funder = db.session.get(Funder, funder_id)
        if funder is None:
            continue
        link = site_link("application_pages.app_list")
        for to in _staff(funder):
            with force_locale(to[2]):
                subject = _("Reminder: %(n)s application deadline(s) on the next working day",
                            n=len(items))  # fmt: skip
                messages.append(mail.build_message(
                    to[0], subject, "application_reminder", to_name=to[1],
                    recipient_name=to[1] or to[0], items=items, funder=funder, link=link,
                    locale=to[2]))  # fmt: skip
        result.reminded += [a.id for a, _k, _d in items]
    for message in messages:
        try:
            mail.send(message)
            result.mails += 1
        except (OSError, smtplib.SMTPException):
            result.failed += 1
            log.error("application deadline mail to %s failed", message["To"], exc_info=True)
    return result
