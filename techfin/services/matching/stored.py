"""Stored matches: each need's latest ranking, computed by the task worker.

They serve "new since" (digests), counts, and the institution's side: a product's dealflow
lists the needs whose stored ranking holds it (a need keeps its best KEEP products and
ALMOST near misses), so no page ranks every need. Rows are written with one upsert per
chunk, keyed by the (need, product) and (need, fund) unique indexes: first_seen_at is set
by the insert and never touched again, so a pair that comes back is not "new" again.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.schema import AddConstraint

from techfin.extensions import db
from techfin.models import Match, Need
from techfin.models.base import utcnow

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    from techfin.matching import Scorer

from techfin.services.matching.common import ALMOST, KEEP, _jsonable, _locale, names
from techfin.services.matching.snapshot import Snapshot, need_records, scorer, snapshot

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ persisted matches


@dataclass
class RefreshReport:
    needs: int = 0
    inserted: int = 0
    updated: int = 0
    deactivated: int = 0
    cleared: int = 0  # stale marks a full refresh made obsolete

    def summary(self) -> str:
        text = (f"refreshed matches of {self.needs} need(s): {self.inserted} new, "
                f"{self.updated} updated, {self.deactivated} no longer ranked")  # fmt: skip
        return text + (f"; {self.cleared} stale mark(s) cleared" if self.cleared else "")


def _key(kind: str, product_id: int | None, funder_id: int) -> tuple[str, int]:
    return ("mandate", funder_id) if kind == "mandate" else ("product", product_id or 0)


def _rank_for_storage(
    snap: Snapshot, current: Scorer, records: list[dict[str, Any] | None]
) -> list[list]:
    """The stored ranking of each record (none for a deleted or closed need), the open
    needs ranked together (rank_products_for_needs: a chunk's array work done once)."""
    from techfin.matching import rank_products_for_needs

    open_ = [r for r in records if r is not None and r["status"] != "closed"]
    rankings = iter(
        rank_products_for_needs(
            open_,
            snap.candidates,
            current,
            snap.history,
            limit=KEEP,
            almost_limit=ALMOST,
            locale=None,  # type: ignore[arg-type] - codes only; rendered when read
        )
    )
    return [
        next(rankings).matches if r is not None and r["status"] != "closed" else [] for r in records
    ]


_UPDATED = ("score", "rank", "eligible", "score_if_fixed", "active", "model_kind",
            "model_version", "reasons", "missing", "last_seen_at")  # fmt: skip


_COLUMNS = ("need_id", "product_id", "funder_id", "kind", "score", "rank", "eligible",
            "score_if_fixed", "active", "model_kind", "model_version", "reasons", "missing",
            "first_seen_at", "last_seen_at")  # fmt: skip
# Versioned: a worker's connection that outlived a migration keeps its temporary table of
# the old columns for the session (0021 added score_if_fixed).
_STAGE = "match_stage_0021"


def _dumps(value: Any) -> str:
    """JSON for COPY. orjson: a full recompute serialises about six million lists of reasons
    and gaps, a tenth of its time with the json module. Reasons and gaps go in as the
    dataclasses they are (the keys of their to_dict(); a reason's weight unrounded), not
    through a dict each. numpy numbers in reason parameters become plain JSON numbers (as
    _jsonable does)."""
    return orjson.dumps(value, default=float, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _upsert_copy(products: list[dict[str, Any]], mandates: list[dict[str, Any]]) -> None:
    """PostgreSQL: the chunk's rows COPYed into a temporary table, then one INSERT … ON
    CONFLICT per kind. Against an executemany of single-row upserts this sends one stream
    instead of a statement per row, and reasons are serialised once (a full recompute at
    region scale writes about three million rows)."""
    conn = db.session.connection().connection.driver_connection  # the session's transaction
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (need_id integer, product_id integer, "
            "funder_id integer, kind varchar(10), score double precision, rank integer, "
            "eligible boolean, score_if_fixed double precision, active boolean, "
            "model_kind varchar(10), "
            "model_version varchar(40), reasons json, missing json, "
            "first_seen_at timestamp, last_seen_at timestamp) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY {_STAGE} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for row in (*products, *mandates):
                copy.write_row(
                    [_dumps(row[c]) if c in ("reasons", "missing") else row[c] for c in _COLUMNS]
                )
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)
        cols = ", ".join(_COLUMNS)
        for keys, where, index_where in (
            ("need_id, product_id", "product_id IS NOT NULL", ""),
            ("need_id, funder_id", "product_id IS NULL", " WHERE product_id IS NULL"),
        ):
            cur.execute(
                f"INSERT INTO matches ({cols}) SELECT {cols} FROM {_STAGE} WHERE {where} "
                f"ON CONFLICT ({keys}){index_where} DO UPDATE SET {updates}"
            )
        cur.execute(f"TRUNCATE {_STAGE}")  # several chunks may share one transaction


def _upsert(rows: list[dict[str, Any]], mandate: bool) -> None:
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Match.__table__)  # Core, not the ORM's bulk path: 1/3 of the time
    stmt = stmt.on_conflict_do_update(
        index_elements=["need_id", "funder_id"] if mandate else ["need_id", "product_id"],
        # uq_matches_need_mandate is partial; uq_matches_need_product is not (0018)
        index_where=text("product_id IS NULL") if mandate else None,
        set_={name: getattr(stmt.excluded, name) for name in _UPDATED},
    )
    db.session.execute(stmt, rows)


def _index_lookups_only() -> None:
    """PostgreSQL: this transaction plans no sequential scan where an index serves.

    A chunk reads and writes only its own needs' rows, each statement a `need_id IN (…)`
    or `id IN (…)` look-up. Right after a region's import the matches table was analysed
    empty: with no statistics on need_id, 200 ids are estimated to match the whole table,
    so the planner scanned it, and every chunk of the first full recompute read a table
    that grew with each one (216 s at 100 000 enterprises, one process alone for the last
    80 s; 122 s with the look-ups). Those estimates also made PostgreSQL JIT-compile
    each statement; a chunk's few-row look-ups never gain from it."""
    db.session.execute(text("SET LOCAL enable_seqscan TO off"))
    db.session.execute(text("SET LOCAL jit TO off"))


def _refresh_chunk(
    ids: list[int], snap: Snapshot, current: Scorer, info: dict, report: RefreshReport
) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        # Derived rows: this transaction's commit need not wait for the disk. A crash loses
        # at most the last few commits whole (rows and the marks they settle together), and
        # what is lost is recomputed. (The first full recompute after a region's import:
        # 229 s with, 205 s without the wait, before _index_lookups_only took it to 121 s.)
        db.session.execute(text("SET LOCAL synchronous_commit TO off"))
        _index_lookups_only()
        # Two workers may hold marks for the same need (it changed twice): the second waits
        # here for the first to commit, then reads the newer rows, so an older ranking can
        # never be committed after a newer one. (Ordered by id: no deadlock between them.)
        db.session.execute(
            select(Need.id).where(Need.id.in_(ids)).order_by(Need.id).with_for_update()
        ).all()
    now = utcnow()
    copy = db.session.get_bind().dialect.name == "postgresql"
    records = need_records(ids)
    # key → (row id, active, what a refresh would write): a pair ranked exactly as before
    # (same score, place, eligibility and model) only gets its last_seen_at moved, in one
    # statement, instead of an upsert carrying its reasons again.
    existing: dict[int, dict[tuple[str, int], tuple[int, bool, tuple]]] = {}
    for row in db.session.execute(
        select(Match.id, Match.need_id, Match.kind, Match.product_id, Match.funder_id,
               Match.active, Match.score, Match.rank, Match.eligible, Match.score_if_fixed,
               Match.model_kind, Match.model_version)
        .where(Match.need_id.in_(ids))
    ):  # fmt: skip
        existing.setdefault(row.need_id, {})[_key(row.kind, row.product_id, row.funder_id)] = (
            row.id, row.active, (row.score, row.rank, row.eligible, row.score_if_fixed,
                                 row.model_kind, row.model_version),
        )  # fmt: skip
    touched: list[int] = []
    products: list[dict[str, Any]] = []
    mandates: list[dict[str, Any]] = []
    model_kind, model_version = str(info.get("kind")), str(info.get("version"))[:40]
    todo = [i for i in ids if i in records or i in existing]  # the others: nothing to do
    ranked_all = _rank_for_storage(snap, current, [records.get(i) for i in todo])
    for need_id, ranked in zip(todo, ranked_all, strict=True):
        had = existing.get(need_id, {})
        report.needs += 1
        seen = set()
        if copy:  # Reason and Gap are dataclasses: orjson writes them in C (see _dumps)
            codes = [(m.reason_codes, m.gaps) for m in ranked]
        else:  # one JSON round trip per need (numpy numbers → plain), not two per match
            codes = _jsonable([([r.to_dict() for r in m.reason_codes],
                                [g.to_dict() for g in m.gaps]) for m in ranked])  # fmt: skip
        for position, (m, (reasons, gaps)) in enumerate(zip(ranked, codes, strict=True), 1):
            if m.type == "mandate":
                product_id, funder_id = None, m.id
            else:
                product_id, funder_id = m.id, snap.product_by_id[m.id]["funder"]["id"]
            key = _key(m.type, product_id, funder_id)
            seen.add(key)
            if_fixed = None if m.score_if_fixed is None else float(m.score_if_fixed)
            before = had.get(key)
            if before is None:
                report.inserted += 1
            else:
                report.updated += 1
                same = (float(m.score), position, bool(m.eligible), if_fixed, model_kind,
                        model_version)  # fmt: skip
                if before[1] and before[2] == same:
                    touched.append(before[0])
                    continue
            (mandates if m.type == "mandate" else products).append({
                "need_id": need_id, "product_id": product_id, "funder_id": funder_id,
                "kind": m.type, "score": float(m.score), "rank": position,
                "eligible": bool(m.eligible), "score_if_fixed": if_fixed, "active": True,
                "model_kind": model_kind,
                "model_version": model_version,
                "reasons": reasons, "missing": gaps,
                "first_seen_at": now, "last_seen_at": now,
            })  # fmt: skip
        report.deactivated += sum(1 for k, v in had.items() if v[1] and k not in seen)
    if copy:
        _upsert_copy(products, mandates)
    else:
        _upsert(products, mandate=False)
        _upsert(mandates, mandate=True)
    for start in range(0, len(touched), 20_000):  # SQLite's bound-parameter limit
        db.session.execute(
            update(Match).where(Match.id.in_(touched[start : start + 20_000]))
            .values(last_seen_at=now).execution_options(synchronize_session=False)
        )  # fmt: skip
    # Pairs this refresh did not rank again are kept (inactive), so coming back is not new.
    db.session.execute(
        update(Match)
        .where(Match.need_id.in_(ids), Match.active.is_(True), Match.last_seen_at != now)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """While a refresh runs, Python's cyclic garbage collector leaves alone what is alive
    when it starts: the snapshot, the model, jieba's dictionary, the app. A refresh
    allocates millions of short-lived objects (needs' profiles, matches, reasons, rows);
    the collections they trigger each walked those long-lived ones again, about 40 % of
    the ranking's time at region scale (1.02 → 0.60 ms a need, measured). What is
    allocated meanwhile is collected as usual; the frozen objects go back to the oldest
    generation afterwards (gc.freeze / gc.unfreeze move whole lists: no walk), when the
    last of the worker's threads refreshing at once is done."""
    global _frozen
    with _frozen_lock:
        _frozen += 1
        gc.freeze()
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen -= 1
            if not _frozen:
                gc.unfreeze()


_frozen = 0  # refreshes under way in this process (the worker runs tasks in threads)
_frozen_lock = threading.Lock()


def refresh_needs(
    need_ids: Iterable[int] | None = None,
    *,
    chunk: int = 200,
    report: RefreshReport | None = None,
    commit: bool = True,
    progress: Callable[[int], None] | None = None,
) -> RefreshReport:
    """Recompute the stored matches of these needs (None: every need), committing after
    each chunk unless `commit` is off (the dirty-mark task commits with its marks).

    New pairs get first_seen_at = now; pairs ranked again keep theirs and get a new
    last_seen_at, score and reasons; pairs no longer ranked (or of a closed need) are kept
    with active = False, so a pair that comes back is not "new" again.
    """
    snap, current = snapshot(), scorer()
    info = dict(current.info)
    if need_ids is None:
        ids = list(db.session.execute(select(Need.id).order_by(Need.id)).scalars())
    else:
        ids = sorted(set(need_ids))
    report = report if report is not None else RefreshReport()
    with _long_lived_frozen():
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            _refresh_chunk(part, snap, current, info, report)
            if commit:
                db.session.commit()
            if progress:
                progress(len(part))
    return report


def refresh_all(progress: Callable[[int], None] | None = None, *, jobs: int = 1) -> RefreshReport:
    """Every need's stored matches, now (`flask matching refresh`); with jobs > 1 the needs
    are split between that many forked processes (ranking is CPU-bound, one core each)."""
    if jobs <= 1:
        return refresh_needs(None, progress=progress)
    import multiprocessing as mp

    from flask import current_app

    ids = list(db.session.execute(select(Need.id).order_by(Need.id)).scalars())
    snapshot(), scorer()  # loaded once here, inherited by the children
    app = current_app._get_current_object()
    db.session.remove()
    db.engine.dispose()  # no connection may be shared across the fork
    ctx = mp.get_context("fork")
    done = ctx.Queue()
    # Contiguous runs of ids, not every jobs-th one: an enterprise's needs, created together,
    # then fall to one process, whose cache cuts the enterprise's text once for all of them.
    size = -(-len(ids) // jobs)
    parts = [ids[i : i + size] for i in range(0, len(ids), size)] or [[]]
    children = [ctx.Process(target=_refresh_part, args=(app, part, done)) for part in parts]
    for child in children:
        child.start()
    report, finished = RefreshReport(), 0
    while finished < len(children):
        kind, value = done.get()
        if kind == "progress" and progress:
            progress(value)
        elif kind == "report":
            finished += 1
            for name in ("needs", "inserted", "updated", "deactivated"):
                setattr(report, name, getattr(report, name) + value[name])
        elif kind == "error":
            finished += 1
            log.error("a refresh process failed: %s", value)
    for child in children:
        child.join()
    if any(child.exitcode for child in children):
        raise RuntimeError("a refresh process failed; run `flask matching refresh` again")
    return report


# The dealflow's two ranked indexes and the "new since" one: keyed by product /
# institution, so rows written need by need land all over them. Into an empty table they
# are built afterwards.
DEFERRED_INDEXES = (
    "ix_matches_product_ranked",
    "ix_matches_funder_ranked",
    "ix_matches_funder_first_seen",
)


def _foreign_keys() -> list[Any]:
    return sorted(Match.__table__.foreign_key_constraints, key=lambda c: str(c.name))


def _restore_foreign_keys(missing: list[Any], unchecked: list[Any]) -> None:
    """Add back foreign keys dropped for a bulk fill, without holding up writes to needs,
    products or institutions while 2.7 million rows are checked (28 s at region scale when
    the clean-up and the check ran under one lock). First the keys are added NOT VALID (a
    moment's lock): from then on a deleted need, product or institution takes its stored
    matches with it again. Then the rows of records deleted while the keys were off (no
    cascade then) are deleted, and the keys validated, which blocks no writes. `unchecked`:
    keys already added NOT VALID by a run killed before it validated them."""
    for c in missing:
        ddl = AddConstraint(c).compile(dialect=db.session.get_bind().dialect)
        db.session.execute(text(f"{ddl} NOT VALID"))
    db.session.commit()
    orphan = []
    for c in (*missing, *unchecked):
        (el,) = c.elements  # single-column keys
        ref = el.column
        orphan.append(
            f"(m.{el.parent.name} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            f"{ref.table.name} r WHERE r.{ref.name} = m.{el.parent.name}))"
        )
    sql = f"DELETE FROM matches m WHERE {' OR '.join(orphan)}"
    gone = db.session.execute(text(sql)).rowcount
    db.session.commit()
    for c in (*missing, *unchecked):
        db.session.execute(text(f"ALTER TABLE matches VALIDATE CONSTRAINT {c.name}"))
        db.session.commit()
    if gone:
        log.warning("stored matches: %d row(s) of deleted records removed", gone)


def ensure_indexes() -> list[str]:
    """Create any of DEFERRED_INDEXES and (PostgreSQL) any foreign key of the table that
    is missing (a full recompute killed between dropping and building them); returns the
    names created."""
    conn = db.session.connection()
    made = []
    if conn.dialect.name == "postgresql":
        have = dict(
            conn.execute(
                text("SELECT conname, convalidated FROM pg_constraint "
                     "WHERE conrelid = 'matches'::regclass AND contype = 'f'")
            ).all()
        )  # fmt: skip
        missing = [c for c in _foreign_keys() if c.name not in have]
        unchecked = [c for c in _foreign_keys() if have.get(c.name) is False]
        if missing or unchecked:
            _restore_foreign_keys(missing, unchecked)
            made += [str(c.name) for c in (*missing, *unchecked)]
            conn = db.session.connection()
    present = {ix["name"] for ix in inspect(conn).get_indexes(Match.__tablename__)}
    for index in Match.__table__.indexes:
        if index.name in DEFERRED_INDEXES and index.name not in present:
            index.create(conn)
            made.append(index.name)
    db.session.commit()
    if made:
        log.warning("stored matches: rebuilt missing index(es) / key(s) %s", ", ".join(made))
    return made


@contextmanager
def indexes_built_after() -> Iterator[bool]:
    """Around a full recompute: on PostgreSQL, into an empty matches table (the first one
    after a region's import), DEFERRED_INDEXES and the table's foreign keys are dropped
    while the rows go in, and built and checked once afterwards, as a bulk load does. Every
    row written into those indexes in random order made the recompute write each index
    page again and again, and each row's three key checks (a trigger each) were about
    half of what its insert cost PostgreSQL. A table with rows keeps them: its dealflow
    is being read. Yields whether they were deferred."""
    deferred = (
        db.session.get_bind().dialect.name == "postgresql"
        and db.session.scalar(select(Match.id).limit(1)) is None
    )
    if deferred:
        for name in DEFERRED_INDEXES:
            db.session.execute(text(f"DROP INDEX IF EXISTS {name}"))
        for c in _foreign_keys():
            db.session.execute(text(f"ALTER TABLE matches DROP CONSTRAINT IF EXISTS {c.name}"))
        db.session.commit()
    try:
        yield deferred
    finally:
        if deferred:
            db.session.rollback()
            ensure_indexes()


def _refresh_part(app: Any, ids: list[int], done: Any) -> None:
    try:
        with app.app_context():
            db.engine.dispose(close=False)  # the parent's pool is not ours
            part = refresh_needs(ids, progress=lambda n: done.put(("progress", n)))
            done.put(("report", vars(part)))
    except Exception as exc:  # reported to the parent, which fails the command
        done.put(("error", repr(exc)))
        raise


def need_count() -> int:
    return int(db.session.scalar(select(func.count(Need.id))) or 0)


def need_match_count(need: Need) -> int:
    """Eligible products and funds in the need's latest stored ranking."""
    return int(
        db.session.scalar(
            select(func.count(Match.id)).where(
                Match.need_id == need.id, Match.active.is_(True), Match.eligible.is_(True)
            )
        )
        or 0
    )


def stored_matches(need: Need, *, locale: str | None = None) -> list[dict[str, Any]]:
    """The need's stored ranking (active rows, best first), rendered in `locale`."""
    loc = _locale(locale)
    rows = db.session.execute(
        select(Match).where(Match.need_id == need.id, Match.active.is_(True)).order_by(Match.rank)
    ).scalars()
    return [_stored_item(row, loc) for row in rows]


def _render(row: Match | Row, locale: str, hidden: frozenset[str] = frozenset()) -> list[str]:
    from techfin.matching import Reason, render_reason

    out = []
    for r in row.reasons or []:
        if r.get("code") not in hidden:
            out.append(render_reason(Reason(r["code"], r.get("params") or {}), locale, names()))
    return out


def _stored_item(row: Match | Row, locale: str, hidden: frozenset[str] = frozenset()) -> dict:
    from techfin.matching import Gap, render_gap

    missing = [
        render_gap(Gap(g["code"], g.get("rule", ""), g.get("params") or {}), locale, names())
        for g in row.missing or []
    ]
    return {
        "id": row.id, "need_id": row.need_id, "product_id": row.product_id,
        "funder_id": row.funder_id, "kind": row.kind, "score": round(row.score, 4),
        "eligible": row.eligible, "rank": row.rank, "reasons": _render(row, locale, hidden),
        "missing": missing, "model": {"kind": row.model_kind, "version": row.model_version},
        "first_seen_at": row.first_seen_at, "last_seen_at": row.last_seen_at,
    }  # fmt: skip
