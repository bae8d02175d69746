"""What the task queue works from: the database records what is stale, which scheduled
job ran for which slot, and which tasks failed. The queue (Redis or the embedded SQLite
store) only carries wake-ups, so losing it delays derived data but never loses it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from techfin.extensions import db
from techfin.models.base import utcnow

# What a dirty mark names: one need, every need of an enterprise, every need a product may
# rank, or every need at once (an institution changed, or the model did).
DIRTY_KINDS = ("need", "enterprise", "product", "everything")


class DirtyMark(db.Model):
    """Written in the same transaction as the change; removed by the task that recomputed
    the stored matches it names. A mark outliving a lost wake-up is found by the sweep."""

    __tablename__ = "dirty_marks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class JobRun(db.Model):
    """One run of a scheduled job for one slot. The unique (job, slot) pair is what makes a
    job run once however many schedulers fire it: the second insert fails and skips."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "slot"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    slot: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    host: Mapped[str] = mapped_column(String(80), nullable=False, default="")


class TaskFailure(db.Model):
    """A task that failed after its retries, kept for the operators' system page."""

    __tablename__ = "task_failures"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(80), nullable=False)
    args: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    failed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    retried_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)


class DashboardReport(db.Model):
    """The operator dashboard of one period as the task worker last computed it (every
    figure of it reads the whole catalogue, so no request computes it). `payload` holds
    the rendered dashboard per language; `computed_at` when the computation behind it
    started reading; `requested_at` the latest page that asked for it (asked after
    `computed_at`: newer figures are owed); `woken_at` the latest wake-up sent to the
    worker, so one is queued however many operators look at the same period."""

    __tablename__ = "dashboard_reports"
    __table_args__ = (
        UniqueConstraint("start", "end", "days"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    start: Mapped[date] = mapped_column(Date, nullable=False)
    end: Mapped[date] = mapped_column(Date, nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    payload: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    computed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    computed_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # its "today"
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    woken_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
