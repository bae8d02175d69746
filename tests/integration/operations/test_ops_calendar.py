"""The agenda's .ics (issue #14 item 14): UIDs unique to the deployment and the row, a
SEQUENCE that grows with changes, and cancelled meetings leaving users' calendars."""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar

from techfin.extensions import db
from techfin.models import DockingEvent, EventMeeting, Funder


def _setup(app) -> tuple[int, int]:  # noqa: ANN001
    from techfin.services import accounts

    with app.app_context():
        start = datetime.now().replace(microsecond=0) + timedelta(days=3)
        event = DockingEvent(title="银企对接会", kind="bank_meeting", starts_at=start,
                             ends_at=start + timedelta(hours=2), place="中山", capacity=10,
                             slot_minutes=30, meeting_cap=4)  # fmt: skip
        ent = accounts.find_organization("E-001")
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        meeting = EventMeeting(event=event, enterprise_id=ent.id, funder_id=bank.id,
                               status="confirmed", slot=1)  # fmt: skip
        db.session.add_all([event, meeting])
        db.session.commit()
        return event.id, meeting.id


def _events(resp) -> dict[str, icalendar.Event]:  # noqa: ANN001
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(resp.get_data())
    return {str(c["summary"]): c for c in cal.walk("VEVENT")}


def test_cancelled_meeting_leaves_the_calendar_with_a_higher_sequence(app, client, users, login):
    event_id, meeting_id = _setup(app)
    login("e1@ops.cn")
    first = _events(client.get(f"/events/{event_id}/agenda.ics"))
    (meeting_key,) = [k for k in first if k.startswith("1:1")]
    meeting = first[meeting_key]
    assert meeting["status"] == "CONFIRMED" and "银企对接会" in first
    uid, seq = str(meeting["uid"]), int(meeting["sequence"])
    assert "@" not in uid and len(uid) == 36  # a UUID, not event-N@host
    with app.app_context():
        row = db.session.get(EventMeeting, meeting_id)
        row.status, row.slot = "cancelled", None
        row.updated_at = row.updated_at + timedelta(seconds=5)
        db.session.commit()
    after = _events(client.get(f"/events/{event_id}/agenda.ics"))[meeting_key]
    assert str(after["uid"]) == uid and after["status"] == "CANCELLED"
    assert int(after["sequence"]) > seq


def test_uids_differ_between_deployments_and_rebuilt_databases(app, users):
    from techfin.services import events

    event_id, _ = _setup(app)
    with app.app_context():
        event = db.session.get(DockingEvent, event_id)
        here = events._uid("event", event)
        assert events._uid("event", event) == here  # stable for the same row
        app.config["SECRET_KEY"] = "another deployment"
        assert events._uid("event", event) != here
        app.config["SECRET_KEY"] = "test-secret"
        event.created_at = event.created_at - timedelta(days=1)  # the same id, another row
        assert events._uid("event", event) != here
