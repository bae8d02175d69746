"""The application clock: working days on China's official calendar, in Beijing time.

`chinese-calendar` knows the State Council's holidays and the adjusted working weekends
(调休) for the years it has been told about; outside them it raises. Then weekdays stand
in for working days, with a warning in the log once per year, so a due date is still
given (possibly a few days early around a holiday) instead of an error.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import chinese_calendar

from techfin.localtime import BEIJING, beijing_today  # noqa: F401 - the clock's day, re-exported

log = logging.getLogger(__name__)

_warned: set[int] = set()


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # Not a stub: chinese_calendar.is_workday raises NotImplementedError for a year it
        # has no State Council calendar for (1.11.0 knows 2004-2026); tested in
        # tests/unit/test_application_clock.py with 2031.
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning(
                "chinese-calendar has no official calendar for %s: counting Monday-Friday "
                "as working days (update the chinese-calendar package)",
                day.year,
            )
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (start itself not counted)."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days in (start, end]: how far the clock moved from start to end."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def next_working_day(day: date) -> date:
    return add_working_days(day, 1)
