"""Stored matches keep a near miss's score once its fixable gaps are closed (#12)

A need's matches page is now served from its stored ranking whenever that ranking is
current (live ranking ranked every candidate of the need's kind in the request: about a
thousand at region scale). The page shows a near miss's odds once fixed, which only the
live ranking had. Needs that have a stored near miss are marked for a recompute so their
rows get the new figure; until then their pages are ranked live, as before.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("score_if_fixed", sa.Float(), nullable=True))
    op.get_bind().execute(
        sa.text(
            "INSERT INTO dirty_marks (kind, object_id, created_at) "
            "SELECT DISTINCT 'need', need_id, :now FROM matches WHERE active AND NOT eligible"
        ),
        {"now": datetime.now(UTC).replace(tzinfo=None)},  # the app's naive UTC times
    )


def downgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("score_if_fixed")
