"""The tasks and the schedule.

Wake-ups: `refresh_matches` works through the dirty marks (stored matches). Scheduled jobs
(crontab lines in Beijing time, config SCHEDULE): digests daily and weekly, nightly
retraining, the search index check with automatic sync, and the minute sweep that finds
marks whose wake-up was lost. Every scheduler fires every job; a JobRun row per (job, slot)
lets exactly one of them run it (techfin.services.jobs).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from huey import crontab
from huey.signals import SIGNAL_ERROR

from techfin.tasks import app, huey, task, wake

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ wake-ups


@task(retries=2, retry_delay=30)
def send_password_reset(email: str, link_template: str, locale: str) -> bool:
    """Mail a password-reset link, off the request path (see accounts.request_password_reset)."""
    from techfin.services import accounts

    return accounts.send_password_reset(email, link_template, locale)


@task(retries=3, retry_delay=5)
def refresh_matches() -> dict[str, int]:
    """Recompute what the dirty marks name; enqueue itself again while marks remain, and
    one extra copy when there is a long backlog, so every worker shares the chunks."""
    from techfin.services import matching

    progress = matching.process_dirty(float(app().config.get("MATCHES_TASK_SECONDS", 20)))
    # Marks left but none claimable means another worker holds them: it wakes this task
    # again when it is done, so re-enqueueing here would only spin (the sweep is the net).
    if progress.remaining and progress.marks:
        wake(refresh_matches)
        if progress.remaining > 10 * int(app().config.get("MATCHES_CHUNK", 200)):
            wake(refresh_matches)
    return {"marks": progress.marks, "remaining": progress.remaining}


from techfin.services import notifications as _notifications  # noqa: E402 - the retry policy


@task(retries=_notifications.EMAIL_RETRIES, retry_delay=_notifications.EMAIL_RETRY_DELAY)
def send_notification_emails(ids: list[int]) -> dict[str, int]:
    """Send the queued emails of notices; raises while any failed, so Huey retries them
    (each attempt is recorded on its row; rows already sent are skipped)."""
    return _notifications.send_emails(ids)


@task(retries=1, retry_delay=30)
def compute_dashboard(start: str, end: str, days: int) -> str:
    """The operator dashboard of one period, asked for by a page (dashboard_reports)."""
    from datetime import date

    from techfin.services import dashboard_reports
    from techfin.web.labels import label

    return dashboard_reports.compute_and_store(
        date.fromisoformat(start), date.fromisoformat(end), int(days), label
    )


@task(retries=0)
def process_upload(job_id: int) -> str:
    """Read and act on an uploaded file (reconciliation, import): the parse runs in a
    bounded child process (services/uploads.py), the outcome is written on the job row."""
    from techfin.services import upload_jobs

    return upload_jobs.process(job_id)


# ------------------------------------------------------------------ the schedule


def beijing_cron(job: str) -> Any:
    """A validate function for huey.periodic_task that reads the job's crontab line from
    the app config each time (Beijing time; Huey hands it UTC timestamps)."""
    parsed: dict[str, Any] = {}

    def validate(timestamp: datetime) -> bool:
        from techfin.localtime import to_beijing

        line = app().config["SCHEDULE"].get(job, "")
        if not line:
            return False
        if parsed.get("line") != line:
            minute, hour, day, month, weekday = line.split()
            parsed.update(line=line, cron=crontab(minute, hour, day, month, weekday))
        return bool(parsed["cron"](to_beijing(timestamp)))

    return validate


def _scheduled(job: str) -> Any:
    def decorate(fn: Any) -> Any:
        def run() -> None:
            from techfin.extensions import db
            from techfin.services import jobs

            with app().app_context():
                try:
                    jobs.run_once(job, fn)
                finally:
                    db.session.remove()

        run.__name__ = fn.__name__
        return huey.periodic_task(beijing_cron(job), name=f"scheduled_{job}")(run)

    return decorate


@_scheduled("digests_daily")
def digests_daily() -> str:
    from techfin.services import digests

    return digests.send_due("daily").summary()


@_scheduled("digests_weekly")
def digests_weekly() -> str:
    from techfin.services import digests

    return digests.send_due("weekly").summary()


@_scheduled("retrain")
def retrain() -> str:
    """Nightly: kept only when it beats the prior; a kept model marks every ranking stale."""
    from techfin.services import matching

    result = matching.train_model()
    if result.path is None:
        return f"not kept: {result.reason or 'no model'}"
    return f"kept {result.model.version}; full recompute queued"  # type: ignore[union-attr]


@_scheduled("search_check")
def search_check() -> str:
    from techfin.services import search_sync

    return search_sync.scheduled_check()


@_scheduled("sweep")
def sweep() -> str:
    """Every minute: marks left by a lost wake-up get one now."""
    from techfin.services import matching, notifications

    waiting = matching.pending_marks()
    if waiting:
        wake(refresh_matches)
    lost = notifications.lost_email_ids()
    if lost:
        wake(send_notification_emails, lost)
    from techfin.services import upload_jobs

    uploads = upload_jobs.requeue_stale()
    return (f"{waiting} mark(s) waiting; {len(lost)} email(s) re-queued; "
            f"{len(uploads)} upload(s) re-queued")  # fmt: skip


@_scheduled("application_deadlines")
def application_deadlines() -> str:
    """Daily: overdue applications escalated to operators, staff reminded a working day
    ahead (nothing on days off)."""
    from techfin.services.applications import deadlines

    return deadlines.run().summary()


@_scheduled("dashboard")
def dashboard() -> str:
    """Every few minutes: the default period's dashboard ready before the operators look."""
    from techfin.services import dashboard_reports
    from techfin.web.labels import label

    return dashboard_reports.refresh_default(label)


SCHEDULED = {
    "application_deadlines": application_deadlines,
    "dashboard": dashboard,
    "digests_daily": digests_daily,
    "digests_weekly": digests_weekly,
    "retrain": retrain,
    "search_check": search_check,
    "sweep": sweep,
}
RETRYABLE = {
    "compute_dashboard": compute_dashboard,
    "refresh_matches": refresh_matches,
    "send_notification_emails": send_notification_emails,
}


# ------------------------------------------------------------------ failures


@huey.signal(SIGNAL_ERROR)
def _record_failure(signal: str, task_obj: Any, exc: BaseException | None = None) -> None:
    """A task out of retries is kept for the system page (with a retry button)."""
    if getattr(task_obj, "retries", 0):
        return  # Huey will try again
    try:
        from techfin.services import jobs

        with app().app_context():
            jobs.record_failure(task_obj.name, list(task_obj.args or ()), repr(exc))
    except Exception:  # noqa: BLE001 - the log still has it
        log.exception("could not record the failure of task %s", task_obj.name)
