"""Docking events keep to their dates: no past events, sign-up until the start, check-in on
the day, results after the start, and meeting slots only in the event's days."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from techfin.errors import Conflict, DomainError
from techfin.extensions import db
from techfin.models import DockingEvent, EventMeeting, User
from techfin.models.base import utcnow
from techfin.services import events as svc


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def _beijing_now() -> datetime:
    return (utcnow() + timedelta(hours=8)).replace(second=0, microsecond=0)


def _event(starts: datetime, ends: datetime, **extra) -> DockingEvent:
    data = {"title": "路演", "kind": "roadshow", "starts_at": starts, "ends_at": ends,
            "capacity": 10, "slot_minutes": 20, "meeting_cap": 8} | extra  # fmt: skip
    return svc.save_event(_user("op@ops.cn"), None, data)


@pytest.mark.parametrize(
    ("lang", "text"),
    [("zh_CN", "活动开始日期不能早于今天"), ("en", "The event cannot start before today.")],
)
def test_an_event_in_the_past_cannot_be_created(app, client, users, login, body, lang, text):
    login("op@ops.cn")
    page = body(client.post(f"/events/new?lang={lang}", data={
        "title": "旧活动", "kind": "roadshow", "starts_at": "2020-03-01T09:00",
        "ends_at": "2020-03-01T12:00", "capacity": "10", "slot_minutes": "20",
        "meeting_cap": "8", "place": "中山"}))  # fmt: skip
    assert text in page and 'name="starts_at"' in page
    with app.app_context():
        assert db.session.execute(db.select(DockingEvent)).first() is None


def test_an_event_that_happened_can_still_be_edited(app, users):
    with app.app_context():
        event = _event(
            _beijing_now() + timedelta(days=1), _beijing_now() + timedelta(days=1, hours=2)
        )
        event.starts_at -= timedelta(days=3)  # it took place
        event.ends_at -= timedelta(days=3)
        db.session.commit()
        data = {"title": "路演（纪要）", "kind": "roadshow", "capacity": 10,
                "starts_at": event.starts_at + timedelta(hours=8),
                "ends_at": event.ends_at + timedelta(hours=8)}  # fmt: skip
        assert svc.save_event(_user("op@ops.cn"), event, data).title == "路演（纪要）"


def test_an_event_already_over_cannot_be_entered(app, users):
    with app.app_context():
        now = _beijing_now()
        with pytest.raises(DomainError) as err:
            _event(now.replace(hour=0, minute=0), now - timedelta(minutes=1))
        assert "ends_at" in err.value.fields
        if now.hour >= 1:  # today's meeting held this morning, still under way: accepted
            assert _event(now.replace(hour=0, minute=0), now + timedelta(hours=1)).id


def test_sign_up_until_the_end_and_the_button_says_baoming(app, client, users, login, body):
    with app.app_context():
        soon = _event(
            _beijing_now() + timedelta(days=1), _beijing_now() + timedelta(days=1, hours=3)
        )
        soon_id = soon.id
    login("e1@ops.cn")
    page = body(client.get(f"/events/{soon_id}?lang=zh_CN"))
    form = page.split('id="my-registration"')[1].split("</div>")[0]
    assert "报名</button>" in form and "注册" not in form
    assert "Sign up</button>" in body(client.get(f"/events/{soon_id}?lang=en"))
    with app.app_context():
        event = db.session.get(DockingEvent, soon_id)
        event.starts_at = utcnow() - timedelta(days=2)  # it took place
        event.ends_at = event.starts_at + timedelta(hours=3)
        db.session.commit()
        with pytest.raises(Conflict) as err:
            svc.register(_user("e1@ops.cn"), event)
        assert "event" in err.value.fields
    page = body(client.get(f"/events/{soon_id}?lang=zh_CN"))
    assert 'id="signup-closed"' in page and "报名</button>" not in page


def test_check_in_only_from_three_hours_before_the_start(app, users):
    with app.app_context():
        event = _event(
            _beijing_now() + timedelta(days=15), _beijing_now() + timedelta(days=15, hours=3)
        )
        reg = svc.register(_user("e1@ops.cn"), event)
        op = _user("op@ops.cn")
        with pytest.raises(Conflict):
            svc.check_in(op, event, reg.code)  # 15 days early
        event.starts_at = utcnow() + timedelta(hours=2)  # the morning of the event
        event.ends_at = event.starts_at + timedelta(hours=3)
        db.session.commit()
        assert svc.check_in(op, event, reg.code).checked_in_at is not None
        event.starts_at = utcnow() - timedelta(days=2)  # long over
        event.ends_at = event.starts_at + timedelta(hours=3)
        db.session.commit()
        other = svc.registration(event, event.registrations[0].organization_id)
        other.checked_in_at = None
        db.session.commit()
        with pytest.raises(Conflict):
            svc.check_in(op, event, reg.code)


def test_no_result_before_the_event_starts(app, users):
    from techfin.models import Need, Product

    with app.app_context():
        need_id = db.session.execute(db.select(Need.id).filter_by(ref="N-001")).scalar_one()
        product_id = db.session.execute(db.select(Product.id).filter_by(ref="P-001")).scalar_one()
        event = _event(
            _beijing_now() + timedelta(days=3), _beijing_now() + timedelta(days=3, hours=2)
        )
        bank, ent = _user("bank@ops.cn"), _user("e1@ops.cn")
        svc.register(bank, event)
        svc.register(ent, event)
        meeting = svc.request_meeting(ent, event, bank.organization.id)
        svc.answer_meeting(bank, meeting, True)
        with pytest.raises(DomainError) as err:
            svc.record_result(bank, meeting, "follow_up", need_id=need_id,
                              product_id=product_id)  # fmt: skip
        assert "result" in err.value.fields
        assert db.session.get(EventMeeting, meeting.id).result is None


def test_a_three_month_event_has_bounded_slots_on_its_days_only(app, users):
    with app.app_context():
        start = (_beijing_now() + timedelta(days=2)).replace(hour=9, minute=0)
        event = _event(start, start + timedelta(days=90, hours=8))  # 09:00–17:00 every day
        count = svc.slot_count(event)
        assert count == svc.MAX_SLOTS  # 91 days × 24 slots, capped (it was 6 483)
        for slot in range(count):
            begins = svc.slot_start(event, slot) + timedelta(hours=8)  # Beijing time
            assert 9 <= begins.hour < 17, (slot, begins)
            assert begins + timedelta(minutes=20) <= begins.replace(hour=17, minute=0)
        assert (svc.slot_start(event, 24) + timedelta(hours=8)).date() == (
            start + timedelta(days=1)
        ).date()
        one_day = _event(start, start + timedelta(hours=2))
        assert svc.slot_count(one_day) == 6
