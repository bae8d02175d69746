"""The tech-loan risk-reserve pool (科技贷款风险准备金) and the platform's recommendations (推荐).

Money is integer yuan. A pool is kept at a partner bank; governments contribute to it; the
bank lends to the enterprises the operators recommend, on the pool's products, up to a
leverage cap; when a covered loan defaults the pool compensates a share of the loss.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import TimestampMixin

RECOMMENDATION_STATUSES = ("pending", "accepted", "declined")

pool_products = Table(
    "risk_pool_products",
    db.metadata,
    Column("pool_id", ForeignKey("risk_pools.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
)


class RiskPool(TimestampMixin, db.Model):
    __tablename__ = "risk_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    funder_id: Mapped[int] = mapped_column(
        ForeignKey("funders.id", ondelete="RESTRICT"), index=True
    )
    # Loans outstanding may reach this multiple of the balance (10 = 10×).
    leverage_cap: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    # Share of a defaulted loan's loss the pool pays, in percent (50 = 50 %).
    compensation_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)

    funder = relationship("Funder")
    products = relationship("Product", secondary=pool_products, order_by="Product.id")
    contributions: Mapped[list[PoolContribution]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="PoolContribution.date"
    )
    members: Mapped[list[PoolEnterprise]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="PoolEnterprise.id"
    )
    compensations: Mapped[list[PoolCompensation]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="PoolCompensation.paid_on"
    )


class PoolContribution(TimestampMixin, db.Model):
    """Money paid into the pool (省 1 000 万元, 镇 4 000 万元 …)."""

    __tablename__ = "risk_pool_contributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(
        ForeignKey("risk_pools.id", ondelete="CASCADE"), index=True
    )
    contributor: Mapped[str] = mapped_column(String(200), nullable=False)
    amount_cny: Mapped[int] = mapped_column(BigInteger, nullable=False)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)

    pool: Mapped[RiskPool] = relationship(back_populates="contributions")


class PoolEnterprise(TimestampMixin, db.Model):
    """An enterprise the operators recommended to the pool's bank (推荐入库)."""

    __tablename__ = "risk_pool_enterprises"
    __table_args__ = (UniqueConstraint("pool_id", "enterprise_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(
        ForeignKey("risk_pools.id", ondelete="CASCADE"), index=True
    )
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    recommended_on: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)

    pool: Mapped[RiskPool] = relationship(back_populates="members")
    enterprise = relationship("Enterprise")


class PoolCompensation(TimestampMixin, db.Model):
    """A covered loan defaulted; the pool paid its share of the loss (reduces the balance)."""

    __tablename__ = "risk_pool_compensations"
    __table_args__ = (UniqueConstraint("pool_id", "outcome_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(
        ForeignKey("risk_pools.id", ondelete="CASCADE"), index=True
    )
    outcome_id: Mapped[int] = mapped_column(
        ForeignKey("outcomes.id", ondelete="RESTRICT"), index=True
    )
    defaulted_on: Mapped[date] = mapped_column(Date, nullable=False)
    loss_cny: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_cny: Mapped[int] = mapped_column(BigInteger, nullable=False)
    paid_on: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)

    pool: Mapped[RiskPool] = relationship(back_populates="compensations")
    outcome = relationship("Outcome")


class Recommendation(TimestampMixin, db.Model):
    """An operator recommended a published need to an institution's product (推荐)."""

    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="pending", nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    recommended_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    need = relationship("Need")
    product = relationship("Product")
