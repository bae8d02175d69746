"""The platform's day is Beijing's (techfin/localtime.py), whatever the server's clock says."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from techfin import localtime


def test_beijing_s_date_turns_at_16_utc():
    assert localtime.beijing_today(datetime(2026, 12, 5, 15, 59)) == date(2026, 12, 5)
    assert localtime.beijing_today(datetime(2026, 12, 5, 16, 0)) == date(2026, 12, 6)


@pytest.fixture
def evening_utc(monkeypatch):
    """17:00 UTC on 5 December: already the 6th in Beijing, still the 5th on a UTC server."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            moment = datetime(2026, 12, 5, 17, 0, tzinfo=localtime.UTC)
            return moment if tz is not None else moment.replace(tzinfo=None)

    monkeypatch.setattr(localtime, "datetime", Clock)


def test_today_in_beijing_is_not_a_future_date(evening_utc):
    """A founding date of Beijing's today is accepted and tomorrow's refused; the dashboard's
    default period ends on Beijing's today (a step recorded at today's event counts)."""
    from marshmallow import ValidationError

    from techfin.services import dashboard, records

    records._past_date(date(2026, 12, 6), records.EARLIEST_FOUNDED)
    with pytest.raises(ValidationError):
        records._past_date(date(2026, 12, 7), records.EARLIEST_FOUNDED)
    assert dashboard.period(None, None).end == date(2026, 12, 6)


def test_wall_time_and_utc_convert_both_ways_across_midnight():
    """Events, schedules and digests share these: 23:30 Beijing is 15:30 UTC the same day,
    02:00 Beijing is 18:00 UTC the day before."""
    from techfin.services import events, jobs

    assert localtime.from_beijing(datetime(2026, 12, 6, 23, 30)) == datetime(2026, 12, 6, 15, 30)
    assert localtime.from_beijing(datetime(2026, 12, 6, 2, 0)) == datetime(2026, 12, 5, 18, 0)
    assert localtime.to_beijing(datetime(2026, 12, 5, 18, 0)) == datetime(2026, 12, 6, 2, 0)
    assert events.to_utc is localtime.from_beijing and events.to_local is localtime.to_beijing
    assert jobs.to_beijing is localtime.to_beijing
