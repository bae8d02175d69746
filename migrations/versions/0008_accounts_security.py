"""accounts security: ids are never reused on SQLite (AUTOINCREMENT)

The session version checked by the user loader (users.session_version) has been in the
schema since 0001, so this revision only changes how SQLite picks new ids: without
AUTOINCREMENT it hands out max(id) + 1, and a row created after the newest one was deleted
inherits its id (and with it audit history, bookmarks and links). PostgreSQL sequences never
give an id twice, so there nothing changes.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05 02:20:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

# Written out rather than read from the models: this revision must keep meaning what it meant
# when it was written (techfin.models.NEVER_REUSED_IDS says why these tables).
TABLES = (
    "organizations", "users", "memberships", "api_tokens", "needs", "patents", "products",
    "outcomes", "sharing_rules", "search_outbox", "digest_subscriptions", "docking_events",
    "event_registrations", "event_meetings", "recommendations", "risk_pools",
    "risk_pool_contributions", "risk_pool_enterprises", "risk_pool_compensations",
)  # fmt: skip


def _recreate(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    context = op.get_context()
    # SQLite can only add AUTOINCREMENT by copying the table to a new one (batch mode) and
    # dropping the old. With foreign keys on, that DROP would run the ON DELETE CASCADE of
    # every referencing table and empty them; the pragma only takes effect outside a
    # transaction, hence the autocommit blocks.
    with context.autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        for name in TABLES:
            with op.batch_alter_table(
                name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
            ):
                pass
        if not context.as_sql:  # `flask db upgrade --sql` only prints the statements
            broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"foreign keys broken by the table copy: {broken[:5]}")
    finally:
        with context.autocommit_block():
            op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    _recreate(True)


def downgrade():
    _recreate(False)
