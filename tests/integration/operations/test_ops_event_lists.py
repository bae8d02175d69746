"""An event's participants and meeting schedule download as CSV and print-ready XLSX."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from techfin.errors import Forbidden
from techfin.extensions import db
from techfin.models import (
    DockingEvent,
    Enterprise,
    EventMeeting,
    EventRegistration,
    Funder,
    Need,
    Product,
)
from techfin.models.base import utcnow
from techfin.services import events


def _event(app) -> int:
    with app.app_context():
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        e1 = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        product = db.session.execute(db.select(Product).filter_by(ref="P-001")).scalar_one()
        start = utcnow().replace(hour=1, minute=0, second=0, microsecond=0) + timedelta(days=3)
        event = DockingEvent(title="知识产权质押融资对接会", kind="bank_meeting", starts_at=start,
                             ends_at=start + timedelta(hours=3), place="中山市火炬区",
                             capacity=20)  # fmt: skip
        db.session.add(event)
        db.session.add_all([
            EventRegistration(event=event, organization_id=e1.id, code="E1CODE",
                              checked_in_at=start),
            EventRegistration(event=event, organization_id=bank.id, code="F1CODE"),
            EventMeeting(event=event, enterprise_id=e1.id, funder_id=bank.id, slot=2,
                         status="confirmed", requested_by_org_id=e1.id, need_id=need.id,
                         product_id=product.id, result="funded", amount_cny=12_345_600),
        ])  # fmt: skip
        db.session.commit()
        return event.id


def test_operators_download_the_participants_and_the_meetings(app, client, users, login):
    event_id = _event(app)
    login("op@ops.cn")
    html = client.get(f"/events/{event_id}?lang=en").get_data(as_text=True)
    assert f"/events/{event_id}/participants.xlsx" in html
    assert f"/events/{event_id}/meetings.csv" in html

    resp = client.get(f"/events/{event_id}/participants.csv?lang=en")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["No.", "Organisation", "Type", "Check-in code"]
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["中山市明辉照明科技有限公司"][2:4] == ["Enterprise", "E1CODE"]
    assert by_name["中山市明辉照明科技有限公司"][5]  # checked in: the time
    assert len(rows) == 3

    resp = client.get(f"/events/{event_id}/meetings.xlsx?lang=en")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data)).worksheets[0]
    assert sheet["A1"].value.startswith("Meeting schedule: 知识产权质押融资对接会")
    assert "中山市火炬区" in sheet["A2"].value  # the preamble says when and where
    header = [c.value for c in sheet[3]]
    assert header[:4] == ["No.", "Time", "Enterprise", "Institution"]
    assert "Amount (万元)" in header
    row = [c.value for c in sheet[4]]
    assert row[2] == "中山市明辉照明科技有限公司" and row[7] == "Funded"
    amount = sheet.cell(row=4, column=header.index("Amount (万元)") + 1)
    assert amount.value == pytest.approx(1234.56) and amount.number_format == "#,##0.00"
    assert sheet.page_setup.orientation == "landscape"  # print-ready like the other reports
    # Time is Beijing time: the event starts at 09:00, slot 2 of 20 minutes at 09:40.
    assert str(row[1]).endswith("09:40")

    for who in ("e1@ops.cn", "bank@ops.cn"):
        login(who)
        assert client.get(f"/events/{event_id}/participants.csv").status_code == 403
        assert f"/events/{event_id}/participants.xlsx" not in client.get(
            f"/events/{event_id}"
        ).get_data(as_text=True)
    login("op@ops.cn")
    assert client.get(f"/events/{event_id}/nope.csv").status_code == 404


def test_the_organiser_downloads_the_lists(app, users, user_obj):
    event_id = _event(app)
    with app.app_context():
        bank_user = user_obj("bank@ops.cn")
        event = db.session.get(DockingEvent, event_id)
        with pytest.raises(Forbidden):
            events.event_list(bank_user, event, "participants")
        event.created_by_id = bank_user.id  # whoever organised it
        assert (
            events.event_list(bank_user, event, "meetings").rows[0][2]
            == "中山市明辉照明科技有限公司"
        )
