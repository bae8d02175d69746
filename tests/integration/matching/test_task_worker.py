"""Stored matches kept fresh by a real `flask worker` process, against the real Redis and
the embedded SQLite queue: writes converge, a killed worker or a lost queue loses nothing,
a write with the queue down still succeeds, a change touching every need converges, and
a scheduled job runs once however many schedulers fire it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NAME = f"techfin-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
REDIS = "redis://127.0.0.1:6379/0"
SQLITE_QUEUE = f"sqlite:///{tempfile.gettempdir()}/{NAME}-tasks.db"
# The embedded queue (Huey's SQLite storage) is what runs beside the SQLite database (`make
# run`); production on PostgreSQL runs Redis. The PostgreSQL pass tests that pair and leaves
# the SQLite queue to the SQLite pass, which runs both queues (make test stays under 10 min).
QUEUES = [
    pytest.param({"TASK_QUEUE_URL": REDIS, "TASK_QUEUE_NAME": NAME}, id="redis"),
    pytest.param(
        {"TASK_QUEUE_URL": SQLITE_QUEUE, "TASK_QUEUE_NAME": NAME},
        id="sqlite",
        marks=pytest.mark.one_pass("sqlite"),
    ),
]


class Worker:
    """A `flask worker` subprocess sharing the test app's database, queue and folders."""

    def __init__(self, app, **env: str) -> None:  # noqa: ANN001
        cfg = app.config
        self.env = {
            **os.environ,
            "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_DIR": cfg["INSTANCE_DIR"],
            "INDEX_DIR": cfg["INDEX_DIR"],
            "MODEL_DIR": cfg["MODEL_DIR"],
            "SECRET_KEY": "test-secret",
            "TASK_QUEUE_URL": cfg["TASK_QUEUE_URL"],
            "TASK_QUEUE_NAME": cfg["TASK_QUEUE_NAME"],
            "MATCHES_CHUNK": "20",
            "OPENBLAS_NUM_THREADS": "1",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        # A file, not a pipe: nobody reads a pipe until stop(), and a worker whose log
        # filled the pipe's 64 KiB would block on its next log line.
        self.log = Path(tempfile.mkstemp(prefix="techfin-worker-", suffix=".log")[1])

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "2"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> str:
        """SIGTERM (graceful: the running task finishes), then the output."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.log.read_text(errors="replace")


@pytest.fixture
def worker(app):
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
        # A test whose queue is down on purpose has nothing to flush.
        with contextlib.suppress(Exception):
            huey.flush()


def _settled(app, timeout: float = 60.0) -> None:  # noqa: ANN001
    """Wait until no dirty mark is left (the database is the truth, not the queue)."""
    from techfin.extensions import db
    from techfin.services import matching

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            left = matching.pending_marks()
            db.session.remove()
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"{left} dirty mark(s) still waiting after {timeout} s")


def _stored(app) -> dict:  # noqa: ANN001
    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.models import Match

    with app.app_context():
        rows = db.session.execute(
            select(Match.need_id, Match.product_id, Match.funder_id, Match.score, Match.rank,
                   Match.eligible, Match.active, Match.reasons)
        ).all()  # fmt: skip
        db.session.remove()
    return {(r[0], r[1], r[2]): (round(r[3], 9), r[4], r[5], r[6], str(r[7])) for r in rows}


@pytest.mark.parametrize("app", QUEUES, indirect=True)
def test_a_write_converges_through_a_real_worker(app, users, worker, get, ctx):
    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.models import Match
    from techfin.services import catalog

    w = worker()
    _settled(app)  # what the sample import marked
    with ctx():
        need = get("need", "N-001")
        need_id = need.id
        before = db.session.scalar(select(func_max_seen()).where(Match.need_id == need_id))
        catalog.update_need(get("user", "e1@x.cn"), need, {"purpose": "购置研发设备，扩大产能"})
    t0 = time.monotonic()
    _settled(app, timeout=20)
    took = time.monotonic() - t0
    with ctx():
        after = db.session.scalar(select(func_max_seen()).where(Match.need_id == need_id))
    assert after > before
    assert took < 10, took
    out = w.stop()
    assert "techfin worker" in out and "catalogue and model loaded" in out


def func_max_seen():  # noqa: ANN201
    from sqlalchemy import func

    from techfin.models import Match

    return func.max(Match.last_seen_at)


@pytest.mark.parametrize("app", QUEUES, indirect=True)
def test_killed_workers_and_a_lost_queue_lose_nothing(app, demo, worker):
    """kill -9 during a full recompute, twice, and the queue flushed (as a Redis restart
    without persistence would): a fresh worker still brings every stored match to what a
    from-scratch recompute gives."""
    from techfin.extensions import db
    from techfin.services import matching
    from techfin.tasks import huey, jobs, wake

    with app.app_context():
        matching.mark_all_dirty(db.session)
        db.session.commit()
        db.session.info.pop("matching_wake", None)
        wake(jobs.refresh_matches)
        db.session.remove()
    for _ in range(2):
        w = worker()
        time.sleep(4)  # started, importing, then recomputing chunks
        w.kill()
    huey.flush()  # every message gone; the marks are still in the database
    worker()
    _settled(app, timeout=120)
    by_worker = _stored(app)
    with app.app_context():
        matching.refresh_all()
        db.session.remove()
    assert by_worker == _stored(app)
    assert len(by_worker) > 100


@pytest.mark.parametrize("app", QUEUES, indirect=True)
def test_an_institution_change_touching_every_need_converges(app, users, worker, get, ctx):
    from sqlalchemy import func, select

    from techfin.extensions import db
    from techfin.models import DirtyMark, Match, Need
    from techfin.services import catalog

    worker()
    _settled(app)
    t0 = _now()
    with ctx():
        funder = get("funder", "F-001")
        catalog.update_funder(get("user", "bank@x.cn"), funder, {"name": "中山科技支行（新）"})
        kinds = set(db.session.execute(select(DirtyMark.kind)).scalars())
    assert "everything" in kinds or not kinds  # (a fast worker may be done already)
    _settled(app)
    with ctx():
        # Every active stored pair was ranked again after the change...
        stale = db.session.scalar(
            select(func.count(Match.id)).where(Match.active, Match.last_seen_at < t0)
        )
        ranked = db.session.scalar(
            select(func.count(func.distinct(Match.need_id))).where(Match.active)
        )
        opened = db.session.scalar(select(func.count(Need.id)).where(Need.status != "closed"))
    assert stale == 0 and ranked > 0 and opened >= ranked
    # ... and what the worker stored equals a from-scratch recompute.
    by_worker = _stored(app)
    with app.app_context():
        from techfin.services import matching

        matching.refresh_all()
        db.session.remove()
    assert by_worker == _stored(app)


def _now():  # noqa: ANN202
    from techfin.models.base import utcnow

    return utcnow()


@pytest.mark.app_config(TASK_QUEUE_URL="redis://127.0.0.1:1/0", TASK_QUEUE_NAME=NAME)
def test_a_write_with_the_queue_down_succeeds_and_converges_later(
    app, users, login, client, get, ctx, worker
):
    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.models import DirtyMark
    from techfin.services import catalog

    login("e1@x.cn")
    with ctx():  # the wake-up at the end of this context finds no broker: logged, no error
        need = get("need", "N-001")
        need_id = need.id
        catalog.update_need(get("user", "e1@x.cn"), need, {"purpose": "队列不可用时的修改"})
    with ctx():
        marks = db.session.execute(select(DirtyMark.kind, DirtyMark.object_id)).all()
    assert ("need", need_id) in marks
    page = client.get("/matches")
    assert page.status_code == 200
    assert "匹配结果正在更新" in page.get_data(as_text=True)
    # The queue comes back: a worker started now finds the marks at once.
    worker(TASK_QUEUE_URL=REDIS)
    _settled(app, timeout=60)
    assert "匹配结果正在更新" not in client.get("/matches").get_data(as_text=True)


def test_a_scheduled_job_runs_once_with_two_schedulers(app):
    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.models import JobRun
    from techfin.models.base import utcnow
    from techfin.services import jobs

    calls: list[int] = []
    slot = utcnow()
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        with app.app_context():
            barrier.wait()
            jobs.run_once("digests_daily", lambda: calls.append(1) or "sent 0", slot=slot)
            db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert calls == [1]
    with app.app_context():
        runs = db.session.execute(select(JobRun)).scalars().all()
        assert [(r.job, r.status, r.detail) for r in runs] == [("digests_daily", "ok", "sent 0")]


def test_the_schedule_is_read_in_beijing_time(app):
    from datetime import datetime

    from techfin.services import jobs
    from techfin.tasks.jobs import beijing_cron

    with app.app_context():
        app.config["SCHEDULE"]["digests_daily"] = "0 8 * * *"
        fires = beijing_cron("digests_daily")
        assert fires(datetime(2026, 12, 5, 0, 0))  # 08:00 in Beijing is 00:00 UTC
        assert not fires(datetime(2026, 12, 5, 8, 0))
        assert jobs.next_run("0 8 * * *", datetime(2026, 12, 5, 0, 0)) == datetime(2026, 12, 6)


class PrivateRedis:
    """A redis-server of this test's own (no persistence, like the production default), so
    it can be killed and started again without touching anyone else's queue."""

    def __init__(self) -> None:
        import shutil
        import socket

        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed: `apt-get install redis-server`"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.binary = binary
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


def test_a_redis_restart_loses_messages_but_not_the_work(
    app, users, get, ctx, worker, private_redis
):
    """The wake-up sits in Redis, Redis dies and comes back empty: the marks in the database
    still bring the stored matches up to date once a worker runs."""
    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.models import DirtyMark
    from techfin.services import catalog
    from techfin.tasks import configure, huey

    configure(private_redis.url, NAME)  # this process enqueues into the private Redis
    app.config["TASK_QUEUE_URL"] = private_redis.url
    with ctx():
        need = get("need", "N-001")
        catalog.update_need(get("user", "e1@x.cn"), need, {"purpose": "重启前写入的修改"})
    assert huey.pending_count() >= 1  # the wake-up is in Redis, no worker runs
    private_redis.kill()
    private_redis.start()  # back, empty: the message is gone
    assert huey.pending_count() == 0
    with ctx():
        assert db.session.execute(select(DirtyMark.id)).first() is not None
    worker(TASK_QUEUE_URL=private_redis.url)
    _settled(app, timeout=60)
