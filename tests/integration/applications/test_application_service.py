"""The service on fixed dates: the clock across holidays and its pause, escalation and
reminders fired once per slot (real SMTP via aiosmtpd), and a disbursed application in
the pool's quarterly 申报汇总表."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from techfin.extensions import db
from techfin.models import Application, Enterprise, Need, PoolEnterprise, Product, RiskPool
from techfin.services import applications, jobs, pool
from techfin.services.applications import deadlines

DISBURSE = {"amount_cny": 3_000_000, "rate": 3.95, "issued": "2026-10-12",
            "matures": "2027-10-11", "repayment": "equal_installment"}  # fmt: skip


def _apply(app, as_user, need_id: int, ids) -> int:
    with app.app_context():
        need = db.session.get(Need, need_id)
        product = db.session.get(Product, ids("product", "P-001"))
        return applications.apply(as_user("e1@x.cn"), need, product).id


def _move(app, as_user, app_id: int, email: str, **data) -> Application:
    with app.app_context():
        application = db.session.get(Application, app_id)
        applications.transition(as_user(email), application, data)
        return application


def test_due_dates_skip_national_day_and_the_pause_extends_them(
    app, users, need_id, ids, as_user, on_day
):
    on_day(date(2026, 9, 30))
    app_id = _apply(app, as_user, need_id, ids)
    with app.app_context():
        a = db.session.get(Application, app_id)
        assert (a.first_response_due, a.decision_due) == (date(2026, 10, 10), date(2026, 10, 20))
    _move(app, as_user, app_id, "bank@x.cn", to="accepted")
    _move(app, as_user, app_id, "bank@x.cn", to="info_requested", note="补充纳税证明")
    on_day(date(2026, 10, 9))  # Oct 8 and 9 are the working days the clock stood still
    _move(app, as_user, app_id, "e1@x.cn", to="accepted", note="已补充")
    with app.app_context():
        a = db.session.get(Application, app_id)
        assert a.paused_days == 2 and a.paused_on is None
        assert a.decision_due == date(2026, 10, 22)
        # paused applications are never overdue; a passed decision date is
        assert applications.overdue_deadline(a, date(2026, 10, 22)) is None
        assert applications.overdue_deadline(a, date(2026, 10, 23)) == "decision"


def test_request_info_is_only_after_acceptance(app, users, need_id, ids, as_user):
    from techfin.errors import Conflict

    app_id = _apply(app, as_user, need_id, ids)
    with pytest.raises(Conflict) as err:
        _move(app, as_user, app_id, "bank@x.cn", to="info_requested", note="x")
    assert err.value.fields["allowed"] == ["accepted", "declined"]


@pytest.fixture
def due_apps(app, users, need_id, ids, as_user, on_day, smtp_server):
    """One application past its first-response date on Oct 13 2026 and one whose decision is
    due the next working day (Oct 14)."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    on_day(date(2026, 10, 7))  # due Oct 10 (adjusted Saturday) and Oct 21
    late = _apply(app, as_user, need_id, ids)
    with app.app_context():
        ent = db.session.scalar(db.select(Enterprise).filter_by(ref="E-001"))
        other = Need(ref="N-APP2", enterprise_id=ent.id, kind="ip_pledge", amount_cny=2_000_000,
                     term_months=12, purpose="研发", status="published")  # fmt: skip
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    soon = _apply(app, as_user, other_id, ids)
    _move(app, as_user, soon, "bank@x.cn", to="accepted")
    with app.app_context():
        db.session.get(Application, soon).decision_due = date(2026, 10, 14)
        db.session.commit()
    smtp_server.messages.clear()  # the notices of the moves above (tested elsewhere)
    return late, soon


def _recipients(smtp_server) -> list[str]:
    return sorted(r for m in smtp_server.messages for r in m.envelope_rcpt)


def _run(app, day: date, slot: datetime) -> tuple[str, str] | None:
    with app.app_context():
        run = jobs.run_once("application_deadlines", lambda: deadlines.run(day).summary(), slot)
        return None if run is None else (run.status, run.detail)


def test_escalation_and_reminder_fire_once_per_slot(app, due_apps, smtp_server):
    late, soon = due_apps
    day, slot = date(2026, 10, 13), datetime(2026, 10, 13, 1, 0)
    first, second = _run(app, day, slot), _run(app, day, slot)
    assert first == ("ok", "escalated 1, reminded 1, mails 3, failed 0") and second is None
    # one escalation to the operator; one reminder to each of the bank's addresses
    assert _recipients(smtp_server) == ["bank@x.cn", "op@x.cn", "tech@boc.example.cn"]
    escalation = next(m for m in smtp_server.messages if m.envelope_rcpt == ["op@x.cn"])
    assert f"#{late}" in escalation.get_body(("plain",)).get_content()
    reminder = next(m for m in smtp_server.messages if m.envelope_rcpt == ["bank@x.cn"])
    assert f"#{soon}" in reminder.get_body(("plain",)).get_content()
    # another slot the same day (a re-run): nothing new is sent
    again = _run(app, day, datetime(2026, 10, 13, 2, 0))
    assert again == ("ok", "escalated 0, reminded 0, mails 0, failed 0")
    assert len(smtp_server.messages) == 3
    # the next working day the late one is still overdue but already escalated for that
    # deadline; the other's decision date (Oct 14) has passed: escalated now
    third = _run(app, date(2026, 10, 15), datetime(2026, 10, 15, 1, 0))
    assert third == ("ok", "escalated 1, reminded 0, mails 1, failed 0")


def test_no_run_on_a_day_off(app, due_apps, smtp_server):
    with app.app_context():
        result = deadlines.run(date(2026, 10, 3))
    assert result.summary() == "not a working day" and smtp_server.messages == []


def test_disbursed_application_is_in_the_quarterly_table(app, users, need_id, ids, as_user, on_day):
    on_day(date(2026, 10, 9))
    app_id = _apply(app, as_user, need_id, ids)
    with app.app_context():
        bank = db.session.get(Product, ids("product", "P-001")).funder
        reserve = RiskPool(name="科技贷风险准备金", funder=bank, leverage_cap=Decimal(10),
                           compensation_pct=Decimal(50),
                           products=[db.session.get(Product, ids("product", "P-001"))])  # fmt: skip
        db.session.add(reserve)
        db.session.add(PoolEnterprise(pool=reserve, enterprise_id=ids("enterprise", "E-001"),
                                      recommended_on=date(2026, 1, 1)))  # fmt: skip
        db.session.commit()
        pool_id = reserve.id
    _move(app, as_user, app_id, "bank@x.cn", to="accepted")
    _move(app, as_user, app_id, "bank@x.cn", to="approved", amount_cny=3_000_000, rate=3.95,
          term_months=12)  # fmt: skip
    on_day(date(2026, 10, 12))
    _move(app, as_user, app_id, "bank@x.cn", to="disbursed", **DISBURSE)
    with app.app_context():
        table = pool.quarter_table(db.session.get(RiskPool, pool_id), "2026Q4")
        amounts = [(r[3], r[4], r[6]) for r in table.rows]
        # the sample's funded N-001 loan (Oct 10) and the application's (Oct 12)
        assert (3_000_000, date(2026, 10, 12), 3.95) in amounts
        assert "按月等额" in "".join(str(c) for r in table.rows for c in r) or any(
            r[8] for r in table.rows if r[3] == 3_000_000
        )


def test_escalation_and_reminder_also_reach_the_notification_centre_once(
    app, due_apps, smtp_server, as_user
):
    from techfin.models import Notification
    from techfin.services import notifications

    late, soon = due_apps

    def notices(email: str, kind: str) -> list[Notification]:
        user = as_user(email)
        return list(
            db.session.scalars(db.select(Notification).filter_by(user_id=user.id, kind=kind))
        )

    with app.app_context():
        badge_before = notifications.unread_count(as_user("op@x.cn"))
    day = date(2026, 10, 13)
    _run(app, day, datetime(2026, 10, 13, 1, 0))
    _run(app, day, datetime(2026, 10, 13, 1, 0))  # the same slot again: skipped
    _run(app, day, datetime(2026, 10, 13, 2, 0))  # another slot the same day: nothing new
    with app.app_context():
        [escalation] = notices("op@x.cn", "application_escalation")
        assert escalation.params["n"] == 1 and f"#{late} " in escalation.params["items"]
        assert escalation.link.startswith("/applications") and "overdue=1" in escalation.link
        assert notifications.unread_count(as_user("op@x.cn")) == badge_before + 1
        [reminder] = notices("bank@x.cn", "application_reminder")
        assert f"#{soon} " in reminder.params["items"] and "2026-10-14" in reminder.params["items"]
        # the enterprise is neither escalated to nor reminded
        assert notices("e1@x.cn", "application_escalation") == []
        assert notices("e1@x.cn", "application_reminder") == []
        # rendered in the reader's language, with the applications named
        from flask_babel import force_locale

        with app.test_request_context(), force_locale("zh_CN"):
            assert "截止" in notifications.title(reminder) or "提醒" in notifications.title(
                reminder
            )
            assert f"#{soon}" in notifications.body(reminder)
    # the next working day the other application's decision date has passed: one new
    # escalation notice (the late one was escalated for its deadline already)
    _run(app, date(2026, 10, 15), datetime(2026, 10, 15, 1, 0))
    with app.app_context():
        escalations = notices("op@x.cn", "application_escalation")
        assert len(escalations) == 2 and f"#{soon} " in escalations[-1].params["items"]
        assert f"#{late} " not in escalations[-1].params["items"]
