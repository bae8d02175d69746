"""PostgreSQL planner statistics after a bulk change."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

log = logging.getLogger(__name__)

# Fewer changed rows than this leave the statistics to autovacuum.
BULK_ROWS = 10_000


def analyze_after_bulk(session: Any, tables: tuple[str, ...] = (), rows: int = BULK_ROWS) -> bool:
    """ANALYZE (these tables, or the database) after `rows` or more rows changed at once.

    Autovacuum analyses a table only after a while, and not at all where it is off (as on
    this project's CI server): a region's import left `needs` and `matches` without
    statistics, and the planner then joined every need to show one institution's dealflow
    (1.2 s → 3 ms once analysed). Returns whether it ran."""
    if rows < BULK_ROWS or session.get_bind().dialect.name != "postgresql":
        return False
    prepare = session.get_bind().dialect.identifier_preparer
    names = ", ".join(prepare.quote(t) for t in tables)
    try:
        session.execute(text(f"ANALYZE {names}".strip()))
        session.commit()
    except Exception:  # noqa: BLE001 - statistics are an optimisation; the data is committed
        session.rollback()
        log.warning("ANALYZE after a bulk change failed", exc_info=True)
        return False
    return True
