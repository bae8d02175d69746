"""The operator dashboard computed by the task worker (issue #12)

Every figure of the operator dashboard reads the whole catalogue (all needs, outcomes,
matches, the products × needs coverage check), so at region scale no request may compute
it: the worker does, per period, and pages read the stored result.

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
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_reports")),
        sa.UniqueConstraint(
            "start", "end", "days", name=op.f("uq_dashboard_reports_start")
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("dashboard_reports")
