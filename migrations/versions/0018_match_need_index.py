"""Stored matches: indexes for the dealflow at region scale, and none more to write (#12)

`uq_matches_need_product` was partial (product_id IS NOT NULL) and `ix_matches_need_id` served
look-ups by need alone. A unique index on (need_id, product_id) without the condition does
both: NULL product ids (the mandate rows) are distinct from each other in a unique index on
PostgreSQL and SQLite alike, so it forbids exactly what the partial one did, and need_id
leads it. A full recompute writes about three million rows, each into every index.

The dealflow reads a product's (or an institution's) best eligible pairs and then its near
misses: (product_id, active, eligible, score) and (funder_id, active, eligible, score) make
each a walk down one index. With (product_id, active, score) alone, an institution's page
read and sorted every pair of its ~70 products (1.2 s at 100 000 enterprises).

Revision ID: 0018
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("uq_matches_need_product", table_name="matches")
    op.create_index("uq_matches_need_product", "matches", ["need_id", "product_id"], unique=True)
    op.drop_index("ix_matches_need_id", table_name="matches")
    op.drop_index("ix_matches_product_active_score", table_name="matches")
    op.create_index("ix_matches_product_ranked", "matches",
                    ["product_id", "active", "eligible", "score"])  # fmt: skip
    op.create_index("ix_matches_funder_ranked", "matches",
                    ["funder_id", "active", "eligible", "score"])  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_matches_funder_ranked", table_name="matches")
    op.drop_index("ix_matches_product_ranked", table_name="matches")
    op.create_index("ix_matches_product_active_score", "matches", ["product_id", "active", "score"])
    op.create_index("ix_matches_need_id", "matches", ["need_id"])
    op.drop_index("uq_matches_need_product", table_name="matches")
    op.create_index(
        "uq_matches_need_product",
        "matches",
        ["need_id", "product_id"],
        unique=True,
        sqlite_where=sa.text("product_id IS NOT NULL"),
        postgresql_where=sa.text("product_id IS NOT NULL"),
    )
