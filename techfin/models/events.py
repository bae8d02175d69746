"""Docking events (对接活动): roadshows, bank–enterprise meetings, online matchmaking weeks,
their registrations and the 1:1 meetings scheduled in them.

Times are naive UTC like every other timestamp; pages show Beijing time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import TimestampMixin

EVENT_KINDS = ("roadshow", "bank_meeting", "online_week")
MEETING_STATUSES = ("requested", "confirmed", "declined", "cancelled")
MEETING_RESULTS = ("no_interest", "follow_up", "term_sheet", "approved", "funded")


class DockingEvent(TimestampMixin, db.Model):
    __tablename__ = "docking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    place: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    link: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=20, nullable=False)
    # At most this many 1:1 meetings per institution.
    meeting_cap: Mapped[int] = mapped_column(Integer, default=8, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    registrations: Mapped[list[EventRegistration]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventRegistration.id"
    )
    meetings: Mapped[list[EventMeeting]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventMeeting.id"
    )


class EventRegistration(TimestampMixin, db.Model):
    """An organisation (enterprise or institution) takes part; `code` is typed at check-in."""

    __tablename__ = "event_registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "organization_id", name="uq_event_registrations_org"),
        UniqueConstraint("event_id", "code", name="uq_event_registrations_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("docking_events.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    code: Mapped[str] = mapped_column(String(12), nullable=False)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)

    event: Mapped[DockingEvent] = relationship(back_populates="registrations")
    organization = relationship("Organization")


class EventMeeting(TimestampMixin, db.Model):
    """A 1:1 meeting between an enterprise and an institution at an event."""

    __tablename__ = "event_meetings"
    __table_args__ = (UniqueConstraint("event_id", "enterprise_id", "funder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("docking_events.id", ondelete="CASCADE"), index=True
    )
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    funder_id: Mapped[int] = mapped_column(ForeignKey("funders.id", ondelete="CASCADE"), index=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id", ondelete="SET NULL"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    requested_by_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(10), default="requested", nullable=False)
    slot: Mapped[int | None] = mapped_column(Integer)  # 0-based slot from the event's start
    result: Mapped[str | None] = mapped_column(String(12))
    amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)

    event: Mapped[DockingEvent] = relationship(back_populates="meetings")
    enterprise = relationship("Enterprise", foreign_keys=[enterprise_id])
    funder = relationship("Funder", foreign_keys=[funder_id])
    need = relationship("Need")
    product = relationship("Product")
