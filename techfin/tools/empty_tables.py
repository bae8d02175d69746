"""Empty every table of the schema, keeping the schema (tests, benchmarks, drills)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text


def empty_tables(db: Any) -> None:
    """Delete all rows, children first; on PostgreSQL one TRUNCATE that also resets ids."""
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
