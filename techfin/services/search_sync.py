"""Keeps the search index in step with the database through the outbox.

Every flush that touches an indexed record writes outbox rows in the same transaction
(SQLAlchemy `after_flush`), so a committed change is never forgotten. After the request (or
CLI command) the outbox is applied to this process's index by `sync()`. Documents are
rebuilt from the database when applied, which makes applying idempotent: a killed worker
leaves the index behind, never wrong, and the next sync catches up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from techfin import reference
from techfin.extensions import db
from techfin.models import (
    Copyright,
    Enterprise,
    Funder,
    Need,
    Patent,
    Product,
    SearchOutbox,
    SharingRule,
    Trademark,
)
from techfin.models.base import utcnow

log = logging.getLogger(__name__)

# Transactions still open when a later one commits can hold smaller sequence numbers:
# re-apply anything this recent on every sync (cheap, and idempotent).
IN_FLIGHT = timedelta(minutes=2)
DocKey = tuple[str, int]


# ------------------------------------------------------------------ documents


def _version(doc: dict[str, Any]) -> str:
    payload = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(payload.encode(), usedforsecurity=False).hexdigest()[:16]


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    doc["version"] = _version(doc)
    return doc


def _place_text(industry: str | None, region: str | None) -> str:
    parts = []
    for locale in ("zh", "en"):
        if industry:
            parts.append(reference.industry_name(industry, locale) or "")
        if region:
            parts.append(reference.region_name(region, locale, full=True) or "")
    return " ".join(p for p in parts if p)


def _sharing_funders(enterprise_id: int, attr: str) -> tuple[bool, list[int]]:
    """(shared with every verified funder, [funder ids it is shared with explicitly])."""
    rules = db.session.execute(
        select(SharingRule).where(SharingRule.enterprise_id == enterprise_id)
    ).scalars()
    everyone, explicit, denied = False, [], []
    for rule in rules:
        if rule.funder_id is None:
            everyone = bool(getattr(rule, attr))
        elif getattr(rule, attr):
            explicit.append(rule.funder_id)
        else:
            denied.append(rule.funder_id)
    if everyone and denied:
        # "All funders except X" cannot be said with one flag: list the allowed ones.
        verified = db.session.execute(select(Funder.id).where(Funder.status == "verified"))
        explicit = sorted({f for f in verified.scalars() if f not in denied} | set(explicit))
        everyone = False
    return everyone, sorted(explicit)


def _financials_audience(
    enterprise_id: int, shared: tuple[bool, list[int]] | None = None
) -> dict[str, Any]:
    """Revenue and SME size are financials: only whom the enterprise shares them with (its
    own users and operators always) may filter, facet or sort by them (access.py rules)."""
    everyone, explicit = shared or _sharing_funders(enterprise_id, "financials")
    return {"restricted_visibility": "institutions" if everyone else "owner",
            "restricted_shared_with": explicit}  # fmt: skip


def enterprise_doc(e: Enterprise) -> dict[str, Any]:
    has_need = db.session.scalar(
        select(Need.id).where(Need.enterprise_id == e.id, Need.status == "published").limit(1)
    )
    all_fin, fin_to = _sharing_funders(e.id, "financials")
    all_pat, pat_to = _sharing_funders(e.id, "patents")
    return _finish({
        "restricted": ["amount", "size"], **_financials_audience(e.id, (all_fin, fin_to)),
        "type": "enterprise", "id": e.id, "ref": e.ref, "title": e.name,
        "body": " ".join([e.description or "", _place_text(e.industry, e.region)]),
        "org_id": e.id, "org_name": e.name,
        "visibility": "institutions" if (has_need or all_fin or all_pat) else "owner",
        "shared_with": sorted(set(fin_to) | set(pat_to)),
        "kind": "enterprise", "industry": e.industry, "region": e.region, "stage": e.stage,
        "size": e.size_class, "status": "high_tech" if e.high_tech else "",
        "amount": e.revenue_cny, "date": e.updated_at.isoformat() if e.updated_at else None,
    })  # fmt: skip


def need_doc(n: Need) -> dict[str, Any]:
    e = n.enterprise
    return _finish({
        "restricted": ["size"], **_financials_audience(e.id),
        "type": "need", "id": n.id, "ref": n.ref, "title": f"{e.name} · {n.purpose or n.kind}",
        "body": " ".join([n.purpose or "", e.description or "", _place_text(e.industry, e.region)]),
        "org_id": e.id, "org_name": e.name,
        "visibility": "institutions" if n.status == "published" else "owner",
        "shared_with": [], "kind": n.kind, "industry": e.industry, "region": e.region,
        "stage": e.stage, "size": e.size_class, "status": n.status, "amount": n.amount_cny,
        "date": (n.created or n.created_at.date()).isoformat(),
    })  # fmt: skip


def product_doc(p: Product) -> dict[str, Any]:
    f = p.funder
    public = p.status == "active" and f.status == "verified"
    return _finish({
        "type": "product", "id": p.id, "ref": p.ref, "title": p.name,
        "body": " ".join([p.description or "", f.name]),
        "org_id": f.id, "org_name": f.name, "visibility": "public" if public else "owner",
        "shared_with": [], "kind": p.kind, "industry": None, "region": None, "stage": None,
        "size": None,
        "status": p.status, "amount": p.max_amount_cny,
        "date": p.updated_at.isoformat() if p.updated_at else None,
    })  # fmt: skip


def funder_doc(f: Funder) -> dict[str, Any]:
    return _finish({
        "type": "funder", "id": f.id, "ref": f.ref, "title": f.name, "body": f.description or "",
        "org_id": f.id, "org_name": f.name,
        "visibility": "public" if f.status == "verified" else "owner", "shared_with": [],
        "kind": f.kind, "industry": None, "region": None, "stage": None,
        "size": None, "status": f.status, "amount": None,
        "date": f.updated_at.isoformat() if f.updated_at else None,
    })  # fmt: skip


def patent_doc(p: Patent) -> dict[str, Any] | None:
    if p.confidential:
        return None  # never indexed: nothing to leak through results, counts or highlights
    e = p.enterprise
    everyone, explicit = _sharing_funders(e.id, "patents")
    return _finish({
        "type": "patent", "id": p.id, "ref": p.ref, "title": p.title,
        "body": " ".join([p.abstract or "", p.number, e.name]),
        "org_id": e.id, "org_name": e.name,
        "visibility": "institutions" if everyone else "owner", "shared_with": explicit,
        "kind": p.kind, "industry": e.industry, "region": e.region, "stage": None, "size": None,
        "status": p.status, "amount": p.valuation_cny,
        "date": (p.granted or p.filed or p.created_at.date()).isoformat(),
    })  # fmt: skip


def _ip_doc(row: Copyright | Trademark, doc_type: str, title: str, body: str, kind: str):  # noqa: ANN202
    """A software copyright or trademark: indexed like a patent (never when confidential,
    seen by the institutions the enterprise shares its IP with: the "patents" rule covers
    all of its IP)."""
    if row.confidential:
        return None
    e = row.enterprise
    everyone, explicit = _sharing_funders(e.id, "patents")
    return _finish({
        "type": doc_type, "id": row.id, "ref": row.ref, "title": title,
        "body": " ".join([body, row.number, e.name]),
        "org_id": e.id, "org_name": e.name,
        "visibility": "institutions" if everyone else "owner", "shared_with": explicit,
        "kind": kind, "industry": e.industry, "region": e.region, "stage": None, "size": None,
        "status": row.status, "amount": row.valuation_cny,
        "date": (row.registered or row.created_at.date()).isoformat(),
    })  # fmt: skip


def copyright_doc(c: Copyright) -> dict[str, Any] | None:
    return _ip_doc(c, "copyright", c.title, "软件著作权 software copyright", "software_copyright")


def trademark_doc(t: Trademark) -> dict[str, Any] | None:
    return _ip_doc(t, "trademark", t.name, f"商标 trademark 第{t.nice_class}类", "trademark")


MODELS: dict[str, tuple[type, Callable[[Any], dict[str, Any] | None]]] = {
    "enterprise": (Enterprise, enterprise_doc),
    "need": (Need, need_doc),
    "product": (Product, product_doc),
    "funder": (Funder, funder_doc),
    "patent": (Patent, patent_doc),
    "copyright": (Copyright, copyright_doc),
    "trademark": (Trademark, trademark_doc),
}

# The enterprise's IP documents: their audience follows its sharing rule, their text its name.
IP_DOCS = (("patent", Patent), ("copyright", Copyright), ("trademark", Trademark))


def build_doc(doc_type: str, doc_id: int) -> dict[str, Any] | None:
    model, builder = MODELS[doc_type]
    row = db.session.get(model, doc_id)
    return builder(row) if row is not None else None


def all_docs() -> Iterator[dict[str, Any]]:
    for _doc_type, (model, builder) in MODELS.items():
        for row in db.session.execute(select(model).order_by(model.id)).scalars():
            doc = builder(row)
            if doc is not None:
                yield doc


# ------------------------------------------------------------------ outbox hooks


def _affected(session: Session) -> set[DocKey]:
    """Documents a flush changes. Runs inside the flush: related ids come from plain
    selects, never from loading relationship collections (that would touch the identity
    map mid-flush)."""
    keys: set[DocKey] = set()

    def ids(stmt) -> list[int]:  # noqa: ANN001
        return list(session.execute(stmt).scalars())

    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Enterprise):
            keys.add(("enterprise", obj.id))
            keys.update(
                ("need", i) for i in ids(select(Need.id).where(Need.enterprise_id == obj.id))
            )
            for kind, model in IP_DOCS:
                keys.update(
                    (kind, i) for i in ids(select(model.id).where(model.enterprise_id == obj.id))
                )
        elif isinstance(obj, Need):
            keys.add(("need", obj.id))
            keys.add(("enterprise", obj.enterprise_id))
        elif isinstance(obj, Patent):
            keys.add(("patent", obj.id))
        elif isinstance(obj, Copyright):
            keys.add(("copyright", obj.id))
        elif isinstance(obj, Trademark):
            keys.add(("trademark", obj.id))
        elif isinstance(obj, Product):
            keys.add(("product", obj.id))
        elif isinstance(obj, Funder):
            keys.add(("funder", obj.id))
            keys.update(
                ("product", i) for i in ids(select(Product.id).where(Product.funder_id == obj.id))
            )
            keys.update(_patents_shared_with_all(session))
            keys.update(_shared_with_all_but_some(session))
        elif isinstance(obj, SharingRule):
            keys.add(("enterprise", obj.enterprise_id))
            # A need's SME size follows its enterprise's financials rule.
            keys.update(
                ("need", i)
                for i in ids(select(Need.id).where(Need.enterprise_id == obj.enterprise_id))
            )
            for kind, model in IP_DOCS:
                keys.update(
                    (kind, i)
                    for i in ids(select(model.id).where(model.enterprise_id == obj.enterprise_id))
                )
    return {k for k in keys if k[1] is not None}


def _patents_shared_with_all(session: Session) -> set[DocKey]:
    """IP documents shared with "every verified institution": the roster is their audience."""
    sub = select(SharingRule.enterprise_id).where(SharingRule.funder_id.is_(None))
    keys: set[DocKey] = set()
    for kind, model in IP_DOCS:
        ids = session.execute(select(model.id).where(model.enterprise_id.in_(sub))).scalars()
        keys.update((kind, i) for i in ids)
    return keys


def _shared_with_all_but_some(session: Session) -> set[DocKey]:
    """Enterprises (and their needs) whose 'all funders except …' audience is a list of the
    verified funders at build time: a funder's verification changes that list."""
    everyone = select(SharingRule.enterprise_id).where(SharingRule.funder_id.is_(None))
    exceptions = select(SharingRule.enterprise_id).where(
        SharingRule.funder_id.is_not(None), SharingRule.enterprise_id.in_(everyone)
    )
    ids = set(session.execute(exceptions).scalars())
    if not ids:
        return set()
    needs = session.execute(select(Need.id).where(Need.enterprise_id.in_(ids))).scalars()
    return {("enterprise", i) for i in ids} | {("need", i) for i in needs}


def _after_flush(session: Session, _ctx: Any) -> None:
    if session.info.get("search_outbox_off"):
        return
    with session.no_autoflush:
        keys = _affected(session)
    if keys:
        now = utcnow()
        session.connection().execute(
            insert(SearchOutbox),
            [{"doc_type": t, "doc_id": i, "created_at": now} for t, i in sorted(keys)],
        )
        session.info["search_dirty"] = True


def install_hooks() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


# ------------------------------------------------------------------ applying


def engine():  # noqa: ANN201 - techfin.search.SearchEngine
    """This process's index (one per INDEX_DIR)."""
    from techfin.search import SearchEngine

    app = current_app._get_current_object()
    store = app.extensions.setdefault("search_engines", {})
    path = app.config["INDEX_DIR"]
    if path not in store:
        store[path] = SearchEngine(path)
    return store[path]


def pending_changes(applied: int, gaps: set[int] | None = None) -> tuple[list[dict], set[int]]:
    """Changes after `applied`, plus any rows in `gaps` that have committed since.

    With PostgreSQL a transaction can commit after a later one, so numbers below the applied
    position may appear late. `gaps` are the numbers missing at the previous sync; None
    (a fresh process) falls back to re-reading everything from the last IN_FLIGHT minutes.
    Returns the changes and the numbers still missing below the top.
    """
    if gaps is None:
        extra = SearchOutbox.created_at >= utcnow() - IN_FLIGHT
    else:
        extra = SearchOutbox.seq.in_(sorted(gaps)) if gaps else db.false()
    rows = db.session.execute(
        select(SearchOutbox).where((SearchOutbox.seq > applied) | extra).order_by(SearchOutbox.seq)
    ).scalars()
    latest: dict[DocKey, int] = {}
    seen: set[int] = set()
    for row in rows:
        latest[(row.doc_type, row.doc_id)] = row.seq
        seen.add(row.seq)
    top = max(seen) if seen else applied
    missing = (set(range(applied + 1, top + 1)) | (gaps or set())) - seen
    changes = []
    for (doc_type, doc_id), seq in sorted(latest.items(), key=lambda kv: kv[1]):
        doc = build_doc(doc_type, doc_id)
        changes.append({"seq": seq, "op": "upsert" if doc else "delete", "type": doc_type,
                        "id": doc_id, "doc": doc})  # fmt: skip
    return changes, missing


# index path → {missing sequence number: first seen missing (monotonic seconds)}
_GAPS: dict[str, dict[int, float]] = {}


# (process id, index path) that have synced once: a forked worker starts without its parent's.
_STARTED: set[tuple[int, str]] = set()


def max_seq() -> int:
    return db.session.scalar(select(db.func.max(SearchOutbox.seq))) or 0


def sync(*, background: bool = False) -> int:
    """Apply what this index has not seen yet; returns the number of changes applied.

    `background` (the worker's scheduled check, `flask search sync`): Whoosh may merge
    large segments and the writer lock is awaited longer; a request's sync does neither."""
    eng = engine()
    path = current_app.config["INDEX_DIR"]
    known = _GAPS.get(path)
    applied = eng.applied_seq()
    changes, missing = pending_changes(applied, set(known) if known is not None else None)
    now = time.monotonic()
    horizon = IN_FLIGHT.total_seconds()
    _GAPS[path] = {
        seq: (known or {}).get(seq, now)
        for seq in missing
        if now - (known or {}).get(seq, now) < horizon  # a gap this old was a rollback
    }
    fresh = [c for c in changes if c["seq"] > applied]
    late = [c for c in changes if c["seq"] <= applied]
    top = max([applied, *(c["seq"] for c in fresh)])
    if fresh:
        eng.apply(fresh, upto_seq=top, background=background)
    if late:
        done = {(c["type"], c["id"]) for c in fresh}
        _apply_late(eng, [c for c in late if (c["type"], c["id"]) not in done])
    return len(changes)


def _version_of(doc: dict[str, Any] | None) -> str | None:
    return doc["version"] if doc else None


# Above this many late documents, compare with the index first instead of rewriting each.
LATE_DIRECT_MAX = 4


def _apply_late(eng: Any, late: list[dict]) -> None:
    """Write changes numbered at or below the index position.

    PostgreSQL hands out outbox numbers at insert, not at commit, so a change can commit
    after a larger number was applied. `apply()` skips such numbers by design (that makes
    replays harmless), so their documents, rebuilt from the database just now, are written
    one by one. A fresh process re-reads the last IN_FLIGHT minutes, which are mostly
    applied already: there, only documents that differ from the index are written.
    """
    docs = {(c["type"], c["id"]): c["doc"] for c in late}
    if len(docs) > LATE_DIRECT_MAX:
        expected = {key: doc["version"] for key, doc in docs.items() if doc is not None}
        drift = eng.check(expected)
        differ = set(drift["missing"]) | set(drift["stale"])
        present = set(drift["extra"])
        docs = {
            key: doc
            for key, doc in docs.items()
            if (key in differ if doc is not None else key in present)
        }
    for _round in range(3):
        for (doc_type, doc_id), doc in docs.items():
            if doc is None:
                eng.remove(doc_type, doc_id)
            else:
                eng.index(doc)
        # A writer that committed this document meanwhile may have applied its newer
        # version before ours landed: read the committed state again; rewrite what moved.
        db.session.expire_all()
        rebuilt = {key: build_doc(*key) for key in docs}
        docs = {
            key: doc for key, doc in rebuilt.items() if _version_of(doc) != _version_of(docs[key])
        }
        if not docs:
            return


def doc_estimate() -> int:
    """Rows that may become documents (for a progress bar's length)."""
    return sum(
        db.session.scalar(select(db.func.count()).select_from(model)) or 0
        for model, _builder in MODELS.values()
    )


def reindex(
    progress: Callable[[int, int | None], None] | None = None,
    merging: Callable[[int], None] | None = None,
) -> int:
    """Rebuild the whole index from the database (as one segment) and swap it in
    atomically."""
    top = max_seq()
    docs = list(all_docs())
    engine().rebuild(docs, upto_seq=top, progress=progress, merging=merging)
    return len(docs)


def compact(at_least: int | None = None, *, everything: bool = False) -> dict[str, int]:
    """Merge the segments this node's index accumulated once there are enough of them
    (background work: the scheduled check, `flask search compact`; SearchEngine.compact)."""
    from techfin.search.engine import COMPACT_AT

    at_least = COMPACT_AT if at_least is None else at_least
    return engine().compact(at_least=at_least, everything=everything)


def check() -> dict[str, list]:
    expected = {(d["type"], d["id"]): d["version"] for d in all_docs()}
    return engine().check(expected)


def scheduled_check() -> str:
    """The worker's hourly job: compare with the database and sync on drift; merge the
    index of the host it runs on once it has COMPACT_AT segments (the requests' syncs only
    ever merge tiny ones). Returns the line the system page shows."""
    from techfin.search import IndexBusy

    drift = check()
    try:
        merged = compact()
    except IndexBusy:  # a rebuild or a long sync holds the writer: next hour
        merged = {"before": 0, "after": 0}
    merge = (f"; merged {merged['before']} segments into {merged['after']}"
             if merged["after"] < merged["before"] else "")  # fmt: skip
    if not any(drift.values()):
        return f"index consistent{merge}"
    applied = sync(background=True)
    left = check()
    counts = {k: len(v) for k, v in drift.items()}
    if any(left.values()):
        return f"drift {counts}; sync applied {applied}{merge}; still differs: reindex"
    return f"drift {counts}; sync applied {applied}{merge}; consistent"


def catch_up() -> None:
    """Before a search: apply what any node committed since this index last synced.

    Each web node keeps its own index and syncs after its own writes; a write through
    another node is seen here at the next search (one max() on the outbox's key when the
    index is current). Late-numbered rows and gaps are left to sync()'s in-flight window
    and the scheduled check.
    """
    if current_app.config.get("SEARCH_SYNC_OFF"):
        return
    try:
        if max_seq() > engine().applied_seq():
            sync()
    except Exception:  # a search must still answer from the index it has
        db.session.rollback()
        log.exception("search catch-up failed; the scheduled check will sync")


def _node_upkeep() -> None:
    """After a response: once this node's index has COMPACT_AT segments, merge the ones
    its writes added if that rewrites at most NODE_COMPACT_DOCS documents (else the
    scheduled check does it). Each web node keeps its own index, and only the host running
    the scheduler's check would merge otherwise."""
    from techfin.search import IndexBusy
    from techfin.search import engine as search_engine

    try:
        engine().compact(at_least=search_engine.COMPACT_AT,
                         max_docs=search_engine.NODE_COMPACT_DOCS,
                         timeout=search_engine.REQUEST_WRITER_WAIT)  # fmt: skip
    except IndexBusy:  # another process is writing or merging: a later write merges
        log.info("search index busy; this node's merge waits for a later write")


def sync_quietly() -> None:
    """After a response (techfin.after_response, in a session of its own): best effort,
    the outbox keeps anything this misses."""
    try:
        sync()
    except Exception as exc:  # the index must never break a write that already committed
        from techfin.search import IndexBusy

        if isinstance(exc, IndexBusy):  # another process is writing (or merging) it
            log.warning("search index busy (%s); the next sync applies this change", exc)
        else:
            log.exception("search sync failed; `flask search sync` will catch up")
        return
    try:
        _node_upkeep()
    except Exception:  # noqa: BLE001 - upkeep only: the index is current either way
        log.exception("search index merge failed; the scheduled check merges")


def init_app(app: Flask) -> None:
    from techfin.after_response import later

    install_hooks()

    @app.teardown_request
    def _sync_after_write(_exc: BaseException | None) -> None:
        dirty = db.session.info.pop("search_dirty", False)
        if app.config.get("SEARCH_SYNC_OFF"):
            return
        # A process's first request also syncs: the worker it replaces may have been killed
        # between a commit and its sync, and without this its changes would wait for the
        # next write anywhere (reads never sync).
        first = (os.getpid(), app.config["INDEX_DIR"]) not in _STARTED
        if dirty or first:
            _STARTED.add((os.getpid(), app.config["INDEX_DIR"]))
            # Uncommitted work of the view is discarded now; the sync itself waits until
            # the answer is sent (techfin.after_response), in a session of its own.
            try:
                db.session.rollback()
            except Exception:  # noqa: BLE001 - a lost connection: the sync gets a new one
                db.session.remove()
            later(sync_quietly)
