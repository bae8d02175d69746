"""The operator dashboard, computed by the task worker and read by pages.

Every figure of the dashboard reads the whole catalogue (all needs and enterprises, the
period's outcomes, the products × needs coverage check). At region scale that is seconds
of work, so a page never computes it: it reads the period's stored report (one row), and
when that is missing or older than DASHBOARD_MAX_AGE it asks the worker for a new one and
shows the older figures, marked with their time, until it is there. A scheduled job keeps
the default period (the last twelve months) fresh, so the usual visit finds it ready.

The row is the truth, the queue only the wake-up: a lost message leaves `requested_at`
newer than `computed_at`, and the next visit REQUEST_RETRY after the wake-up sends another.
Figures are stamped with the time their computation started reading, not when it ended: an
operator who records a loan and looks while a computation is under way is owed figures
that count it, so that computation, on finishing, queues another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, select, text

from techfin.errors import Forbidden
from techfin.extensions import db
from techfin.models import DashboardReport, User
from techfin.models.base import utcnow
from techfin.money import Wan
from techfin.services.dashboard import (
    Chart,
    Dashboard,
    Labeller,
    Period,
    compute,
    period,
    raw_label,
)
from techfin.services.reports import Table

log = logging.getLogger(__name__)

REQUEST_RETRY = timedelta(seconds=60)  # a request older than this was lost: ask again
KEEP_UNREQUESTED = timedelta(days=14)  # reports of periods nobody asked for since are dropped


@dataclass
class Reading:
    """What a page shows: the dashboard (None while the first computation runs), when it
    was computed, and whether a newer one is on its way."""

    dashboard: Dashboard | None
    computed_at: datetime | None
    refreshing: bool


def _now() -> datetime:
    """The database's clock (naive UTC), not this host's. Pages ask on the web hosts and
    the worker computes on another: with host clocks, a web host running δ behind the
    worker's would record an ask made up to δ after a computation started as made before
    it, and take that computation as its answer. One clock for every ask and start. On
    SQLite (one machine) it is the host's, with its microseconds."""
    if db.session.get_bind().dialect.name != "postgresql":
        return utcnow()
    # statement_timestamp(): the time of this statement, not of its transaction's start.
    return db.session.scalar(text("SELECT statement_timestamp() AT TIME ZONE 'UTC'"))


def _max_age() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("DASHBOARD_MAX_AGE", 600)))


def _row(p: Period) -> DashboardReport | None:
    return db.session.execute(
        select(DashboardReport).where(
            DashboardReport.start == p.start,
            DashboardReport.end == p.end,
            DashboardReport.days == p.days,
        )
    ).scalar_one_or_none()


def _fresh(row: DashboardReport, p: Period, now: datetime) -> bool:
    return (
        row.payload is not None
        and row.computed_at is not None
        and row.computed_on == p.today  # "open for N days" counts from the day it ran
        and now - row.computed_at < _max_age()
    )


def read(user: User, p: Period, locale: str) -> Reading:
    """The period's dashboard for an operator, in `locale`; asks the worker for a new one
    when the stored one is missing or stale. One row read (and at most one write)."""
    if not user.is_operator:
        raise Forbidden(_("Only operators see the dashboard."))
    now = _now()
    row = _row(p)
    if row is None or not _fresh(row, p, now):
        _request(p, row, now)
        row = _row(p)  # an inline queue (tests, TASK_QUEUE_URL=immediate) computed it already
    if row is None or row.payload is None:
        return Reading(None, None, True)
    # Refreshing: a newer computation was asked for and has not landed yet.
    refreshing = row.computed_at is None or row.requested_at > row.computed_at
    return Reading(decode(row.payload, locale), row.computed_at, refreshing)


def status(user: User, p: Period) -> dict[str, Any]:
    """What the page polls while newer figures are computed: when the stored ones are from
    and whether a computation is still asked for. One row read; asks for nothing."""
    if not user.is_operator:
        raise Forbidden(_("Only operators see the dashboard."))
    row = _row(p)
    computed = row.computed_at if row is not None and row.payload is not None else None
    waiting = row is None or row.computed_at is None or row.requested_at > row.computed_at
    return {"computed_at": computed.isoformat() if computed else None, "refreshing": waiting}


def refresh_now(user: User, p: Period) -> None:
    """An operator asks for the period's figures to be computed again now (after recording
    something they want to see counted), whatever the age of the stored ones."""
    if not user.is_operator:
        raise Forbidden(_("Only operators see the dashboard."))
    _request(p, _row(p), _now())


def _request(p: Period, row: DashboardReport | None, now: datetime) -> None:
    """Record an ask; wake the worker unless a wake-up for an unserved ask went out less
    than REQUEST_RETRY ago (the worker may be busy; the computation it runs, or the one it
    queues on finishing when this ask came after it started, serves this one)."""
    from techfin.tasks import jobs, wake

    if row is None:
        row = DashboardReport(start=p.start, end=p.end, days=p.days, requested_at=now)
        db.session.add(row)
        send = True
    else:
        pending = row.computed_at is None or row.requested_at > row.computed_at
        recent = row.woken_at is not None and now - row.woken_at < REQUEST_RETRY
        send = not (pending and recent)
        row.requested_at = max(now, row.requested_at)
    if send:
        row.woken_at = now
    try:
        db.session.commit()
    except Exception:  # noqa: BLE001 - another page inserted the same period first
        db.session.rollback()
        return
    if send:
        wake(jobs.compute_dashboard, p.start.isoformat(), p.end.isoformat(), p.days)


def compute_and_store(start: date, end: date, days: int, label: Labeller = raw_label) -> str:
    """The worker's side: compute the period's dashboard in every page language and store
    it, stamped with when it started reading. Idempotent; a computation that started
    earlier than the stored one's never replaces it, and one asked for after this one
    started is queued (its asker may have recorded something this one did not read)."""
    from techfin.tasks import jobs, wake

    db.session.commit()  # a transaction of its own: the reads below start after `started`
    started = _now()
    p = period(start, end, days)
    payload = {}
    for locale in current_app.config.get("LANGUAGES", ["zh_CN"]):
        with force_locale(locale):
            payload[locale] = encode(compute(p, label))
    db.session.commit()  # the reads' transaction ends: the row below is read as it is now
    row = _row(p)
    if row is None:
        row = DashboardReport(start=p.start, end=p.end, days=p.days, requested_at=started)
        db.session.add(row)
    if row.computed_at is None or row.computed_at <= started:
        row.payload, row.computed_at, row.computed_on = payload, started, p.today
    again = row.requested_at > row.computed_at
    if again:
        row.woken_at = _now()
    db.session.commit()
    if again:
        wake(jobs.compute_dashboard, p.start.isoformat(), p.end.isoformat(), p.days)
        return f"dashboard {p.start}–{p.end} ({p.days} days) computed; asked again meanwhile"
    return f"dashboard {p.start}–{p.end} ({p.days} days) computed"


def refresh_default(label: Labeller = raw_label) -> str:
    """Scheduled: the default period computed ahead of the visits; reports of periods no
    one asked for in KEEP_UNREQUESTED dropped."""
    p = period(None, None)
    db.session.execute(
        delete(DashboardReport).where(DashboardReport.requested_at < _now() - KEEP_UNREQUESTED)
    )
    db.session.commit()
    return compute_and_store(p.start, p.end, p.days, label)


# ------------------------------------------------------------------ storing a dashboard


def _value(v: Any) -> Any:
    # Dates and money cells in tables (and the period) survive the JSON round trip as what
    # they were, so the exports still write date cells and 万元 by the unit rule; lazy
    # strings become the text of their language.
    if isinstance(v, date):
        return {"$date": v.isoformat()}
    if isinstance(v, Wan):
        return {"$wan": v.cny}
    if isinstance(v, Decimal):
        return {"$decimal": str(v)}
    if isinstance(v, int | float | bool) or v is None:
        return v
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    return str(v)


def _restore(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$date"}:
            return date.fromisoformat(v["$date"])
        if set(v) == {"$wan"}:
            return Wan(int(v["$wan"]))
        if set(v) == {"$decimal"}:
            return Decimal(v["$decimal"])
        return {k: _restore(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_restore(x) for x in v]
    return v


def _shallow(obj: Any) -> dict[str, Any]:
    # Not dataclasses.asdict: it would turn the Wan cells (dataclasses too) into dicts.
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def encode(d: Dashboard) -> dict[str, Any]:
    return _value(
        {
            "period": [d.period.start, d.period.end, d.period.days, d.period.today],
            "kpis": [list(k) for k in d.kpis],
            "tables": {name: _shallow(t) for name, t in d.tables.items()},
            "charts": {name: _shallow(c) for name, c in d.charts.items()},
            "has_matches": d.has_matches,
        }
    )


def decode(payload: dict[str, Any], locale: str) -> Dashboard:
    """The stored dashboard in `locale` (the default language's when it has not that one)."""
    fallback = current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    data = _restore(payload.get(locale) or payload.get(fallback) or next(iter(payload.values())))
    start, end, days, today = data["period"]
    return Dashboard(
        Period(start, end, days, today),
        [tuple(k) for k in data["kpis"]],
        {name: Table(**t) for name, t in data["tables"].items()},
        {name: Chart(**c) for name, c in data["charts"].items()},
        bool(data["has_matches"]),
    )
