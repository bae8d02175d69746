"""The platform's day: Beijing's date (UTC+8), whatever the server's clock is set to.

Dates people type and the platform records (an event's day, a docking step, a deadline) are
Beijing's. A server on UTC is a day behind from 16:00 to 24:00 UTC, so `date.today()` would
refuse today's date as "in the future" then, and leave today's steps out of today's figures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_today(now: datetime | None = None) -> date:
    """Today's date in Beijing; `now` is a naive UTC timestamp (the database's kind)."""
    moment = (now or datetime.now(UTC).replace(tzinfo=None)).replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).date()


def to_beijing(utc_naive: datetime) -> datetime:
    """A naive UTC timestamp (the database's kind) as naive Beijing wall time."""
    return utc_naive.replace(tzinfo=UTC).astimezone(BEIJING).replace(tzinfo=None)


def from_beijing(local_naive: datetime) -> datetime:
    """Naive Beijing wall time (what a form holds) as a naive UTC timestamp."""
    return local_naive.replace(tzinfo=BEIJING).astimezone(UTC).replace(tzinfo=None)
