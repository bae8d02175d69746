"""The institutions' league table: how each institution answers the applications it receives.

Definitions (the page and the exports repeat them):
- an institution *receives* an application when its clock starts (`submitted_at`: the
  enterprise applied, or accepted the institution's pick-up) on a Beijing date in the
  period; a pick-up the enterprise declined never reached the institution as an application;
- *pick-up rate*: the share of those applications that came from the institution's own
  pick-up (抢单) of a published need;
- *working days* are counted on China's official calendar (clock.is_working_day) from the
  Beijing date of submission: to the first response (受理, or a decision given straight away),
  and to the decision (the first approval or refusal), less the working days the clock stood
  still while the enterprise was asked for more information (补充材料);
- *approval rate*: approvals over decisions (an approval later refused counts as approved);
- *overdue now*: open and past a deadline today (as on the operators' overdue list);
  *ever overdue*: answered, decided or closed after a due date, or open past it — an
  application whose clock stopped before its decision date is not late on the decision;
- *refusal reasons*: the coded reasons of the applications now declined.

Cost: every figure is aggregated in the database (GROUP BY institution). The medians need a
working-day count per application, which SQL cannot know, so the query joins a calendar
(a VALUES list: each date of the period, up to today, with its running working-day number)
and the database groups the durations into a histogram per institution; Python sees one row
per (institution, duration) — bounded by the institutions times the few dozen durations —
never one row per application.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

from techfin.errors import Forbidden
from techfin.extensions import db
from techfin.models import FUNDER_KINDS, Application, ApplicationEvent, Funder, User
from techfin.money import chart_value
from techfin.services.applications import clock, reasons
from techfin.services.reports import Table

UTC_OFFSET = timedelta(hours=8)  # Beijing time has no daylight saving
# A longer range would make the calendar list (and the page) unwieldy; quarters and years are
# what operators compare.
MAX_RANGE_DAYS = 3 * 366
EARLIEST = date(2004, 1, 1)  # the first year chinese-calendar knows


@dataclass(frozen=True)
class LeagueFilter:
    start: date
    end: date
    kind: str | None = None
    quarter: str | None = None

    def query(self) -> dict[str, str]:
        """The URL arguments that select this filter again (for the export links)."""
        out = (
            {"quarter": self.quarter}
            if self.quarter
            else {"date_from": self.start.isoformat(), "date_to": self.end.isoformat()}
        )
        if self.kind:
            out["kind"] = self.kind
        return out


@dataclass
class LeagueRow:
    funder_id: int
    name: str
    kind: str
    received: int = 0
    picked_up: int = 0
    responded: int = 0
    median_first_response: float | None = None
    decided: int = 0
    median_decision: float | None = None
    approved: int = 0
    overdue_now: int = 0
    overdue_ever: int = 0
    disbursed_cny: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    @property
    def pickup_rate(self) -> float | None:
        """Percent, one decimal."""
        return round(100 * self.picked_up / self.received, 1) if self.received else None

    @property
    def approval_rate(self) -> float | None:
        return round(100 * self.approved / self.decided, 1) if self.decided else None

    @property
    def disbursed_wan(self) -> float:
        return chart_value(self.disbursed_cny)


@dataclass
class League:
    filter: LeagueFilter
    rows: list[LeagueRow]
    named: bool = True
    # Institutions left out for a reader who sees only those with enough applications.
    hidden: int = 0
    min_applications: int = 0


# ------------------------------------------------------------------ who may see it


def enterprises_may_see() -> bool:
    """Platform setting APPLICATION_LEAGUE_FOR_ENTERPRISES (default off)."""
    return bool(current_app.config.get("APPLICATION_LEAGUE_FOR_ENTERPRISES", False))


def may_see(user: User) -> bool:
    return user.is_operator or (user.is_enterprise and enterprises_may_see())


def make_filter(
    *,
    quarter: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    kind: str | None = None,
    today: date | None = None,
) -> LeagueFilter:
    """The period: a quarter ("2026Q4"), else a date range, else the current quarter. The
    callers (form, API schema) have validated the values; this only fills the gaps."""
    from techfin.services.pool import parse_quarter, quarter_of

    kind = kind if kind in FUNDER_KINDS else None
    today = today or clock.beijing_today()
    if not quarter and (date_from or date_to):
        # One bound given: the other one is today, or a quarter before the end, and the range
        # never longer than MAX_RANGE_DAYS.
        start = date_from or (date_to or today) - timedelta(days=90)
        end = date_to or min(max(today, start), start + timedelta(days=MAX_RANGE_DAYS))
        return LeagueFilter(start, end, kind)
    quarter = quarter or quarter_of(today)
    start, end = parse_quarter(quarter)
    return LeagueFilter(start, end, kind, quarter)


# ------------------------------------------------------------------ SQL pieces


def _beijing_day(col: Any) -> ColumnElement[Any]:
    """The Beijing calendar date of a naive-UTC timestamp column, in the database."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.date(col, "+8 hours")
    return cast(col + UTC_OFFSET, Date)


def _calendar(first: date, last: date) -> Any:
    """A CTE (column1 = date, column2 = working days from `first` up to that date): the
    working days in (a, b] are column2(b) - column2(a). Dates are ours, not user input."""
    postgres = db.session.get_bind().dialect.name != "sqlite"
    rows, n, day = [], 0, first
    while day <= last:
        if day > first and clock.is_working_day(day):
            n += 1
        rows.append(
            f"(DATE '{day.isoformat()}', {n})" if postgres else f"('{day.isoformat()}', {n})"
        )
        day += timedelta(days=1)
    body = text("VALUES " + ", ".join(rows))
    return body.columns(column("column1", Date), column("column2", Integer)).cte("league_calendar")


def _cohort(f: LeagueFilter, today: date) -> Any:
    """The period's applications, one row each with the dates the figures need."""
    start = datetime.combine(f.start, time()) - UTC_OFFSET
    end = datetime.combine(f.end + timedelta(days=1), time()) - UTC_OFFSET
    decided_at = (
        select(func.min(ApplicationEvent.at))
        .where(
            ApplicationEvent.application_id == Application.id,
            ApplicationEvent.to_status.in_(("approved", "declined")),
        )
        .scalar_subquery()
    )
    approved = exists().where(
        ApplicationEvent.application_id == Application.id, ApplicationEvent.to_status == "approved"
    )
    submit_day = _beijing_day(Application.submitted_at)
    first_day = _beijing_day(Application.first_response_at)
    decision_day = _beijing_day(decided_at)
    closed = Application.status.in_(("disbursed", "declined", "withdrawn"))
    end_day = func.coalesce(
        decision_day,
        case((closed, _beijing_day(Application.decided_at)), else_=literal(today, Date)),
    )
    late_first = and_(
        Application.first_response_due.is_not(None),
        Application.first_response_due < func.coalesce(first_day, end_day),
    )
    late_decision = and_(
        Application.decision_due.is_not(None),
        Application.decision_due < end_day,
        or_(Application.paused_on.is_(None), Application.paused_on > Application.decision_due),
    )
    now_overdue = and_(
        Application.status.in_(("submitted", "accepted")),
        or_(
            Application.decision_due < literal(today, Date),
            and_(
                Application.status == "submitted",
                Application.first_response_due < literal(today, Date),
            ),
        ),
    )
    stmt = (
        select(
            Application.id.label("id"),
            Application.funder_id.label("funder_id"),
            Application.origin.label("origin"),
            Application.status.label("status"),
            Application.reason_code.label("reason_code"),
            Application.paused_on.label("paused_on"),
            Application.paused_days.label("paused_days"),
            Application.disbursed_amount_cny.label("disbursed_cny"),
            submit_day.label("submit_day"),
            first_day.label("first_day"),
            decision_day.label("decision_day"),
            case((approved, 1), else_=0).label("approved"),
            case((now_overdue, 1), else_=0).label("overdue_now"),
            case((or_(late_first, late_decision), 1), else_=0).label("overdue_ever"),
        )
        .join(Funder, Funder.id == Application.funder_id)
        .where(
            Application.submitted_at.is_not(None),
            Application.submitted_at >= start,
            Application.submitted_at < end,
        )
    )
    if f.kind:
        stmt = stmt.where(Funder.kind == f.kind)
    return stmt.subquery("cohort")


def _as_date(value: Any) -> date:
    """A computed date column comes back as text from SQLite, as a date from PostgreSQL."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _median(histogram: list[tuple[int, int]]) -> float | None:
    """The median of a histogram [(value, count)], sorted by value."""
    total = sum(c for _v, c in histogram)
    if not total:
        return None
    lower, upper = (total - 1) // 2, total // 2  # positions of the middle one or two
    seen, low_value = 0, None
    for value, count in histogram:
        if low_value is None and seen + count > lower:
            low_value = value
        if seen + count > upper:
            return (low_value + value) / 2 if low_value != value else float(value)
        seen += count
    return None  # unreachable: the loop reaches `upper`


# ------------------------------------------------------------------ the table


def league(user: User, f: LeagueFilter, today: date | None = None) -> League:
    """The league table for the filter: one row per institution that received applications
    in the period, quickest median first response first."""
    if not may_see(user):
        raise Forbidden(_("Only operators see the league table."))
    today = today or clock.beijing_today()
    cohort = _cohort(f, today)
    c = cohort.c

    totals = db.session.execute(
        select(
            c.funder_id,
            func.count(),
            func.sum(case((c.origin == "picked_up", 1), else_=0)),
            func.count(c.first_day),
            func.count(c.decision_day),
            func.sum(c.approved),
            func.sum(c.overdue_now),
            func.sum(c.overdue_ever),
            func.sum(case((c.status == "disbursed", c.disbursed_cny), else_=0)),
        ).group_by(c.funder_id)
    ).all()
    if not totals:
        return _finish(user, f, [])
    funders = {
        fid: (name, kind)
        for fid, name, kind in db.session.execute(
            select(Funder.id, Funder.name, Funder.kind).where(Funder.id.in_([t[0] for t in totals]))
        )
    }
    rows: dict[int, LeagueRow] = {}
    for fid, received, picked, responded, decided, approved, now, ever, cny in totals:
        name, kind = funders.get(fid, (str(fid), ""))
        rows[fid] = LeagueRow(fid, name, kind, int(received), int(picked or 0), int(responded),
                              decided=int(decided), approved=int(approved or 0),
                              overdue_now=int(now or 0), overdue_ever=int(ever or 0),
                              disbursed_cny=int(cny or 0))  # fmt: skip

    for fid, code, count in db.session.execute(
        select(c.funder_id, c.reason_code, func.count())
        .where(c.status == "declined")
        .group_by(c.funder_id, c.reason_code)
    ):
        rows[fid].refusals[code or "other"] = rows[fid].refusals.get(code or "other", 0) + count

    # Working-day durations, as a histogram per institution (see the module's docstring).
    # The calendar runs from the period's start to the cohort's last answer or decision.
    last = max(
        (_as_date(d) for d in db.session.execute(
            select(func.max(c.first_day), func.max(c.decision_day))).one() if d),
        default=f.start,
    )  # fmt: skip
    cal = _calendar(f.start - timedelta(days=1), max(last, f.start) + timedelta(days=1))
    c_sub, c_first, c_dec, c_pause = (
        cal.alias(n) for n in ("c_sub", "c_first", "c_dec", "c_pause")
    )
    to_first = (c_first.c.column2 - c_sub.c.column2).label("days")
    stmt = (
        select(c.funder_id, to_first, func.count())
        .select_from(cohort)
        .join(c_sub, c_sub.c.column1 == c.submit_day)
        .join(c_first, c_first.c.column1 == c.first_day)
        .group_by(c.funder_id, to_first)
        .order_by(c.funder_id, to_first)
    )
    first_hist: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for fid, days, count in db.session.execute(stmt):
        first_hist[fid].append((int(days), int(count)))
    paused_at_end = func.coalesce(c_dec.c.column2 - c_pause.c.column2, 0)
    to_decision = (c_dec.c.column2 - c_sub.c.column2 - c.paused_days - paused_at_end).label("days")
    stmt = (
        select(c.funder_id, to_decision, func.count())
        .select_from(cohort)
        .join(c_sub, c_sub.c.column1 == c.submit_day)
        .join(c_dec, c_dec.c.column1 == c.decision_day)
        .outerjoin(c_pause, c_pause.c.column1 == c.paused_on)
        .group_by(c.funder_id, to_decision)
        .order_by(c.funder_id, to_decision)
    )
    decision_hist: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for fid, days, count in db.session.execute(stmt):
        decision_hist[fid].append((max(int(days), 0), int(count)))
    for fid, row in rows.items():
        row.median_first_response = _median(first_hist.get(fid, []))
        row.median_decision = _median(sorted(decision_hist.get(fid, [])))
    ordered = sorted(
        rows.values(),
        key=lambda r: (r.median_first_response is None, r.median_first_response or 0,
                       -r.received, r.name),
    )  # fmt: skip
    return _finish(user, f, ordered)


def _finish(user: User, f: LeagueFilter, rows: list[LeagueRow]) -> League:
    """Operators see every institution; enterprises (when the platform shows it to them) see
    institutions by name, but only those with enough applications in the period for a
    median to mean something."""
    if user.is_operator:
        return League(f, rows)
    least = int(current_app.config.get("APPLICATION_LEAGUE_MIN_APPLICATIONS", 5))
    shown = [r for r in rows if r.received >= least]
    return League(f, shown, hidden=len(rows) - len(shown), min_applications=least)


# ------------------------------------------------------------------ exports


def reason_label(code: str, locale: str) -> str:
    found = reasons.reason(code)
    return found.label(locale) if found else code


def table(result: League, locale: str, kind_label: Any = None) -> Table:
    """The league table as a report (CSV / XLSX); one column per refusal reason code."""
    kind_label = kind_label or (lambda k: k)
    f = result.filter
    period = f.quarter or f"{f.start.isoformat()} – {f.end.isoformat()}"
    preamble = [_("Period: %(period)s", period=period)]
    if f.kind:
        preamble.append(_("Institution kind: %(kind)s", kind=kind_label(f.kind)))
    preamble.append(
        _("Working days on China's official calendar; the decision clock excludes the days "
          "spent waiting for more information. Amounts in 万元.")
    )  # fmt: skip
    columns = [
        _("Institution"), _("Institution kind"), _("Applications received"), _("Picked up"),
        _("Pick-up rate (%)"), _("Median working days to first response"),
        _("Median working days to decision"), _("Decisions"), _("Approved"),
        _("Approval rate (%)"), _("Overdue now"), _("Ever overdue"), _("Disbursed (万元)"),
    ] + [_("Refused: %(reason)s", reason=r.label(locale)) for r in reasons.REFUSAL_REASONS]  # fmt: skip
    rows = [
        [r.name, kind_label(r.kind), r.received, r.picked_up, r.pickup_rate,
         r.median_first_response, r.median_decision, r.decided, r.approved, r.approval_rate,
         r.overdue_now, r.overdue_ever, r.disbursed_wan]
        + [r.refusals.get(code, 0) for code in reasons.CODES]
        for r in result.rows
    ]  # fmt: skip
    name = f"league_{f.quarter or f.start.isoformat() + '_' + f.end.isoformat()}"
    return Table(name, _("Institutions' league table"), columns, rows, preamble=preamble)


def as_dict(result: League) -> dict[str, Any]:
    """The API's answer: codes, not words (the reference list labels them)."""
    f = result.filter
    return {
        "period": {"start": f.start, "end": f.end, "quarter": f.quarter},
        "kind": f.kind,
        "items": [
            {"funder_id": r.funder_id, "name": r.name, "kind": r.kind, "received": r.received,
             "picked_up": r.picked_up, "pickup_rate": r.pickup_rate,
             "median_days_to_first_response": r.median_first_response,
             "median_days_to_decision": r.median_decision, "decided": r.decided,
             "approved": r.approved, "approval_rate": r.approval_rate,
             "overdue_now": r.overdue_now, "overdue_ever": r.overdue_ever,
             "disbursed_cny": r.disbursed_cny, "refusals": dict(r.refusals)}
            for r in result.rows
        ],
        "hidden": result.hidden,
    }  # fmt: skip
