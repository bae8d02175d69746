"""The application clock on China's official calendar (chinese-calendar covers 2004-2026)."""

from __future__ import annotations

import logging
from datetime import date, datetime

import chinese_calendar

from techfin.services.applications import clock


def test_national_day_2026():
    # Oct 1-7 off; Sunday Sep 20 and Saturday Oct 10 are adjusted working days.
    assert not any(clock.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert clock.is_working_day(date(2026, 9, 20)) and clock.is_working_day(date(2026, 10, 10))
    # Submitted Wednesday Sep 30: three working days are Oct 8 (Thu), Oct 9 (Fri), Oct 10 (Sat)
    assert clock.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    # ten working days: Oct 8, 9, 10, 12-16, 19, 20
    assert clock.add_working_days(date(2026, 9, 30), 10) == date(2026, 10, 20)
    # Friday Sep 18: Sunday Sep 20 counts, the holiday week does not
    assert clock.add_working_days(date(2026, 9, 18), 3) == date(2026, 9, 22)


def test_spring_festival_2026():
    # Feb 15-23 off; Saturdays Feb 14 and Feb 28 are working days.
    assert clock.is_working_day(date(2026, 2, 14))
    assert not clock.is_working_day(date(2026, 2, 16)) and not clock.is_working_day(
        date(2026, 2, 23)
    )
    assert clock.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert clock.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    # Feb 14, 24-27, Sat 28, Mar 2-5: without the adjusted Saturday it would be Mar 6
    assert clock.add_working_days(date(2026, 2, 13), 10) == date(2026, 3, 5)


def test_pause_across_the_holiday_counts_only_working_days():
    # Information requested Sep 30, provided Oct 9: Oct 8 and 9 are the only working days.
    assert clock.working_days_between(date(2026, 9, 30), date(2026, 10, 9)) == 2
    assert clock.working_days_between(date(2026, 10, 1), date(2026, 10, 7)) == 0
    assert clock.working_days_between(date(2026, 10, 9), date(2026, 10, 9)) == 0


def test_outside_the_package_range_weekdays_stand_in(caplog):
    year = 2031
    try:
        chinese_calendar.is_workday(date(year, 1, 2))
        covered = True
    except NotImplementedError:
        covered = False
    assert not covered, "the package now covers this year: pick a later one for this test"
    clock._warned.discard(year)
    with caplog.at_level(logging.WARNING, logger="techfin.services.applications.clock"):
        # Friday Jan 3 2031 → Mon 6, Tue 7, Wed 8
        assert clock.add_working_days(date(2031, 1, 3), 3) == date(2031, 1, 8)
    assert "Monday-Friday" in caplog.text
    assert caplog.text.count("Monday-Friday") == 1  # once per year, not per day


def test_beijing_date():
    # 16:30 UTC on Sep 30 is already Oct 1 in Beijing
    assert clock.beijing_today(datetime(2026, 9, 30, 16, 30)) == date(2026, 10, 1)
    assert clock.beijing_today(datetime(2026, 9, 30, 15, 59)) == date(2026, 9, 30)
