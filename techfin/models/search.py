"""The search outbox: an ordered log of records whose search documents changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from techfin.extensions import db
from techfin.models.base import utcnow


class SearchOutbox(db.Model):
    """Written in the same transaction as the change; each index applies it after commit.

    Only the key is logged: the document is rebuilt from the database when applied, so
    applying twice or late is harmless and always converges on the committed state.
    """

    __tablename__ = "search_outbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_type: Mapped[str] = mapped_column(String(20), nullable=False)
    doc_id: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, nullable=False, index=True
    )
