"""A notice's email delivered by a real `flask worker` process through the real queue
(Redis and the embedded SQLite store) to a real SMTP server: the request only commits the
rows and enqueues a wake-up; the worker renders and sends."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.integration.matching.test_task_worker import QUEUES, Worker


@pytest.fixture
def worker(app):  # noqa: ANN001, ANN201
    started: list[Worker] = []

    def _start(**env: str) -> Worker:
        w = Worker(app, **env).start()
        started.append(w)
        return w

    yield _start
    for w in started:
        w.kill()
        w.log.unlink(missing_ok=True)
    from techfin.tasks import huey

    if not huey.immediate:
        with contextlib.suppress(Exception):
            huey.flush()


@pytest.mark.parametrize("app", QUEUES, indirect=True)
def test_a_notice_email_is_sent_by_the_worker(app, users, worker, smtp_server):
    from techfin.extensions import db
    from techfin.models import NotificationEmail, User
    from techfin.services import notifications

    w = worker(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port))
    with app.app_context():
        bank = db.session.execute(db.select(User).filter_by(email="bank@x.cn")).scalar_one()
        notifications.notify([bank], "interest", {"enterprise": "明辉照明", "target": "知识产权质押贷",
                                                  "need": "N-001"}, "/dealflow/matches")  # fmt: skip
        db.session.commit()  # the wake-up goes on the queue now; nothing is sent in-process
        db.session.remove()
    deadline = time.monotonic() + 45
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    log = w.stop()
    assert [m.envelope_rcpt for m in smtp_server.messages] == [["bank@x.cn"]], log[-3000:]
    assert smtp_server.messages[0]["Subject"] == "明辉照明 is interested in 知识产权质押贷"
    with app.app_context():
        row = db.session.scalars(db.select(NotificationEmail)).one()
        assert (row.status, row.attempts) == ("sent", 1)
