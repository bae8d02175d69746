"""Bulk data benchmark: `demo-data` at N enterprises and `import-data` records/s (not a test).

    .venv/bin/python bench/bulk.py [--n 100000] [--database-url postgresql://…/db]

Steps, each timed, in one database (PostgreSQL: a schema `bench_bulk` of the given
database, dropped afterwards; default: a fresh SQLite file in a temp dir, removed):

1. demo-data: what `flask demo-data --enterprises N --seed 2026` runs (generate, import,
   demo accounts), into an empty database;
2. export-data of that database to JSON Lines (the file the next steps read);
3. import-data of the file into the emptied database (read, validate, write, outbox);
4. import-data of the same file again: every record unchanged (the idempotent path);
5. baselines, the floor: the same rows sent as plain executemany INSERTs into the emptied
   database, with no validation, no ref checks and no outbox; on PostgreSQL also through
   the COPY writer the import uses (there, executemany runs one statement per row).

Records/s counts the file's records over the whole call, reading the file included.
Targets (exit 1 when one is missed): demo-data within 300 s per 100 000 enterprises (30 s
at least), and
import-data into an empty database at ≥ 2 000 records/s.

The app runs with MATCHING_REFRESH_OFF: the matching refresh after each command is being
replaced by a background queue and is not part of the import (`flask demo-data` today
still pays it at exit; with over 2 000 needs that is loading the snapshot and a warning).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Date

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_SCHEMA = "bench_bulk"
DEMO_SECONDS_PER_100K = 300
IMPORT_TARGET = 2000  # records/s


def _postgres_url(url: str) -> str:
    """A schema of its own in the given database, so the bench never touches its tables."""
    from sqlalchemy import create_engine, text

    from techfin.config import normalise_database_url

    url = normalise_database_url(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{PG_SCHEMA}"


def _drop_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


def _full_rows(table: Any, rows: list[dict[str, Any]], **fixed: Any) -> list[dict[str, Any]]:
    """Every column in every row (executemany needs one shape): values given, ISO dates
    parsed, the column's default for the rest (what the database would have filled in)."""
    out = []
    for values in rows:
        row = {}
        for col in table.columns:
            if col.name in fixed:
                row[col.name] = fixed[col.name]
            elif col.name in values:
                v = values[col.name]
                row[col.name] = date.fromisoformat(v) if isinstance(v, str) and _is_date(col) else v
            elif col.default is not None and col.default.is_scalar:
                row[col.name] = col.default.arg
            elif isinstance(col.type, JSON):
                row[col.name] = []  # default=list
            elif col.name != "id":
                row[col.name] = None
        out.append(row)
    return out


def _is_date(col: Any) -> bool:
    return isinstance(col.type, Date)


def baseline_insert(records: list[dict[str, Any]], copy: bool = False) -> None:
    """The floor: each table's rows in one executemany INSERT (copy: the import's COPY
    writer), refs resolved by dict, ids read back by ref (as the import does), with no
    validation, no comparison with stored rows and no outbox."""
    from sqlalchemy import insert, select

    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, Organization, Outcome, Patent, Product
    from techfin.models.base import utcnow
    from techfin.services.interchange import _insert_batch

    org, now = Organization.__table__, utcnow()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_type.setdefault(rec["type"], []).append(rec)

    def put(table: Any, rows: list[dict[str, Any]]) -> None:
        if rows and copy:
            _insert_batch(table, rows)
        elif rows:
            db.session.execute(insert(table), rows)

    def ids(table: Any, *where: Any) -> dict[str, int]:
        return dict(db.session.execute(select(table.c.ref, table.c.id).where(*where)).all())

    parents: dict[str, dict[str, int]] = {}
    for kind, model in (("enterprise", Enterprise), ("funder", Funder)):
        rows = by_type.get(kind, [])
        put(org, _full_rows(org, rows, type=kind, created_at=now, updated_at=now))
        parents[kind] = ids(org, org.c.type == kind)
        if kind == "funder":
            rows = [r | {"status": "verified" if r.get("verified", True) else "pending"}
                    for r in rows]  # fmt: skip
        put(model.__table__, [row | {"id": parents[kind][r["ref"]]}
                              for r, row in zip(rows, _full_rows(model.__table__, rows),
                                                strict=True)])  # fmt: skip
    for kind, model, parent in (("patent", Patent, "enterprise"), ("need", Need, "enterprise"),
                                ("product", Product, "funder")):  # fmt: skip
        rows = by_type.get(kind, [])
        put(model.__table__, [
            row | {f"{parent}_id": parents[parent][r[f"{parent}_ref"]]}
            for r, row in zip(rows, _full_rows(model.__table__, rows, created_at=now,
                                               updated_at=now), strict=True)])  # fmt: skip
    need_ids, prod_ids = ids(Need.__table__), ids(Product.__table__)
    rows = by_type.get("outcome", [])
    put(Outcome.__table__, [
        row | {"need_id": need_ids[r["need_ref"]], "product_id": prod_ids[r["product_ref"]]}
        for r, row in zip(rows, _full_rows(Outcome.__table__, rows, created_at=now,
                                           updated_at=now), strict=True)])  # fmt: skip
    db.session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="demo enterprises")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; default SQLite")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import SearchOutbox
    from techfin.services import demo
    from techfin.services.interchange import export_file, import_records, read_file
    from techfin.tools.empty_tables import empty_tables

    tmp = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    if args.database_url:
        url, where = _postgres_url(args.database_url), f"PostgreSQL schema {PG_SCHEMA}"
    else:
        url, where = f"sqlite:///{tmp / 'bench.db'}", "SQLite"
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url,
                      "INSTANCE_DIR": str(tmp), "INDEX_DIR": str(tmp / "index"),
                      "MODEL_DIR": str(tmp / "model"), "SEARCH_SYNC_OFF": True,
                      "MATCHING_REFRESH_OFF": True})  # fmt: skip
    path = tmp / "export.jsonl"
    times: dict[str, float] = {}
    try:
        with app.app_context():
            upgrade()

            t0 = time.perf_counter()
            records = list(demo.generate(enterprises=args.n, seed=args.seed))
            generated = time.perf_counter() - t0
            report = import_records(records, actor="demo-data")
            assert report.committed, [str(e) for e in report.errors[:5]]
            demo.ensure_accounts()
            times["demo"] = time.perf_counter() - t0
            demo_summary = report.summary()
            del records

            t0 = time.perf_counter()
            n = export_file(path)
            times["export"] = time.perf_counter() - t0

            empty_tables(db)
            t0 = time.perf_counter()
            report = import_records(read_file(path), actor="bench")
            times["import"] = time.perf_counter() - t0
            assert report.committed and sum(report.created.values()) == n, report.summary()
            outbox = db.session.scalar(db.select(db.func.count()).select_from(SearchOutbox))

            t0 = time.perf_counter()
            report = import_records(read_file(path), actor="bench")
            times["again"] = time.perf_counter() - t0
            assert report.committed and sum(report.unchanged.values()) == n, report.summary()

            empty_tables(db)
            t0 = time.perf_counter()
            baseline_insert([rec for _location, rec in read_file(path)])
            times["baseline"] = time.perf_counter() - t0
            if args.database_url:
                empty_tables(db)
                t0 = time.perf_counter()
                baseline_insert([rec for _location, rec in read_file(path)], copy=True)
                times["copy"] = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            size = path.stat().st_size
            db.session.remove()
            db.engine.dispose()
    finally:
        if args.database_url:
            _drop_postgres_schema(url)
        shutil.rmtree(tmp, ignore_errors=True)

    demo_target = max(30.0, DEMO_SECONDS_PER_100K * args.n / 100_000)
    rate = n / times["import"]
    print(f"enterprises: {args.n}, seed {args.seed}   ({where})")
    print(f"demo data: {demo_summary}")
    print(f"file: {n} records, {size / 2**20:.0f} MiB of JSON Lines; "
          f"import wrote {outbox} search outbox rows")  # fmt: skip
    print(f"{'':44}{'seconds':>10}{'records/s':>12}")
    print(f"{'demo-data (generate ' + f'{generated:.0f} s' + ', import, accounts)':44}"
          f"{times['demo']:>10.1f}{n / times['demo']:>12.0f}")  # fmt: skip
    print(f"{'export-data':44}{times['export']:>10.1f}{n / times['export']:>12.0f}")
    print(f"{'import-data into an empty database':44}{times['import']:>10.1f}{rate:>12.0f}")
    print(f"{'import-data again (all unchanged)':44}{times['again']:>10.1f}"
          f"{n / times['again']:>12.0f}")  # fmt: skip
    print(f"{'baseline: plain executemany INSERT (floor)':44}{times['baseline']:>10.1f}"
          f"{n / times['baseline']:>12.0f}")  # fmt: skip
    if "copy" in times:
        print(f"{'baseline: COPY, as the import writes (floor)':44}{times['copy']:>10.1f}"
              f"{n / times['copy']:>12.0f}")  # fmt: skip
    print(f"peak RSS: {peak / 1024:.0f} MiB")
    demo_ok, import_ok = times["demo"] <= demo_target, rate >= IMPORT_TARGET
    print(f"target: demo-data <= {demo_target:.0f} s -> {'met' if demo_ok else 'NOT met'}; "
          f"import-data >= {IMPORT_TARGET} records/s -> {'met' if import_ok else 'NOT met'}")  # fmt: skip
    print(f"(pid {os.getpid()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0 if demo_ok and import_ok else 1


if __name__ == "__main__":
    sys.exit(main())
