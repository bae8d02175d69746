"""Stored matches: each need's latest ranking, kept for "new since" and counts."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from techfin.extensions import db
from techfin.models import (
    Match,
    Need,
)
from techfin.models.base import utcnow

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    from techfin.matching import (
        Scorer,
    )

from techfin.services.matching.common import ALMOST, KEEP, _jsonable, _locale, names
from techfin.services.matching.snapshot import Snapshot, scorer, snapshot

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ persisted matches


@dataclass
class RefreshReport:
    needs: int = 0
    inserted: int = 0
    updated: int = 0
    deactivated: int = 0

    def summary(self) -> str:
        return (f"refreshed matches of {self.needs} need(s): {self.inserted} new, "
                f"{self.updated} updated, {self.deactivated} no longer ranked")  # fmt: skip


def _key(kind: str, product_id: int | None, funder_id: int) -> tuple[str, int]:
    return ("mandate", funder_id) if kind == "mandate" else ("product", product_id or 0)


def _rank_for_storage(snap: Snapshot, current: Scorer, record: dict[str, Any] | None) -> list:
    from techfin.matching import rank_products_for_need

    if record is None or record["status"] == "closed":
        return []
    ranking = rank_products_for_need(
        record, snap.candidates, current, snap.history, limit=KEEP, almost_limit=ALMOST
    )
    return ranking.matches


def _store_need(
    need_id: int,
    matches: list,
    snap: Snapshot,
    info: dict[str, Any],
    now: datetime,
    existing: dict[tuple[str, int], Match],
    report: RefreshReport,
) -> None:
    seen = set()
    for position, m in enumerate(matches, start=1):
        if m.type == "mandate":
            product_id, funder_id = None, m.id
        else:
            product_id, funder_id = m.id, snap.product_by_id[m.id]["funder"]["id"]
        key = _key(m.type, product_id, funder_id)
        seen.add(key)
        values = {
            "score": float(m.score), "rank": position, "eligible": bool(m.eligible),
            "active": True, "model_kind": str(info.get("kind")),
            "model_version": str(info.get("version"))[:40],
            "reasons": _jsonable([r.to_dict() for r in m.reason_codes]),
            "missing": _jsonable([g.to_dict() for g in m.gaps]), "last_seen_at": now,
        }  # fmt: skip
        row = existing.get(key)
        if row is None:
            db.session.add(Match(need_id=need_id, product_id=product_id, funder_id=funder_id,
                                 kind=m.type, first_seen_at=now, **values))  # fmt: skip
            report.inserted += 1
        else:
            for name, value in values.items():
                setattr(row, name, value)
            report.updated += 1
    for key, row in existing.items():
        if key not in seen and row.active:
            row.active = False
            report.deactivated += 1


def refresh_needs(need_ids: Iterable[int] | None = None, *, chunk: int = 200) -> RefreshReport:
    """Recompute the persisted matches of these needs (None: every need) and commit.

    New pairs get first_seen_at = now; pairs ranked again keep theirs and get a new
    last_seen_at, score and reasons; pairs no longer ranked (or of a closed need) are kept
    with active = False, so a pair that comes back is not "new" again.
    """
    snap, current = snapshot(), scorer()
    info = dict(current.info)
    ids = sorted(snap.need_by_id) if need_ids is None else sorted(set(need_ids))
    report = RefreshReport()
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        for attempt in (1, 2):
            try:
                _refresh_chunk(part, snap, current, info, report)
                db.session.commit()
                break
            except IntegrityError:  # another worker inserted the same pair meanwhile
                db.session.rollback()
                if attempt == 2:
                    raise
    return report


def _refresh_chunk(
    ids: list[int], snap: Snapshot, current: Scorer, info: dict, report: RefreshReport
) -> None:
    now = utcnow()
    existing: dict[int, dict[tuple[str, int], Match]] = defaultdict(dict)
    for row in db.session.execute(select(Match).where(Match.need_id.in_(ids))).scalars():
        existing[row.need_id][_key(row.kind, row.product_id, row.funder_id)] = row
    for need_id in ids:
        record = snap.need_by_id.get(need_id)
        if record is None and not existing.get(need_id):
            continue
        matches = _rank_for_storage(snap, current, record)
        _store_need(need_id, matches, snap, info, now, existing[need_id], report)
        report.needs += 1


def needs_affected_by_products(product_ids: Iterable[int]) -> set[int]:
    """Needs whose stored ranking a change of these products may alter: those that list
    one of them now, those it ranks now (eligible or almost), and drafts of its kind."""
    from techfin.matching import rank_needs_for_product

    snap = snapshot()
    wanted = set(product_ids)
    out = set(
        db.session.execute(select(Match.need_id).where(Match.product_id.in_(wanted))).scalars()
    )
    kinds = set()
    for pid in wanted:
        record = snap.product_by_id.get(pid)
        if record is None:
            continue
        kinds.add(record["kind"])
        ranking = rank_needs_for_product(record, snap.needs, None, snap.history,
                                         limit=len(snap.need_by_id) + 1,
                                         almost_limit=len(snap.need_by_id) + 1)  # fmt: skip
        out.update(m.id for m in ranking.matches)
    out.update(n["id"] for n in snap.need_by_id.values()
               if n["status"] == "draft" and n["kind"] in kinds)  # fmt: skip
    return out


def refresh_products(product_ids: Iterable[int]) -> RefreshReport:
    return refresh_needs(needs_affected_by_products(product_ids))


def refresh_all() -> RefreshReport:
    return refresh_needs(None)


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
