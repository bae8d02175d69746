"""What an enterprise lets funders see, and the log of who looked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import TimestampMixin, utcnow


class SharingRule(TimestampMixin, db.Model):
    """funder_id NULL means "every verified funder"; a per-funder row overrides it."""

    __tablename__ = "sharing_rules"
    __table_args__ = (UniqueConstraint("enterprise_id", "funder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    funder_id: Mapped[int | None] = mapped_column(ForeignKey("funders.id", ondelete="CASCADE"))
    financials: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    patents: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    funder = relationship("Funder")


class DataAccess(db.Model):
    """An institution viewed or exported an enterprise's data (shown to the enterprise)."""

    __tablename__ = "data_access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False, index=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    funder_id: Mapped[int | None] = mapped_column(ForeignKey("funders.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(20), nullable=False)  # view | export | api
    what: Mapped[str] = mapped_column(String(40), default="", nullable=False)

    funder = relationship("Funder")
