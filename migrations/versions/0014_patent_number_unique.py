"""patents: one application number once per enterprise

A patent recorded twice for the same enterprise counted twice for IP-pledge products and in
reports. The services refuse it now (catalog, API, import); this unique index makes the
database refuse it too. A unique index rather than a constraint: SQLite adds an index in
place, where a constraint would mean copying the table.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-05 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None

NAME = "uq_patents_enterprise_number"


def upgrade():
    context = op.get_context()
    if not context.as_sql:
        # Deleting one of a pair would lose data someone typed: stop with the list instead,
        # so an operator merges them (the patents pages or an import) and runs this again.
        duplicates = op.get_bind().execute(sa.text(
            "SELECT enterprise_id, number, COUNT(*) FROM patents "
            "GROUP BY enterprise_id, number HAVING COUNT(*) > 1"
        )).fetchall()  # fmt: skip
        if duplicates:
            listed = ", ".join(f"enterprise {e}: {n} ×{c}" for e, n, c in duplicates[:20])
            raise RuntimeError(
                f"{len(duplicates)} patent numbers are recorded twice for one enterprise "
                f"({listed}); delete the extra rows, then upgrade again"
            )
    op.create_index(NAME, "patents", ["enterprise_id", "number"], unique=True)


def downgrade():
    op.drop_index(NAME, table_name="patents")
