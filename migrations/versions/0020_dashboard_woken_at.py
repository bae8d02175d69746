"""The operator dashboard: when the worker was woken, apart from when it was last asked (#12)

`requested_at` served both as "the latest ask" and as "when the wake-up was sent". A page
that asked while a computation was already running was therefore dropped (a wake-up had
gone out less than a minute before), and that computation, which had read the catalogue
before the operator's newest record, then marked the ask as served: the operator was
offered figures without the loan they had just recorded. Now `requested_at` is the latest
ask and `woken_at` the latest wake-up; a computation stamps its figures with the time it
started reading, and one asked for meanwhile is run again.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dashboard_reports") as batch:
        batch.add_column(sa.Column("woken_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE dashboard_reports SET woken_at = requested_at")


def downgrade() -> None:
    with op.batch_alter_table("dashboard_reports") as batch:
        batch.drop_column("woken_at")
