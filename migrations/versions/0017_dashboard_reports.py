"""The operator dashboard computed by the task worker; two redundant match indexes (#12)

Every figure of the operator dashboard reads the whole catalogue (all needs, outcomes,
matches, the products × needs coverage check), so at region scale no request may compute
it: the worker does, per period, and pages read the stored result.

A full recompute of the stored matches upserts about three million rows at that scale and
every index is written for each: ix_matches_product_id is covered by
ix_matches_product_active_score (which leads with product_id), and first_seen_at alone is
only counted by the dashboard, now in the worker.

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("computed_at", sa.DateTime(), nullable=True),
        sa.Column("computed_on", sa.Date(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_reports")),
        sa.UniqueConstraint(
            "start", "end", "days", name=op.f("uq_dashboard_reports_start")
        ),
        sqlite_autoincrement=True,
    )
    op.drop_index("ix_matches_product_id", table_name="matches")
    op.drop_index("ix_matches_first_seen_at", table_name="matches")


def downgrade() -> None:
    op.create_index("ix_matches_first_seen_at", "matches", ["first_seen_at"])
    op.create_index("ix_matches_product_id", "matches", ["product_id"])
    op.drop_table("dashboard_reports")
