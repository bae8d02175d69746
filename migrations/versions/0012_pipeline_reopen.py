"""deal pipeline: an operator may reopen a terminal docking step, with a reason

Two nullable columns on outcomes: when and why the step was reopened (who did it is in the
audit log). The row itself stays as history; the pipeline continues from the stage before it.

Revision ID: 0012
Revises: 0014
Create Date: 2026-12-05 06:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no constraint): SQLite keeps the table, and with it 0008's
    # AUTOINCREMENT and the rows that reference outcomes.
    op.add_column("outcomes", sa.Column("reopened_at", sa.DateTime(), nullable=True))
    op.add_column("outcomes", sa.Column("reopen_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): no table copy, see upgrade().
    op.drop_column("outcomes", "reopen_reason")
    op.drop_column("outcomes", "reopened_at")
