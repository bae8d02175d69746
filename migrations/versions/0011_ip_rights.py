"""IP beyond patents: software copyrights and trademarks; a product's accepted IP kinds

Issue #15: copyrights (软件著作权) and trademarks are kept by an enterprise like its patents,
and a product says which IP kinds count for its IP rule (accepted_ip; empty = the
interchange default, invention and utility-model patents, so every existing product keeps
accepting exactly what it accepted) and how many items it needs (min_ip_count, default 1).

Revision ID: 0011
Revises: 0012
Create Date: 2026-12-05 06:00:00

"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0012"
branch_labels = None
depends_on = None


def _ip_table(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        *columns,
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("registered", sa.Date(), nullable=True),
        sa.Column("valuation_cny", sa.BigInteger(), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"],
            name=op.f(f"fk_{name}_enterprise_id_enterprises"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("ref", name=op.f(f"uq_{name}_ref")),
        # Ids are never handed out twice (techfin.models.NEVER_REUSED_IDS, migration 0008).
        sqlite_autoincrement=True,
    )  # fmt: skip
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{name}_enterprise_id"), ["enterprise_id"])
        batch_op.create_index(batch_op.f(f"ix_{name}_number"), ["number"])


@contextmanager
def _products_copy() -> Iterator[Any]:
    """batch_alter_table on products. SQLite changes a table by copying it; with foreign keys
    on, dropping the old products table would cascade into outcomes and matches (migration
    0008 explains), so they are off around the copy, which keeps AUTOINCREMENT."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    context = op.get_context()
    if sqlite:
        with context.autocommit_block():
            op.execute("PRAGMA foreign_keys=OFF")
    try:
        with op.batch_alter_table(
            "products", schema=None, table_kwargs={"sqlite_autoincrement": True}
        ) as batch_op:
            yield batch_op
    finally:
        if sqlite:
            with context.autocommit_block():
                op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    _ip_table("copyrights", sa.Column("title", sa.String(length=300), nullable=False))
    _ip_table(
        "trademarks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("nice_class", sa.Integer(), nullable=False),
    )
    # Existing products get [] (the default kinds: invention and utility-model patents) and 1.
    with _products_copy() as batch_op:
        batch_op.add_column(
            sa.Column("accepted_ip", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("min_ip_count", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade():
    with _products_copy() as batch_op:
        batch_op.drop_column("min_ip_count")
        batch_op.drop_column("accepted_ip")
    op.drop_table("trademarks")
    op.drop_table("copyrights")
