"""Uploaded files worked off the request path: the bank's reconciliation table, an
interchange import. The row is committed before the task is queued, so the database says
what is to be done; the queue only wakes a worker up (a lost message is found by the sweep)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import utcnow

UPLOAD_KINDS = ("reconcile", "import")
UPLOAD_STATUSES = ("queued", "running", "done", "failed")


class UploadJob(db.Model):
    """One uploaded file and what became of it. `params` holds what the upload asked for
    (the quarter, skip_invalid), `result` what the task found (the discrepancies, the import
    report), `error` the one message when the file as a whole was refused."""

    __tablename__ = "upload_jobs"
    __table_args__ = (
        Index("ix_upload_jobs_status_created", "status", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="queued")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("risk_pools.id", ondelete="CASCADE"), index=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    owner = relationship("User")
    pool = relationship("RiskPool")

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")
