"""Docking events: the scheduler's guarantees, registration, meetings, check-in, results,
the calendar file and attribution."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from techfin.extensions import db
from techfin.models import DockingEvent, EventMeeting, EventRegistration, Need, Outcome, Product
from techfin.models.base import utcnow
from techfin.services.events import MeetingRequest, schedule

requests_strategy = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 4), st.one_of(st.none(), st.integers(-1, 9))),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(requests_strategy, st.integers(0, 8), st.integers(0, 5))
def test_schedule_never_double_books_and_respects_caps(raw, slots, cap):
    reqs = [MeetingRequest(i, ("e", a), ("f", b), keep) for i, (a, b, keep) in enumerate(raw)]
    placed = schedule(reqs, slots, cap)
    seen: set[tuple] = set()
    per_host: Counter = Counter()
    for r in reqs:
        if r.id not in placed:
            continue
        slot = placed[r.id]
        assert 0 <= slot < slots
        for who in (r.party, r.host):
            assert (who, slot) not in seen, "double-booked"
            seen.add((who, slot))
        per_host[r.host] += 1
    assert all(n <= cap for n in per_host.values())
    # Nothing left out that would have fitted: its host is full or no common slot is free.
    for r in reqs:
        if r.id in placed:
            continue
        free = [s for s in range(slots) if (r.party, s) not in seen and (r.host, s) not in seen]
        assert per_host[r.host] >= cap or not free


def test_schedule_keeps_valid_placements():
    reqs = [MeetingRequest(1, "a", "x", 3), MeetingRequest(2, "b", "x", 3),
            MeetingRequest(3, "a", "y")]  # fmt: skip
    assert schedule(reqs, 5, 2) == {1: 3, 2: 0, 3: 0}


def _event_form(**extra):
    start = datetime.now().replace(second=0, microsecond=0) + timedelta(days=2)
    data = {"title": "小榄镇银企对接会", "kind": "bank_meeting",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "place": "小榄镇科技金融服务中心", "capacity": "2", "slot_minutes": "30",
            "meeting_cap": "2", "description": "路演, 对接; 洽谈\n第二行"}  # fmt: skip
    return data | extra


def test_event_journey(app, client, users, login, body):
    login("op@ops.cn")
    resp = client.post("/events/new", data=_event_form(title="", capacity="0", kind="x",
                                                        ends_at="2020-01-01T00:00"))  # fmt: skip
    assert resp.status_code == 200 and body(resp).count("is-invalid") >= 3
    assert client.post("/events/new", data=_event_form(place="")).status_code == 200
    assert client.post("/events/new", data=_event_form()).status_code == 302
    with app.app_context():
        event = db.session.execute(db.select(DockingEvent)).scalar_one()
        event_id, starts = event.id, event.starts_at
    local = datetime.strptime(_event_form()["starts_at"], "%Y-%m-%dT%H:%M")
    assert starts == local - timedelta(hours=8)  # stored in UTC
    url = f"/events/{event_id}"

    login("vc@ops.cn")  # unverified institutions may look, not register
    assert client.get(url).status_code == 200
    assert client.post(f"{url}/register").status_code == 403
    login("e1@ops.cn")
    assert client.post(f"{url}/register").status_code == 302
    assert client.post(f"{url}/register").status_code == 302  # twice: a message only
    login("bank@ops.cn")
    client.post(f"{url}/register")
    login("e2@ops.cn")
    client.post(f"{url}/register")  # capacity 2: full
    with app.app_context():
        regs = db.session.execute(db.select(EventRegistration)).scalars().all()
        assert len(regs) == 2
        codes = {r.organization.ref: r.code for r in regs}
    # The count of registrations, not a registration time (a shared msgid once said 注册时间).
    html = body(client.get(f"{url}?lang=zh_CN"))
    assert re.search(r"<dt[^>]*>报名</dt><dd[^>]*>2 / 2</dd>", html) and "注册时间" not in html
    client.get(f"{url}?lang=en")

    login("e1@ops.cn")
    html = body(client.get(f"{url}/meetings/new"))
    assert 'id="suggestions"' in html and "中国银行中山分行科技支行" in html
    with app.app_context():
        bank_id = next(r.organization_id for r in db.session.execute(
            db.select(EventRegistration)).scalars() if r.organization.ref == "F-001")  # fmt: skip
        need_id = db.session.execute(db.select(Need.id).filter_by(ref="N-001")).scalar_one()
        product_id = db.session.execute(db.select(Product.id).filter_by(ref="P-001")).scalar_one()
    resp = client.post(f"{url}/meetings/new", data={"counterpart_id": ""})
    assert resp.status_code == 200 and "is-invalid" in body(resp)
    resp = client.post(f"{url}/meetings/new", data={"counterpart_id": bank_id, "need_id": need_id,
                                                    "product_id": product_id})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        meeting_id = db.session.execute(db.select(EventMeeting.id)).scalar_one()
    # The requester cannot confirm its own request; the bank can.
    assert client.post(f"{url}/meetings/{meeting_id}/confirm").status_code == 403
    login("bank@ops.cn")
    assert client.post(f"{url}/meetings/{meeting_id}/confirm").status_code == 302

    login("op@ops.cn")
    assert client.post(f"{url}/schedule").status_code == 302
    html = body(client.get(f"{url}/agenda"))
    assert 'data-slot="0"' in html
    resp = client.get(f"{url}/checkin")
    assert resp.status_code == 200
    # two days before the event the desk is not open yet
    early = body(client.post(f"{url}/checkin?lang=zh_CN", data={"code": codes["E-001"]}))
    assert "签到将于" in early and "is-invalid" in early
    with app.app_context():  # the event day comes: it started ten minutes ago
        event = db.session.get(DockingEvent, event_id)
        event.starts_at = utcnow().replace(microsecond=0) - timedelta(minutes=10)
        event.ends_at = event.starts_at + timedelta(hours=2)
        db.session.commit()
        local = event.starts_at + timedelta(hours=8)
    resp = client.post(f"{url}/checkin", data={"code": "ZZZZZZ"})
    assert resp.status_code == 200 and "is-invalid" in body(resp)
    for code in codes.values():
        assert client.post(f"{url}/checkin", data={"code": code.lower()}).status_code == 302
    with app.app_context():
        assert all(r.checked_in_at for r in db.session.execute(
            db.select(EventRegistration)).scalars())  # fmt: skip

    login("e1@ops.cn")
    ics = client.get(f"{url}/agenda.ics")
    assert ics.mimetype == "text/calendar"
    text = ics.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert text.count("BEGIN:VEVENT") == 2  # the event and my meeting
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    unfolded = text.replace("\r\n ", "")
    assert "DESCRIPTION:路演\\, 对接\\; 洽谈\\n第二行" in unfolded
    assert re.search(r"DTSTART:\d{8}T\d{6}Z", unfolded)
    assert client.get(f"{url}/meetings/{meeting_id}/result").status_code == 403

    login("bank@ops.cn")
    form = f"{url}/meetings/{meeting_id}/result"
    resp = client.post(form, data={"result": "funded", "need_id": need_id,
                                   "product_id": product_id})  # fmt: skip
    assert resp.status_code == 200 and "is-invalid" in body(resp)  # funded needs an amount
    matures = (max(date.today(), local.date()) + timedelta(days=365)).isoformat()
    terms = {"result": "funded", "need_id": need_id, "product_id": product_id,
             "amount_cny": "300", "rate": "4.35", "matures": matures, "repayment": "bullet"}  # fmt: skip

    def steps() -> list[tuple[str, Any]]:
        with app.app_context():
            return [(o.stage, o.date) for o in db.session.execute(
                db.select(Outcome).filter_by(need_id=need_id).order_by(Outcome.id)).scalars()]  # fmt: skip

    before = steps()
    # The sample's N-001 × P-001 loan was funded on 2026-10-10: a result cannot move it back
    # to a meeting, nor fund it twice, until an operator reopens it.
    resp = client.post(form, data=terms)
    assert resp.status_code == 200 and "仅运营人员可重新开启" in body(resp)  # the page's language
    assert steps() == before
    with app.app_context():
        from techfin.models import User
        from techfin.services import pipeline

        op = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        pipeline.reopen(op, db.session.get(Need, need_id), db.session.get(Product, product_id),
                        "贷款合同撤销，活动上重新洽谈")  # fmt: skip
    resp = client.post(form, data={"result": "funded", "need_id": need_id,
                                   "product_id": product_id, "amount_cny": "300"})  # fmt: skip
    # a funded loan carries its rate, maturity and repayment, as from every channel
    assert resp.status_code == 200 and "is-invalid" in body(resp)
    assert steps() == before  # nothing half-recorded
    resp = client.post(form, data=terms)
    assert resp.status_code == 302
    with app.app_context():
        stages = {o.stage: o for o in db.session.execute(
            db.select(Outcome).filter_by(need_id=need_id)).scalars()}  # fmt: skip
        assert stages["meeting"].date == local.date()
        funded = [o for o in db.session.execute(db.select(Outcome).filter_by(
            need_id=need_id, stage="funded")).scalars() if o.amount_cny == 3_000_000]  # fmt: skip
        assert len(funded) == 1

    login("op@ops.cn")
    html = body(client.get(f"{url}/attribution"))
    assert 'data-figure="met" data-value="1"' in html
    assert 'data-figure="progressed" data-value="1"' in html
    assert 'data-figure="d30" data-value="3000000"' in html
    export = client.get(f"{url}/attribution.csv")
    assert export.data.startswith(b"\xef\xbb\xbf")
    rows = export.get_data(as_text=True).lstrip("\ufeff").splitlines()
    # Money in 万元, said in the header (techfin.money's unit rule): 3 000 000 yuan → 300.
    assert "万元" in rows[0].split(",")[4] and rows[-1].split(",")[4] == "300"
    login("bank@ops.cn")
    assert client.get(f"{url}/attribution").status_code == 403


def test_meeting_cap_and_double_booking_in_the_app(app, users):
    """Three enterprises want the same bank; the cap of 2 leaves one out."""
    from techfin.models import User
    from techfin.services import events as svc

    with app.app_context():
        op = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        start = datetime.now().replace(microsecond=0) + timedelta(days=1)
        event = svc.save_event(op, None, {"title": "路演", "kind": "roadshow", "starts_at": start,
                                          "ends_at": start + timedelta(hours=1), "place": "中山",
                                          "capacity": 10, "slot_minutes": 20, "meeting_cap": 2})  # fmt: skip
        bank = db.session.execute(db.select(User).filter_by(email="bank@ops.cn")).scalar_one()
        svc.register(bank, event)
        ids = []
        for email in ("e1@ops.cn", "e2@ops.cn"):
            user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
            svc.register(user, event)
            m = svc.request_meeting(user, event, bank.organization.id)
            svc.answer_meeting(bank, m, True)
            ids.append(m.id)
        event.meeting_cap = 1
        db.session.commit()
        placed, left = svc.run_schedule(op, event)
        assert (placed, left) == (1, 1)
        event.meeting_cap = 5
        db.session.commit()
        assert svc.run_schedule(op, event) == (2, 0)
        slots = [db.session.get(EventMeeting, i).slot for i in ids]
        assert sorted(slots) == [0, 1]  # the bank is never in two meetings at once
