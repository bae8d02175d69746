"""Upload jobs: an uploaded file is stored, a job row committed, then a task queued; the
worker claims the row, reads the file through the bounded parse (services/uploads.py) and
writes the result on the row. The pages and the API only ever store and read rows, so a
request costs the upload's bytes and a few milliseconds, whatever the file holds.

The database is the truth: a job whose wake-up was lost stays 'queued' and the minute
sweep queues it again (`requeue_stale`); a worker that died mid-job leaves it 'running'
until the sweep sees it past the parse limit and queues it again, at most MAX_ATTEMPTS
times. Claiming is one conditional UPDATE, so two workers never run the same job.

Interchange import (operators) lives here too; the reconciliation's own steps are in
services/pool.py (`reconcile_upload`, `run_reconciliation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import or_, select, update

from techfin.errors import DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import UploadJob, User
from techfin.models.base import utcnow
from techfin.services import audit, uploads
from techfin.services.documents import clean_filename

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
IMPORT_EXTENSIONS = (".jsonl", ".json", ".ndjson", ".csv", ".xlsx")
NOT_FOUND = "No such upload / 上传记录不存在"


def bilingual(message: Any) -> str:
    """A message as "English / 中文" (lazy gettext strings rendered in both catalogues;
    a text that already is bilingual, or has no translation, stays as it is)."""
    if isinstance(message, str):
        return message
    with force_locale("en"):
        en = str(message)
    with force_locale("zh_CN"):
        zh = str(message)
    return en if en == zh else f"{en} / {zh}"


def _extension(name: str) -> str:
    _stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot else ""


# ------------------------------------------------------------------ creating


def create(
    user: User,
    kind: str,
    stream: BinaryIO,
    filename: str | None,
    extensions: tuple[str, ...],
    params: dict[str, Any],
    pool_id: int | None = None,
) -> UploadJob:
    """Store the file, check what can be checked without parsing (size, type by name and
    content, an XLSX's zip directory), commit the job row, queue the task. Refusals raise
    UploadRefused with a field message for 'file'; nothing is kept of a refused file."""
    name = clean_filename(filename)
    ext = _extension(name)
    if ext not in extensions:
        wanted = ", ".join(extensions)
        text = f"Upload a {wanted} file / 请上传 {wanted} 文件"
        raise uploads.refused(text)
    stored = uploads.store(stream)
    try:
        zipped = uploads.is_zip(stored.path)
        if ext == ".xlsx" or zipped:
            if ext != ".xlsx":
                raise uploads.refused(uploads.NOT_WORKBOOK)
            if not zipped:
                raise uploads.refused(uploads.UNREADABLE)
            uploads.check_xlsx(stored.path)
        job = UploadJob(kind=kind, status="queued", owner_id=user.id, pool_id=pool_id,
                        params=params, stored_name=stored.stored_name, filename=name,
                        size=stored.size, error="", attempts=0)  # fmt: skip
        db.session.add(job)
        db.session.flush()
        audit.record(f"upload_{kind}", job, object_type="upload_job", user=user,
                     detail={"filename": name, "size": stored.size, "sha256": stored.sha256})  # fmt: skip
        db.session.commit()
    except BaseException:
        db.session.rollback()
        stored.path.unlink(missing_ok=True)
        raise
    wake(job.id)
    return job


def wake(job_id: int) -> None:
    from techfin.tasks import jobs as task_jobs
    from techfin.tasks import wake as wake_task

    wake_task(task_jobs.process_upload, job_id)


# ------------------------------------------------------------------ reading


def can_see(user: User, job: UploadJob) -> bool:
    """The uploader, and operators (the partner bank sees its own reconciliations only)."""
    return user.is_operator or job.owner_id == user.id


def get_visible(user: User, job_id: int, kind: str | None = None) -> UploadJob:
    from techfin.services.lookup import find

    job = find(UploadJob, job_id)  # bounded: an id past the column's range is simply absent
    if job is None or (kind and job.kind != kind) or not can_see(user, job):
        raise NotFound(NOT_FOUND)
    return job


def recent(user: User, kind: str, limit: int = 20) -> list[UploadJob]:
    """The latest jobs of this kind the user may see (operators: everyone's)."""
    stmt = select(UploadJob).where(UploadJob.kind == kind)
    if not user.is_operator:
        stmt = stmt.where(UploadJob.owner_id == user.id)
    return list(db.session.scalars(stmt.order_by(UploadJob.id.desc()).limit(limit)))


def file_of(job: UploadJob) -> Path:
    return uploads.path_of(job.stored_name)


# ------------------------------------------------------------------ running


def claim(job_id: int) -> UploadJob | None:
    """Mark the job running if it is queued (one UPDATE: exactly one worker wins)."""
    now = utcnow()
    won = db.session.execute(
        update(UploadJob)
        .where(UploadJob.id == job_id, UploadJob.status == "queued")
        .values(status="running", started_at=now, attempts=UploadJob.attempts + 1)
    ).rowcount
    db.session.commit()
    return db.session.get(UploadJob, job_id) if won else None


def _discard_file(job: UploadJob) -> None:
    """A finished job keeps its result, not the file: the bank's table and imported data
    are not left lying on disk once read."""
    try:
        file_of(job).unlink(missing_ok=True)
    except OSError:  # the result is what matters; a stray file is only disk
        log.warning("could not remove the upload of job %s", job.id, exc_info=True)


def finish(
    job: UploadJob, result: dict[str, Any], *, failed: bool = False, error: str = ""
) -> None:
    job.status = "failed" if failed else "done"
    job.result, job.error, job.finished_at = result, error, utcnow()
    db.session.commit()
    _discard_file(job)


def fail(job_id: int, error: str) -> None:
    db.session.rollback()
    job = db.session.get(UploadJob, job_id)
    if job is None:
        return
    job.status, job.error, job.finished_at = "failed", error[:4000], utcnow()
    db.session.commit()
    _discard_file(job)


RUNNERS: dict[str, Callable[[UploadJob], None]] = {}


def runner(kind: str) -> Callable[[Callable[[UploadJob], None]], Callable[[UploadJob], None]]:
    def register(fn: Callable[[UploadJob], None]) -> Callable[[UploadJob], None]:
        RUNNERS[kind] = fn
        return fn

    return register


def process(job_id: int) -> str:
    """The task's body: claim, run the kind's runner, record what happened."""
    from techfin.services import pool  # noqa: F401 - registers the reconciliation runner

    job = claim(job_id)
    if job is None:
        return "not queued"
    run = RUNNERS.get(job.kind)
    if run is None:
        fail(job_id, f"unknown upload kind {job.kind!r}")
        return "failed"
    try:
        run(job)
    except DomainError as err:
        messages = [m for msgs in err.fields.values() for m in msgs] or [err.message]
        fail(job_id, "\n".join(dict.fromkeys(bilingual(m) for m in messages)))
    except Exception:
        log.exception("upload job %s failed", job_id)
        fail(job_id, "The file could not be processed; the operators have been told / "
                     "文件处理失败，已通知运营人员")  # fmt: skip
        raise
    job = db.session.get(UploadJob, job_id)
    return job.status if job else "gone"


def requeue_stale() -> list[int]:
    """Jobs whose wake-up was lost (queued for a while) or whose worker died (running past
    the parse limit and some): queued again, at most MAX_ATTEMPTS runs each."""
    cfg = current_app.config
    now = utcnow()
    queued_before = now - timedelta(seconds=int(cfg.get("UPLOAD_JOB_STALE_SECONDS", 120)))
    running_before = now - timedelta(
        seconds=4 * uploads.limits()["UPLOAD_PARSE_SECONDS"]
        + int(cfg.get("UPLOAD_JOB_STALE_SECONDS", 120))
    )
    stale = list(
        db.session.scalars(
            select(UploadJob)
            .where(
                or_(
                    (UploadJob.status == "queued") & (UploadJob.created_at < queued_before),
                    (UploadJob.status == "running") & (UploadJob.started_at < running_before),
                )
            )
            .limit(100)
        )
    )
    ids: list[int] = []
    for job in stale:
        if job.attempts >= MAX_ATTEMPTS:
            job.status, job.finished_at = "failed", now
            job.error = ("The file could not be processed after several attempts / "
                         "多次尝试后仍无法处理该文件")  # fmt: skip
            _discard_file(job)
            continue
        # A fresh created_at keeps a requeued job from being requeued again every minute.
        job.status, job.created_at = "queued", now
        ids.append(job.id)
    db.session.commit()
    for job_id in ids:
        wake(job_id)
    return ids


# ------------------------------------------------------------------ interchange import


def require_operator(user: User) -> None:
    """Imports are the operators': checked before an upload is read."""
    if not user.is_operator:
        raise Forbidden("Operators only / 仅运营人员可导入数据")


def import_jobs(user: User) -> list[UploadJob]:
    """The latest imports (operators)."""
    require_operator(user)
    return recent(user, "import")


def import_job(user: User, job_id: int) -> UploadJob:
    require_operator(user)
    return get_visible(user, job_id, "import")


def submit_import(
    user: User, stream: BinaryIO, filename: str | None, skip_invalid: bool = False
) -> UploadJob:
    """An operator uploads an interchange file (.jsonl, .csv, .xlsx) to import, as
    `flask import-data` does; it is validated and imported by a queued task."""
    require_operator(user)
    return create(user, "import", stream, filename, IMPORT_EXTENSIONS,
                  {"skip_invalid": bool(skip_invalid)})  # fmt: skip


def import_records_of(path: Path, filename: str) -> list[tuple[str, dict[str, Any]]]:
    """(location, record) pairs of the stored file: XLSX through the bounded child, text
    after its line count is checked (linear in the capped size)."""
    from techfin.services import interchange

    lim = uploads.limits()
    ext = _extension(filename)
    if ext == ".xlsx":
        return list(interchange.records_from_sheets(uploads.parse_xlsx(path)))
    uploads.check_text_shape(path, lim["UPLOAD_MAX_ROWS"])
    try:
        return interchange.read_file(path, suffix=ext)
    except interchange.InterchangeFormatError:
        raise uploads.refused("The file is not UTF-8 text / 文件不是 UTF-8 文本") from None


@runner("import")
def run_import(job: UploadJob) -> None:
    """Validate and import the file with the CLI's own function (all-or-nothing unless
    skip_invalid); the report (counts, errors by line and field) is kept on the job."""
    from techfin.services import interchange

    records = import_records_of(file_of(job), job.filename)
    skip = bool((job.params or {}).get("skip_invalid"))
    report = interchange.import_records(records, skip_invalid=skip,
                                        actor=f"import:{job.filename}")  # fmt: skip
    result = {
        "committed": report.committed,
        "summary": report.summary(),
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "records": len(records),
        "error_count": len(report.errors),
        "errors": [{"location": e.location, "field": e.field, "reason": e.reason}
                   for e in report.errors[:1000]],
    }  # fmt: skip
    job = db.session.get(UploadJob, job.id)  # import_records committed or rolled back
    if report.committed:
        finish(job, result)
    else:
        text = (f"{len(report.errors)} invalid record(s): nothing was imported / "
                f"{len(report.errors)} 条记录有误，未导入任何数据")  # fmt: skip
        finish(job, result, failed=True, error=text)
