"""applications: the institution's queue order as an index

Issue #16's benchmark (bench/applications.py: 100 000 enterprises, 20 000 applications, the
biggest bank holding 7 292): the queue page sorted every application of the institution to
show 20 (a sequential scan and a sort, 22 ms). This index has the page's ORDER BY after
the institution (open ones first, the next deadline, newest first), so PostgreSQL reads
the first 20 entries instead (0.1 ms). The expressions are those of
techfin/models/applications.py (QUEUE_DECIDED, QUEUE_DUE), which the query uses.

Revision ID: 0016
Revises: 0017
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_applications_queue_order",
        "applications",
        [
            sa.text("funder_id"),
            sa.text("(status IN ('disbursed', 'declined', 'withdrawn'))"),
            sa.text("(CASE WHEN status = 'submitted' THEN first_response_due ELSE decision_due END)"),
            sa.text("id DESC"),
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_applications_queue_order", table_name="applications")
