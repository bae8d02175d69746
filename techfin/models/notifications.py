"""In-app notices and the email each one may send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import utcnow

EMAIL_STATUSES = ("pending", "sent", "failed")


class Notification(db.Model):
    """A notice for one user. Title and body are rendered at display time from `kind` and
    `params`, so each reader sees it in their own language."""

    __tablename__ = "notifications"
    # The unread badge is one COUNT on (user_id, read_at IS NULL): this index answers it
    # without touching the rows, however many notices a user has.
    __table_args__ = (
        Index("ix_notifications_user_read", "user_id", "read_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    link: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)


class NotificationEmail(db.Model):
    """The email of a notice, written in the same transaction: the queue only wakes the
    sender, so a lost message or a failed send leaves the row pending for the next attempt
    (Huey's retries, then the minute sweep) and it is never lost. `attempts` and
    `last_error` record each failure; after EMAIL_MAX_ATTEMPTS the row is `failed` and the
    operators' system page lists the task failure."""

    __tablename__ = "notification_emails"
    __table_args__ = (
        Index("ix_notification_emails_status", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    to_email: Mapped[str] = mapped_column(String(254), nullable=False)
    to_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    locale: Mapped[str] = mapped_column(String(10), nullable=False, default="zh_CN")
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    link: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    notification = relationship("Notification")
