"""Patents, software copyrights, trademarks, financing needs, products and docking outcomes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import TimestampMixin

PATENT_KINDS = ("invention", "utility_model", "design")
PATENT_STATUSES = ("pending", "granted", "lapsed")
# Software copyrights and trademarks count for a product's IP rule once registered.
IP_STATUSES = ("registered", "pending")
# What a product may accept as IP (interchange.md accepted_ip; techfin.matching.IP_KINDS).
IP_KINDS = ("invention", "utility_model", "design", "software_copyright", "trademark")
NEED_KINDS = ("equity", "loan", "ip_pledge", "guarantee", "insurance")
NEED_STATUSES = ("draft", "published", "closed")
PRODUCT_STATUSES = ("active", "paused", "retired")
OUTCOME_STAGES = (
    "recommended",
    "contacted",
    "meeting",
    "approved",
    "funded",
    "declined",
    "withdrawn",
)
REPAYMENTS = ("bullet", "equal_installment", "interest_only")


class Patent(TimestampMixin, db.Model):
    __tablename__ = "patents"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    filed: Mapped[date | None] = mapped_column(Date)
    granted: Mapped[date | None] = mapped_column(Date)
    valuation_cny: Mapped[int | None] = mapped_column(BigInteger)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    abstract: Mapped[str] = mapped_column(Text, default="", nullable=False)

    enterprise = relationship("Enterprise", back_populates="patents")

    # One application number once per enterprise (migration 0014; catalog checks it first).
    __table_args__ = (
        Index("uq_patents_enterprise_number", "enterprise_id", "number", unique=True),
    )


class Copyright(TimestampMixin, db.Model):
    """A registered (or pending) software copyright, 软件著作权; kept like a patent: the
    enterprise's own, confidential ones never leave it, the others as its sharing rules say."""

    __tablename__ = "copyrights"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    registered: Mapped[date | None] = mapped_column(Date)
    valuation_cny: Mapped[int | None] = mapped_column(BigInteger)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    enterprise = relationship("Enterprise", back_populates="copyrights")


class Trademark(TimestampMixin, db.Model):
    """A registered (or pending) trademark in one Nice class (1–45)."""

    __tablename__ = "trademarks"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    nice_class: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    registered: Mapped[date | None] = mapped_column(Date)
    valuation_cny: Mapped[int | None] = mapped_column(BigInteger)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    enterprise = relationship("Enterprise", back_populates="trademarks")


class Need(TimestampMixin, db.Model):
    __tablename__ = "needs"
    # The institutions' list of published needs, newest first, is a walk down this index
    # (0019), not a sort of every need.
    __table_args__ = (Index("ix_needs_status_created", "status", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    amount_cny: Mapped[int] = mapped_column(BigInteger, nullable=False)
    term_months: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(Text, default="", nullable=False)
    collateral_available: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="published", nullable=False)
    created: Mapped[date | None] = mapped_column(Date)
    closed_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)

    enterprise = relationship("Enterprise", back_populates="needs")


class Product(TimestampMixin, db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    funder_id: Mapped[int] = mapped_column(ForeignKey("funders.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    min_amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    max_amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    min_term_months: Mapped[int | None] = mapped_column(Integer)
    max_term_months: Mapped[int | None] = mapped_column(Integer)
    rate_min: Mapped[float | None] = mapped_column(Float)
    rate_max: Mapped[float | None] = mapped_column(Float)
    industries: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    stages: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    requires_patent: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # The IP kinds that count for requires_patent (and as pledged value); empty = the
    # interchange default, granted invention and utility-model patents.
    accepted_ip: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    min_ip_count: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    requires_collateral: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    requires_high_tech: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="active", nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)

    funder = relationship("Funder", back_populates="products")


class Outcome(TimestampMixin, db.Model):
    """One step of a docking between a need and a product; the rows of a pair are its history."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("need_id", "product_id", "stage", "date"),
        # The ranking's track records follow max(updated_at): an index keeps that O(1).
        Index("ix_outcomes_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(12), nullable=False)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    rate: Mapped[float | None] = mapped_column(Float)
    issued: Mapped[date | None] = mapped_column(Date)
    matures: Mapped[date | None] = mapped_column(Date)
    repayment: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A terminal step (funded / declined / withdrawn) an operator reopened: the row stays as
    # history, the pair's pipeline continues from the stage before it (pipeline.reopen).
    # Who reopened it is in the audit log, with the reason.
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime)
    reopen_reason: Mapped[str | None] = mapped_column(Text)

    need = relationship("Need")
    product = relationship("Product")


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(254), default="", nullable=False)
    action: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    object_type: Mapped[str] = mapped_column(String(30), default="", nullable=False)
    object_id: Mapped[int | None] = mapped_column(Integer)
    object_ref: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    ip: Mapped[str] = mapped_column(String(45), default="", nullable=False)
    detail: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
