"""Email digest subscriptions and the delivery ledger that makes sending exactly-once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import TimestampMixin

PERIODS = ("off", "daily", "weekly")
DELIVERY_STATUSES = ("claimed", "sent", "retry", "failed", "empty")


class DigestSubscription(TimestampMixin, db.Model):
    """A user's digest settings; a user without a row gets the weekly default."""

    __tablename__ = "digest_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    period: Mapped[str] = mapped_column(String(10), default="weekly", nullable=False)
    min_score: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    # Empty list: all my needs or products; else the chosen need / product ids.
    scope_ids: Mapped[list[int]] = mapped_column(JSON, default=list, nullable=False)
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN", nullable=False)
    # Set by a permanent SMTP failure (5xx): no more mail until the user saves settings again.
    bounced_at: Mapped[datetime | None] = mapped_column(DateTime)
    bounce_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)

    user = relationship("User")


class DigestDelivery(db.Model):
    """One digest for (user, period, window): claimed before sending, marked after."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("user_id", "period", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(10), nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    window_end: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    run_id: Mapped[str] = mapped_column(String(32), default="", nullable=False, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    item_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    items: Mapped[list] = mapped_column(JSON, default=list, nullable=False)

    user = relationship("User")
