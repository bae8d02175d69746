"""Persisted matches: the ranked (need, product or fund mandate) pairs, with when each was
first and last seen, so "new since" is well defined for digests and dashboards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from techfin.extensions import db
from techfin.models.base import utcnow

MATCH_KINDS = ("product", "mandate")


class Match(db.Model):
    """One candidate in a need's latest ranking (or in an earlier one, while `active` is off).

    kind "product": product_id is the product and funder_id its institution; kind
    "mandate": a VC / guidance fund as a whole (product_id NULL, funder_id the fund).
    `reasons` and `missing` hold the structured reason codes and gaps ({"code", "params"}),
    rendered in the reader's language when shown. `first_seen_at` is set once, when the
    pair first enters a ranking, and never moves; `last_seen_at` is the latest refresh that
    still ranked it.
    """

    __tablename__ = "matches"
    __table_args__ = (
        # Without a condition: NULL product ids (mandate rows) are distinct in a unique index,
        # and need_id leading it serves the look-ups by need (no index of its own; 0018).
        Index("uq_matches_need_product", "need_id", "product_id", unique=True),
        Index(
            "uq_matches_need_mandate",
            "need_id",
            "funder_id",
            unique=True,
            sqlite_where=text("product_id IS NULL"),
            postgresql_where=text("product_id IS NULL"),
        ),
        Index("ix_matches_funder_first_seen", "funder_id", "first_seen_at"),
        # A product's, and an institution's, dealflow: best eligible pairs, then near misses,
        # each a walk down one index (a few rows per page).
        Index("ix_matches_product_ranked", "product_id", "active", "eligible", "score"),
        Index("ix_matches_funder_ranked", "funder_id", "active", "eligible", "score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    # No index of its own: ix_matches_product_ranked leads with it (every index is
    # written for each of the ~3 million rows a full recompute upserts at region scale).
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    funder_id: Mapped[int] = mapped_column(ForeignKey("funders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    eligible: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # A near miss's score once its fixable gaps are closed (None for an eligible pair, and
    # for one whose gaps none can close). A need's matches page shows it (0021).
    score_if_fixed: Mapped[float | None] = mapped_column(Float, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    model_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    model_version: Mapped[str] = mapped_column(String(40), nullable=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    missing: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    # Read per institution (ix_matches_funder_first_seen); the dashboard's count of a
    # period runs in the task worker, so it needs no index of its own.
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    need = relationship("Need")
    product = relationship("Product")
    funder = relationship("Funder")
