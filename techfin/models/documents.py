"""An enterprise's documents (business plan, statements, certificates) and who may read them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import utcnow

DOCUMENT_KINDS = (
    "business_plan", "financial_statements", "tax_certificate", "patent_certificate",
    "copyright_certificate", "other",
)  # fmt: skip


class Document(db.Model):
    """One uploaded file. The bytes live under INSTANCE_DIR/documents/<stored_name>, a random
    name that says nothing about the owner or the original name; `filename` is what the
    enterprise called it (Chinese kept) and is only ever sent back in Content-Disposition.
    Deleting sets `deleted_at` and removes the bytes; the row stays for the access log."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_enterprise_live", "enterprise_id", "deleted_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), nullable=False
    )
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)

    enterprise = relationship("Enterprise")
    grants: Mapped[list[DocumentGrant]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )


class DocumentGrant(db.Model):
    """An institution may download a document while revoked_at is NULL. A revoked grant stays
    (who could read what, when); granting again adds a new row."""

    __tablename__ = "document_grants"
    __table_args__ = (
        Index("ix_document_grants_document_funder", "document_id", "funder_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    funder_id: Mapped[int] = mapped_column(
        ForeignKey("funders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    document: Mapped[Document] = relationship(back_populates="grants")
    funder = relationship("Funder")
