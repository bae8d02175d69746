from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from techfin.extensions import db

INTERCHANGE_TABLES = {"enterprises", "patents", "needs", "funders", "products", "outcomes"}


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_migrations_downgrade_to_empty_and_upgrade_again(app):
    with app.app_context():
        assert INTERCHANGE_TABLES | {"users", "memberships", "audit_entries"} <= _tables()
        downgrade(revision="base")
        db.engine.dispose()
        assert _tables() <= {"alembic_version"}
        upgrade()
        db.engine.dispose()
        assert INTERCHANGE_TABLES <= _tables()


def test_models_match_migrations(app):
    """Autogenerate finds nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []
