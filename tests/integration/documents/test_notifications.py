"""Notifications: in-app rows in the caller's transaction, emails through the task queue to
a real SMTP server (aiosmtpd) in each recipient's language, retries and recorded failures,
the centre page, the unread badge (one COUNT), and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from techfin.extensions import db
from techfin.models import Notification, NotificationEmail, TaskFailure, User

PARAMS = {"enterprise": "中山市明辉照明科技有限公司", "target": "知识产权质押贷", "need": "N-001"}


@pytest.fixture
def mail_to(app, smtp_server):  # noqa: ANN001, ANN201
    """The app mails the test's aiosmtpd server (smtp_server, tests/conftest.py)."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    return smtp_server


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def _notify(ctx, *emails: str, email: bool = True, link: str = "/matches") -> None:  # noqa: ANN001
    from techfin.services import notifications

    with ctx():
        notifications.notify([_user(e) for e in emails], "interest", PARAMS, link, email=email)
        db.session.commit()


def _emails(ctx) -> list[NotificationEmail]:  # noqa: ANN001
    with ctx():
        rows = list(db.session.scalars(db.select(NotificationEmail).order_by(NotificationEmail.id)))
        db.session.expunge_all()
        return rows


# ------------------------------------------------------------------ writing and mailing


def test_notices_belong_to_the_callers_transaction(ctx, users, mail_to):
    from techfin.services import notifications

    with ctx():
        notifications.notify([_user("e1@x.cn")], "interest", PARAMS, "/matches")
        db.session.rollback()  # the change being reported did not happen
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0
        assert db.session.scalar(db.select(db.func.count(NotificationEmail.id))) == 0
    assert mail_to.messages == []
    _notify(ctx, "e1@x.cn")
    with ctx():
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 1
    assert len(mail_to.messages) == 1


def test_each_email_is_in_its_recipients_language(app, ctx, users, mail_to):
    _notify(ctx, "bank@x.cn", "e1@x.cn", link="/dealflow/matches")
    by_rcpt = {m.envelope_rcpt[0]: m for m in mail_to.messages}
    assert set(by_rcpt) == {"bank@x.cn", "e1@x.cn"}
    english, chinese = by_rcpt["bank@x.cn"], by_rcpt["e1@x.cn"]
    assert english["Subject"] == "中山市明辉照明科技有限公司 is interested in 知识产权质押贷"
    assert "表达了意向" in chinese.get_body(("plain",)).get_content()
    text = english.get_body(("plain",)).get_content()
    assert "has expressed interest" in text
    assert app.config["EXTERNAL_URL"].rstrip("/") + "/dealflow/matches" in text
    assert [r.status for r in _emails(ctx)] == ["sent", "sent"]


def test_email_false_and_suspended_users_get_no_mail(ctx, users, mail_to):
    _notify(ctx, "e1@x.cn", email=False)
    with ctx():
        _user("e2@x.cn").active = False
        db.session.commit()
    _notify(ctx, "e2@x.cn")
    assert mail_to.messages == []
    with ctx():
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 2


def test_a_failed_send_is_recorded_and_retried_by_the_queue(ctx, users, mail_to):
    from techfin.tasks import huey

    mail_to.script = ["451 4.3.0 mailbox busy, try later"]
    _notify(ctx, "e1@x.cn")
    (row,) = _emails(ctx)
    assert (row.status, row.attempts) == ("pending", 1) and "451" in row.last_error
    assert mail_to.messages == []
    # Huey scheduled the retry (EMAIL_RETRY_DELAY later): run it as the consumer would.
    due = huey.read_schedule(huey._get_timestamp() + timedelta(hours=1))
    assert [t.name for t in due] == ["send_notification_emails"]
    for task in due:
        huey.execute(task, task.eta)  # at its time (EMAIL_RETRY_DELAY after the failure)
    (row,) = _emails(ctx)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert [m.envelope_rcpt for m in mail_to.messages] == [["e1@x.cn"]]


def test_out_of_retries_the_email_is_failed_and_listed_for_the_operators(ctx, users, mail_to):
    from techfin.services import jobs as job_service
    from techfin.services import notifications
    from techfin.tasks import huey
    from techfin.tasks import jobs as task_jobs

    mail_to.script = ["451 try later"]
    _notify(ctx, "e1@x.cn")
    (row,) = _emails(ctx)
    with ctx():
        db.session.get(NotificationEmail, row.id).attempts = notifications.MAX_ATTEMPTS - 1
        db.session.commit()
    huey.read_schedule(huey._get_timestamp() + timedelta(hours=1))  # drop the pending retry
    mail_to.script = ["554 5.7.1 rejected"]
    huey.enqueue(task_jobs.send_notification_emails.s([row.id], retries=0))  # the last try
    (row,) = _emails(ctx)
    assert row.status == "failed" and "554" in row.last_error
    with ctx():
        failure = db.session.scalars(db.select(TaskFailure)).one()
        assert failure.task == "send_notification_emails" and failure.args == [[row.id]]
        # The system page's retry button sends it once the server takes it again.
        job_service.retry_failure(_user("op@x.cn"), failure.id)
    (row,) = _emails(ctx)
    assert row.status == "sent"
    assert [m.envelope_rcpt for m in mail_to.messages] == [["e1@x.cn"]]


def test_the_sweep_sends_emails_whose_wake_up_was_lost(app, ctx, users, mail_to):
    from techfin import tasks
    from techfin.tasks import jobs as task_jobs

    tasks.configure("redis://127.0.0.1:1/0")  # the queue is down while the notice commits
    try:
        _notify(ctx, "e1@x.cn")
    finally:
        tasks.configure("immediate")
    assert mail_to.messages == [] and _emails(ctx)[0].status == "pending"
    with ctx():
        row = db.session.scalars(db.select(NotificationEmail)).one()
        row.created_at -= timedelta(minutes=5)
        db.session.commit()
    task_jobs.sweep.call_local()
    assert [m.envelope_rcpt for m in mail_to.messages] == [["e1@x.cn"]]
    assert _emails(ctx)[0].status == "sent"


def test_a_retry_lost_by_the_broker_is_found_by_the_sweep(ctx, users, mail_to):
    from techfin.services import notifications

    mail_to.script = ["451 try later"]
    _notify(ctx, "e1@x.cn")  # one failed attempt; Huey's scheduled retry is then "lost"
    with ctx():
        row = db.session.scalars(db.select(NotificationEmail)).one()
        assert notifications.lost_email_ids() == []  # Huey's retries are still due
        row.created_at -= timedelta(hours=1)
        db.session.commit()
        assert notifications.lost_email_ids() == [row.id]


def test_express_interest_notifies_the_institution_in_app_and_by_queued_mail(
    client, ctx, users, mail_to
):
    from techfin.models import Product
    from techfin.services import accounts, catalog

    with ctx():
        need = catalog.create_need(_user("e1@x.cn"), accounts.find_organization("E-001"),
                                   {"kind": "ip_pledge", "amount_cny": 3_000_000,
                                    "status": "published"})  # fmt: skip
        need_id = need.id
        product_id = db.session.scalar(db.select(Product.id).where(Product.ref == "P-001"))
    with client.session_transaction() as session, ctx():
        session["_user_id"] = _user("e1@x.cn").get_id()
    resp = client.post(f"/needs/{need_id}/matches/interest", data={"product_id": product_id})
    assert resp.status_code == 302
    with ctx():
        notes = db.session.scalars(db.select(Notification)).all()
        assert [(n.user_id, n.kind) for n in notes] == [(users["bank@x.cn"], "interest")]
        assert notes[0].link.startswith("/dealflow/matches")
    assert sorted(a for m in mail_to.messages for a in m.envelope_rcpt) == [
        "bank@x.cn", "tech@boc.example.cn"]  # fmt: skip


# ------------------------------------------------------------------ API


@pytest.fixture
def api(client, bearer):  # noqa: ANN001, ANN201
    def call(method: str, url: str, who: str):  # noqa: ANN202
        return client.open(url, method=method, headers=bearer(who))

    return call


def test_notifications_api(ctx, users, api):
    for _ in range(3):
        _notify(ctx, "bank@x.cn", email=False)
    _notify(ctx, "e1@x.cn", email=False)
    with ctx():
        ids = list(db.session.scalars(
            db.select(Notification.id).where(Notification.user_id == users["bank@x.cn"])
            .order_by(Notification.id)))  # fmt: skip
        other = db.session.scalar(
            db.select(Notification.id).where(Notification.user_id == users["e1@x.cn"])
        )
    body = api("GET", "/api/v1/notifications?per_page=2", "bank@x.cn").get_json()
    assert (body["total"], body["unread"], body["per_page"]) == (3, 3, 2)
    assert [n["id"] for n in body["items"]] == [ids[2], ids[1]]  # newest first
    assert body["items"][0]["title"] == "中山市明辉照明科技有限公司 is interested in 知识产权质押贷"
    second = api("GET", "/api/v1/notifications?per_page=2&page=2", "bank@x.cn").get_json()
    assert [n["id"] for n in second["items"]] == [ids[0]]

    read = api("POST", f"/api/v1/notifications/{ids[0]}/read", "bank@x.cn")
    assert read.status_code == 200 and read.get_json()["read_at"]
    unread = api("GET", "/api/v1/notifications?unread=1", "bank@x.cn").get_json()
    assert [n["id"] for n in unread["items"]] == [ids[2], ids[1]] and unread["unread"] == 2
    # someone else's notice is as unknown as a missing one
    assert api("POST", f"/api/v1/notifications/{other}/read", "bank@x.cn").status_code == 404
    assert api("POST", "/api/v1/notifications/999999/read", "bank@x.cn").status_code == 404
    with ctx():
        assert db.session.get(Notification, other).read_at is None
    chinese = api("GET", "/api/v1/notifications", "e1@x.cn").get_json()["items"][0]
    assert "知识产权质押贷" in chinese["title"] and "interested" not in chinese["title"]
    assert api("GET", "/api/v1/notifications?unread=maybe", "bank@x.cn").status_code == 422


# ------------------------------------------------------------------ pages and the badge


def _badge(html: str) -> str | None:
    if 'id="unread-badge"' not in html:
        return None
    start = html.index('id="unread-badge"') + len('id="unread-badge">')
    return html[start : html.index("<", start)]


def test_centre_page_badge_and_mark_read(client, ctx, users, login):
    for _ in range(2):
        _notify(ctx, "e1@x.cn", email=False)
    login("e1@x.cn")
    html = client.get("/enterprise/profile?lang=zh_CN").get_data(as_text=True)
    assert _badge(html) == "2"
    centre = client.get("/notifications?lang=zh_CN").get_data(as_text=True)
    assert centre.count('data-unread="1"') == 2 and "知识产权质押贷" in centre
    with ctx():
        first = db.session.scalar(db.select(db.func.min(Notification.id)))
    opened = client.post(f"/notifications/{first}/read", data={"open": "1"})
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/matches")
    assert _badge(client.get("/notifications").get_data(as_text=True)) == "1"
    assert client.post("/notifications/read-all").status_code == 302
    html = client.get("/notifications").get_data(as_text=True)
    assert _badge(html) is None and 'data-unread="1"' not in html
    login("e2@x.cn")
    assert client.post(f"/notifications/{first}/read").status_code == 404


def test_the_badge_is_one_count_query_however_many_notices(app, client, ctx, users, login):
    from techfin.services import notifications

    with ctx():
        owner = _user("e1@x.cn")
        for _ in range(60):
            notifications.notify([owner], "interest", PARAMS, "/matches", email=False)
        db.session.commit()
    login("e1@x.cn")
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        html = client.get("/enterprise/profile").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert _badge(html) == "60"
    touching = [s for s in statements if "notifications" in s]
    assert len(touching) == 1 and "count(" in touching[0].lower()


def test_an_unknown_link_never_redirects_off_site(client, ctx, users, login):
    _notify(ctx, "e1@x.cn", email=False, link="https://evil.example/phish")
    login("e1@x.cn")
    with ctx():
        note = db.session.scalar(db.select(Notification.id))
    resp = client.post(f"/notifications/{note}/read", data={"open": "1"})
    assert resp.status_code == 302 and "evil.example" not in resp.headers["Location"]
