"""Organisations: enterprises (科技型中小企业) and funder institutions."""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import TimestampMixin

ENTERPRISE_STAGES = ("seed", "startup", "growth", "mature")
FUNDER_KINDS = ("vc", "guidance_fund", "bank", "guarantee", "microloan", "insurer")
FUNDER_STATUSES = ("pending", "verified", "rejected")


class Organization(TimestampMixin, db.Model):
    """Common part of an enterprise or a funder; `ref` is the source system's id."""

    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("type", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    ref: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    contact_email: Mapped[str | None] = mapped_column(String(254))

    memberships = relationship("Membership", back_populates="organization")

    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "organization"}


class Enterprise(Organization):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    industry: Mapped[str] = mapped_column(String(8), nullable=False)
    region: Mapped[str] = mapped_column(String(6), nullable=False)
    founded: Mapped[date | None] = mapped_column(Date)
    employees: Mapped[int | None] = mapped_column(Integer)
    revenue_cny: Mapped[int | None] = mapped_column(BigInteger)
    total_assets_cny: Mapped[int | None] = mapped_column(BigInteger)
    high_tech: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    stage: Mapped[str | None] = mapped_column(String(10))

    patents = relationship("Patent", back_populates="enterprise", cascade="all, delete-orphan")
    copyrights = relationship(
        "Copyright", back_populates="enterprise", cascade="all, delete-orphan"
    )
    trademarks = relationship(
        "Trademark", back_populates="enterprise", cascade="all, delete-orphan"
    )
    needs = relationship("Need", back_populates="enterprise", cascade="all, delete-orphan")

    __mapper_args__ = {"polymorphic_identity": "enterprise"}

    @property
    def size_class(self) -> str | None:
        from techfin.reference import sme_size

        return sme_size(self.industry, self.employees, self.revenue_cny, self.total_assets_cny)


class Funder(Organization):
    __tablename__ = "funders"

    id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="pending", nullable=False)
    status_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)

    products = relationship("Product", back_populates="funder", cascade="all, delete-orphan")

    __mapper_args__ = {"polymorphic_identity": "funder"}

    @property
    def verified(self) -> bool:
        return self.status == "verified"
