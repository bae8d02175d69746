"""Scheduled jobs run once per slot across any number of schedulers, and what the
operators' system page shows about the queue.

A scheduler (one per `flask worker`) fires each job at its crontab minute; `run_once`
inserts a JobRun for (job, minute) and only the insert that succeeds runs the job. The
unique constraint is the whole lock: no lock service, and a crashed run stays visible as
"running" with its start time.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from techfin.errors import Forbidden, NotFound
from techfin.extensions import db
from techfin.localtime import to_beijing
from techfin.models import DirtyMark, JobRun, TaskFailure, User
from techfin.models.base import utcnow
from techfin.services import audit

log = logging.getLogger(__name__)


def run_once(job: str, fn: Callable[[], str | None], slot: datetime | None = None) -> JobRun | None:
    """Run `fn` for this job's slot unless another scheduler already took the slot.

    Returns the finished JobRun, or None when the slot was taken elsewhere.
    """
    slot = (slot or utcnow()).replace(second=0, microsecond=0)
    run = JobRun(job=job, slot=slot, status="running", host=socket.gethostname()[:80])
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    run_id = run.id
    try:
        detail = fn() or ""
        status = "ok"
    except Exception as exc:  # noqa: BLE001 - recorded on the run, shown on the system page
        db.session.rollback()
        log.exception("scheduled job %s failed", job)
        detail, status = repr(exc), "failed"
    run = db.session.get(JobRun, run_id)
    run.status, run.detail, run.finished_at = status, str(detail)[:2000], utcnow()
    db.session.commit()
    return run


def record_failure(task: str, args: list[Any], error: str) -> None:
    db.session.add(TaskFailure(task=task, args=args, error=error[:4000]))
    db.session.commit()


def next_run(line: str, after: datetime, horizon_days: int = 8) -> datetime | None:
    """The next UTC minute at which this Beijing-time crontab line fires (Huey's own
    matcher, stepped minute by minute)."""
    from huey import crontab

    try:
        minute, hour, day, month, weekday = line.split()
        cron = crontab(minute, hour, day, month, weekday)
    except ValueError:
        return None
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(horizon_days * 24 * 60):
        if cron(to_beijing(t)):
            return t
        t += timedelta(minutes=1)
    return None


def check_database() -> None:
    """One round trip to the database (the health check): raises when it cannot be reached."""
    db.session.execute(select(1))


def system_status(schedule: dict[str, str]) -> dict[str, Any]:
    """Queue depth, the dirty backlog, each job's last and next run, failed tasks."""
    from techfin.tasks import queue_depth

    now = utcnow()
    last = {}
    for job in schedule:
        last[job] = db.session.execute(
            select(JobRun).where(JobRun.job == job).order_by(JobRun.slot.desc()).limit(1)
        ).scalar_one_or_none()
    jobs = [
        {"job": job, "schedule": line, "last": last[job], "next": next_run(line, now)}
        for job, line in schedule.items()
    ]
    failures = list(
        db.session.execute(
            select(TaskFailure).where(TaskFailure.retried_at.is_(None))
            .order_by(TaskFailure.failed_at.desc()).limit(50)
        ).scalars()
    )  # fmt: skip
    return {
        "queue": queue_depth(),
        "dirty": int(db.session.scalar(select(func.count(DirtyMark.id))) or 0),
        "jobs": jobs,
        "failures": failures,
    }


def retry_failure(user: User, failure_id: int) -> TaskFailure:
    """Put a failed task back on the queue (operators); the row records the retry."""
    from techfin.tasks import jobs as task_jobs

    if not user.is_operator:
        raise Forbidden("Operators only / 仅运营人员可操作")
    failure = db.session.get(TaskFailure, failure_id)
    if failure is None or failure.retried_at is not None:
        raise NotFound("no such failed task")
    fn = task_jobs.RETRYABLE.get(failure.task) or task_jobs.SCHEDULED.get(
        failure.task.removeprefix("scheduled_")
    )
    if fn is None:
        raise NotFound("this task cannot be retried")
    failure.retried_at = utcnow()
    audit.record("retry_task", None, object_type="task", detail={"task": failure.task})
    db.session.commit()
    from techfin.tasks import wake

    wake(fn, *failure.args)
    return failure
