"""upload jobs

Uploaded spreadsheets (the bank's reconciliation table, interchange imports) are parsed by
a queued task, not by the request: a row per upload says what was asked, how far it got and
what came of it. AUTOINCREMENT on SQLite, like 0006's tables: the id is in the job page's
URL and in the task's argument.

Revision ID: 0013
Revises: 0016
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "upload_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_upload_jobs_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["risk_pools.id"], name=op.f("fk_upload_jobs_pool_id_risk_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_jobs")),
        sqlite_autoincrement=True,
    )  # fmt: skip
    with op.batch_alter_table("upload_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_upload_jobs_status_created", ["status", "created_at"])
        batch_op.create_index(batch_op.f("ix_upload_jobs_owner_id"), ["owner_id"])
        batch_op.create_index(batch_op.f("ix_upload_jobs_pool_id"), ["pool_id"])


def downgrade():
    with op.batch_alter_table("upload_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_jobs_pool_id"))
        batch_op.drop_index(batch_op.f("ix_upload_jobs_owner_id"))
        batch_op.drop_index("ix_upload_jobs_status_created")
    op.drop_table("upload_jobs")
