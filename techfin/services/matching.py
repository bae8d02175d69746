"""Matching wired into the platform: database rows → the matching library's plain dicts,
per-process cached candidate sets, the model store, access-checked rankings, persisted
matches (for "new since") and their refresh, training and evaluation.

The library (techfin.matching) never sees Flask or SQLAlchemy; this module is the only
bridge. Rankings are computed live from a snapshot of the catalogue that is rebuilt when
the catalogue's fingerprint (row counts and latest updated_at of products, funders,
needs, enterprises, patents and outcomes) changes, so every worker sees a change on its
next request. The `matches` table keeps each need's latest ranking; it is refreshed after
any request (or CLI command) that changed a need, product, patent, enterprise or funder,
after `flask matching train`, and in full by `flask matching refresh`.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from techfin import mail, reference
from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import (
    OUTCOME_STAGES,
    Enterprise,
    Funder,
    Match,
    Membership,
    Need,
    Organization,
    Outcome,
    Patent,
    Product,
    User,
)
from techfin.models.base import utcnow
from techfin.services import access, audit, catalog
from techfin.urls import site_link, site_path

if TYPE_CHECKING:  # the library (numpy, scikit-learn, jieba) is imported on first use
    from techfin.matching import (
        CandidateSet,
        Examples,
        History,
        NeedSet,
        Scorer,
        TrainedModel,
    )

log = logging.getLogger(__name__)

MANDATE_FUNDER_KINDS = ("vc", "guidance_fund")  # as techfin.matching.profiles

KEEP = 50  # eligible matches persisted per need
ALMOST = 5  # "almost eligible" matches persisted / shown per need or product
MAX_LIMIT = 100
AUTO_REFRESH_MAX = 2000  # more needs than this after one change: leave it to `matching refresh`
# Reason codes that disclose an enterprise's financials or patents: an institution sees
# them only where the enterprise shares that data with it (confidential patents never).
FINANCIAL_REASONS = frozenset({"revenue", "staff", "sme_size"})
PATENT_REASONS = frozenset({"invention_patents", "patent_coverage"})
# Pipeline: where a (need, product) pair may go from its current stage.
NEXT_STAGES: dict[str | None, tuple[str, ...]] = {
    None: ("recommended", "contacted", "meeting", "declined"),
    "recommended": ("contacted", "meeting", "declined", "withdrawn"),
    "contacted": ("meeting", "approved", "declined", "withdrawn"),
    "meeting": ("approved", "declined", "withdrawn"),
    "approved": ("funded", "declined", "withdrawn"),
    "funded": (),
    "declined": (),
    "withdrawn": (),
}
LOAN_KINDS = ("loan", "ip_pledge")


# ------------------------------------------------------------------ records → library dicts


def _size(e: Enterprise) -> str | None:
    try:
        return e.size_class
    except (ValueError, LookupError):  # figures the SME rules refuse: the library estimates
        return None


def enterprise_dict(e: Enterprise, patents: list[dict[str, Any]]) -> dict[str, Any]:
    """An enterprise as the library reads it; `patents` include confidential ones (they
    count for eligibility; nothing here is ever shown)."""
    return {
        "id": e.id, "ref": e.ref, "name": e.name, "industry": e.industry, "region": e.region,
        "stage": e.stage, "high_tech": e.high_tech, "employees": e.employees,
        "revenue_cny": e.revenue_cny, "description": e.description, "size": _size(e),
        "patents": patents,
    }  # fmt: skip


def need_dict(n: Need, enterprise: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": n.id, "ref": n.ref, "kind": n.kind, "status": n.status, "amount_cny": n.amount_cny,
        "term_months": n.term_months, "purpose": n.purpose,
        "collateral_available": n.collateral_available, "created": n.created,
        "enterprise": enterprise,
    }  # fmt: skip


def funder_dict(f: Funder) -> dict[str, Any]:
    return {
        "id": f.id, "ref": f.ref, "name": f.name, "kind": f.kind, "regions": list(f.regions or []),
        "description": f.description, "status": f.status, "verified": f.verified,
    }  # fmt: skip


def product_dict(p: Product, funder: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": p.id, "ref": p.ref, "name": p.name, "kind": p.kind,
        "min_amount_cny": p.min_amount_cny, "max_amount_cny": p.max_amount_cny,
        "min_term_months": p.min_term_months, "max_term_months": p.max_term_months,
        "rate_min": p.rate_min, "rate_max": p.rate_max, "industries": list(p.industries or []),
        "regions": list(p.regions or []), "stages": list(p.stages or []),
        "requires_patent": p.requires_patent, "requires_collateral": p.requires_collateral,
        "requires_high_tech": p.requires_high_tech, "status": p.status,
        "description": p.description, "funder": funder,
    }  # fmt: skip


# ------------------------------------------------------------------ the cached snapshot


@dataclass
class Snapshot:
    """The catalogue as the library sees it, built once per fingerprint."""

    key: tuple
    candidates: CandidateSet
    needs: NeedSet
    need_by_id: dict[int, dict[str, Any]]
    product_by_id: dict[int, dict[str, Any]]
    funder_by_id: dict[int, dict[str, Any]]
    outcomes: list[dict[str, Any]]
    history: History
    confidential: set[int]  # enterprises holding a confidential granted patent

    @property
    def mandate_count(self) -> int:
        return sum(1 for f in self.funder_by_id.values() if f["kind"] in MANDATE_FUNDER_KINDS)


class _State:
    """Per app (so per process): the snapshot, the model store, what was logged."""

    def __init__(self, app: Flask) -> None:
        from techfin.matching import ModelStore

        self.lock = threading.Lock()
        self.snapshot: Snapshot | None = None
        self.store = ModelStore(
            app.config["MODEL_DIR"], check_interval=app.config.get("MATCHING_MODEL_CHECK", 5.0)
        )
        self.logged_error: str | None = None


def _state() -> _State:
    app = current_app._get_current_object()
    state = app.extensions.get("techfin_matching")
    if state is None:
        state = app.extensions.setdefault("techfin_matching", _State(app))
    return state


_FINGERPRINTED = (Product, Funder, Need, Enterprise, Patent, Outcome)


def fingerprint() -> tuple:
    """Row counts and latest updated_at of everything a ranking reads (one query)."""
    cols = []
    for model in _FINGERPRINTED:
        cols.append(select(func.count(model.id)).scalar_subquery())
        cols.append(select(func.max(model.updated_at)).scalar_subquery())
    return tuple(db.session.execute(select(*cols)).one())


def load_snapshot(key: tuple = ()) -> Snapshot:
    """Read the catalogue and build the library's sets (one jieba pass over all texts)."""
    from techfin.matching import History, build_sets

    funders = {f.id: funder_dict(f) for f in db.session.execute(select(Funder)).scalars()}
    patents: dict[int, list[dict[str, Any]]] = defaultdict(list)
    confidential: set[int] = set()
    rows = db.session.execute(
        select(
            Patent.enterprise_id,
            Patent.kind,
            Patent.status,
            Patent.valuation_cny,
            Patent.confidential,
        )  # fmt: skip
    )
    for eid, kind, status, value, secret in rows:
        patents[eid].append({"kind": kind, "status": status, "valuation_cny": value})
        if secret and status == "granted":
            confidential.add(eid)
    enterprises = {
        e.id: enterprise_dict(e, patents.get(e.id, []))
        for e in db.session.execute(select(Enterprise)).scalars()
    }
    needs = [
        need_dict(n, enterprises[n.enterprise_id])
        for n in db.session.execute(select(Need).order_by(Need.id)).scalars()
    ]
    products = [
        product_dict(p, funders[p.funder_id])
        for p in db.session.execute(select(Product).order_by(Product.id)).scalars()
    ]
    outcomes = _load_outcomes()
    candidates, need_set = build_sets(products, needs, list(funders.values()))
    need_by_id = {n["id"]: n for n in needs}
    product_by_id = {p["id"]: p for p in products}
    history = History.from_outcomes(outcomes, need_by_id, product_by_id)
    return Snapshot(key, candidates, need_set, need_by_id, product_by_id, funders, outcomes,
                    history, confidential)  # fmt: skip


def _load_outcomes() -> list[dict[str, Any]]:
    return [
        {"need_id": n, "product_id": p, "stage": s, "date": d}
        for n, p, s, d in db.session.execute(
            select(Outcome.need_id, Outcome.product_id, Outcome.stage, Outcome.date)
        )
    ]


# Outcome is fingerprinted last: its two columns are the only ones a pipeline step changes.
_CATALOGUE = 2 * (len(_FINGERPRINTED) - 1)


def _with_new_outcomes(snap: Snapshot, key: tuple) -> Snapshot:
    """The same catalogue with the current outcome history: a docking step or an "express
    interest" changes only the history, and re-reading and re-vectorising the whole
    catalogue in every worker after each one cost more than the pages that followed."""
    from techfin.matching import History

    outcomes = _load_outcomes()
    history = History.from_outcomes(outcomes, snap.need_by_id, snap.product_by_id)
    return replace(snap, key=key, outcomes=outcomes, history=history)


def snapshot() -> Snapshot:
    """The current snapshot, rebuilt when the catalogue changed since it was built."""
    state = _state()
    key = fingerprint()
    snap = state.snapshot
    if snap is not None and snap.key == key:
        return snap
    with state.lock:
        snap = state.snapshot
        if snap is None or snap.key != key:
            if snap is not None and snap.key[:_CATALOGUE] == key[:_CATALOGUE]:
                state.snapshot = _with_new_outcomes(snap, key)
            else:
                state.snapshot = load_snapshot(key)
        return state.snapshot


def scorer() -> Scorer:
    """The newest trained model, or the Prior when there is none or it cannot be loaded
    (a broken model file is logged as an error once, and never breaks a page)."""
    from techfin.matching import Prior
    from techfin.matching.persistence import model_files

    state = _state()
    try:
        current = state.store.get()
    except Exception:  # the store itself must never take a page down
        log.exception("matching model store failed; ranking with the prior")
        return Prior()
    error = state.store.error
    if error and model_files(state.store.directory):
        if error != state.logged_error:
            log.error("matching model unusable, ranking with the rule-based prior: %s", error)
            state.logged_error = error
    else:
        state.logged_error = None
    return current


def model_info() -> dict[str, Any]:
    """{"kind": "learned" | "prior", "version", and for a learned model its metadata}."""
    from techfin.matching import TrainedModel

    current = scorer()
    info = dict(current.info)
    if isinstance(current, TrainedModel):
        meta = current.metadata
        info.update(trained_at=meta.get("trained_at"), n_samples=meta.get("n_samples"),
                    metrics=meta.get("metrics"))  # fmt: skip
    return info


_NAMES: Any = None


def names() -> Any:
    """Region / industry display names from techfin.reference (computed once)."""
    from techfin.matching import reference_names

    global _NAMES
    if _NAMES is None:
        _NAMES = reference_names() or {}
    return _NAMES or None


def _locale(locale: str | None) -> str:
    if locale:
        return locale
    from techfin.i18n import current_locale

    try:
        return current_locale()
    except RuntimeError:
        return "zh_CN"


def _limit(limit: Any, default: int = 20) -> int:
    try:
        value = int(limit)
    except (TypeError, ValueError):
        value = default
    return max(1, min(MAX_LIMIT, value))


# ------------------------------------------------------------------ shapes


def _funder_public(f: dict[str, Any]) -> dict[str, Any]:
    return {"id": f["id"], "ref": f["ref"], "name": f["name"], "kind": f["kind"]}


def product_summary(p: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "ref", "name", "kind", "min_amount_cny", "max_amount_cny", "min_term_months",
            "max_term_months", "rate_min", "rate_max")  # fmt: skip
    return {**{k: p[k] for k in keys}, "funder": _funder_public(p["funder"])}


def need_summary(n: dict[str, Any]) -> dict[str, Any]:
    e = n["enterprise"]
    created = n["created"].isoformat() if isinstance(n["created"], date) else n["created"]
    return {
        "id": n["id"], "ref": n["ref"], "name": e["name"], "kind": n["kind"],
        "amount_cny": n["amount_cny"], "term_months": n["term_months"], "purpose": n["purpose"],
        "created": created,
        "enterprise": {"id": e["id"], "ref": e["ref"], "name": e["name"],
                       "industry": e["industry"], "region": e["region"], "stage": e["stage"],
                       "high_tech": e["high_tech"]},
    }  # fmt: skip


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=float))


# ------------------------------------------------------------------ live rankings


def _check_need(user: User, need: Need) -> None:
    if not access.can_view_need(user, need):
        raise NotFound("no such need")
    if not (user.is_operator or access.can_edit_need(user, need)):
        raise Forbidden("Only the enterprise sees its matches / 仅企业本身可查看需求的匹配")


def matches_for_need(
    user: User,
    need: Need,
    limit: Any = 20,
    *,
    locale: str | None = None,
    include_mandates: bool = False,
    include_almost: bool = True,
) -> dict[str, Any]:
    """Products (and, with include_mandates, VC / guidance-fund mandates) for one need.

    Only the enterprise owning the need and operators may ask (others: NotFound or
    Forbidden). Shape (interchange.md): {"model": {"kind", "version"}, "matches": [{"type":
    "product", "product": {"id", "ref", "name", …, "funder": {…}}, "score", "eligible",
    "reasons", "missing"}]}; a mandate entry has "type": "mandate" and "funder" instead of
    "product". Eligible entries first (best first), then almost-eligible ones.
    """
    from techfin.matching import rank_products_for_need

    _check_need(user, need)
    snap, current = snapshot(), scorer()
    record = snap.need_by_id.get(need.id)
    if record is None:
        raise NotFound("no such need")
    n = _limit(limit)
    extra = 0 if include_mandates else snap.mandate_count
    ranking = rank_products_for_need(
        record, snap.candidates, current, snap.history, locale=_locale(locale),
        limit=n + extra, include_almost=include_almost, almost_limit=ALMOST + extra,
        names=names(),
    )  # fmt: skip
    eligible, almost = [], []
    for m in ranking.matches:
        if m.type == "mandate" and not include_mandates:
            continue
        entry = {"type": m.type, "score": round(m.score, 4), "eligible": m.eligible,
                 "reasons": list(m.reasons), "missing": list(m.missing)}  # fmt: skip
        if m.type == "mandate":
            entry["funder"] = _funder_public(snap.funder_by_id[m.id])
        else:
            entry["product"] = product_summary(snap.product_by_id[m.id])
        (eligible if m.eligible else almost).append(entry)
    return {"model": dict(current.info), "matches": eligible[:n] + almost[:ALMOST]}


def _check_product(user: User, product: Product) -> None:
    if user.is_operator or access.can_edit_product(user, product):
        return
    visible = db.session.scalar(
        select(Product.id).where(Product.id == product.id, access.product_filter(user))
    )
    if visible:
        raise Forbidden("Only the institution sees its product's matches / 仅本机构可查看")
    raise NotFound("no such product")


class _Visibility:
    """Which reason codes an institution may read for an enterprise (cached per request)."""

    def __init__(self, user: User, snap: Snapshot) -> None:
        self.user, self.snap = user, snap
        self._cache: dict[int, frozenset[str]] = {}

    def preload(self, enterprise_ids: Iterable[int]) -> None:
        """The rules of every listed enterprise in one query (access.sharing's choice: the
        funder's own rule wins over the 'all' rule), not one query per ranked need."""
        from techfin.models import SharingRule

        wanted = set(enterprise_ids) - self._cache.keys()
        funder_id = access.org_id(self.user)
        if self.user.is_operator or not wanted or funder_id is None:
            return
        chosen: dict[int, Any] = {}
        rules = db.session.execute(
            select(SharingRule).where(
                SharingRule.enterprise_id.in_(wanted),
                (SharingRule.funder_id == funder_id) | SharingRule.funder_id.is_(None),
            )
        ).scalars()
        for rule in rules:
            if rule.funder_id == funder_id or rule.enterprise_id not in chosen:
                chosen[rule.enterprise_id] = rule
        for enterprise_id in wanted:
            rule = chosen.get(enterprise_id)
            self._store(enterprise_id, (rule.financials, rule.patents) if rule else (False, False))

    def _store(self, enterprise_id: int, shared: tuple[bool, bool]) -> None:
        self._cache[enterprise_id] = _hidden_codes(shared, enterprise_id in self.snap.confidential)

    def hidden(self, enterprise_id: int) -> frozenset[str]:
        if self.user.is_operator:
            return frozenset()
        if enterprise_id not in self._cache:
            self._store(enterprise_id, access.sharing(enterprise_id, access.org_id(self.user)))
        return self._cache[enterprise_id]


def _need_entries(user: User, snap: Snapshot, ranking: Any) -> list[dict[str, Any]]:
    seen = _Visibility(user, snap)
    seen.preload(snap.need_by_id[m.id]["enterprise"]["id"] for m in ranking.matches)
    out = []
    for m in ranking.matches:
        record = snap.need_by_id[m.id]
        hidden = seen.hidden(record["enterprise"]["id"])
        reasons = [t for r, t in zip(m.reason_codes, m.reasons, strict=True)
                   if r.code not in hidden]  # fmt: skip
        out.append({"type": "need", "need": need_summary(record), "score": round(m.score, 4),
                    "eligible": m.eligible, "reasons": reasons, "missing": list(m.missing)})  # fmt: skip
    return out


def matches_for_product(
    user: User,
    product: Product,
    limit: Any = 20,
    *,
    locale: str | None = None,
    include_almost: bool = True,
) -> dict[str, Any]:
    """Published needs for one product: the institution owning it (verified) and operators.

    Same shape as matches_for_need with "need" entries ({"id", "ref", "name" (the
    enterprise), "kind", "amount_cny", …, "enterprise": {…}}); reasons that would disclose
    financials or patents the enterprise does not share with this institution are left out.
    An unverified institution gets no matches.
    """
    from techfin.matching import rank_needs_for_product

    _check_product(user, product)
    snap, current = snapshot(), scorer()
    if not (user.is_operator or access.is_verified_institution(user)):
        return {"model": dict(current.info), "matches": []}
    record = snap.product_by_id.get(product.id)
    if record is None:
        raise NotFound("no such product")
    ranking = rank_needs_for_product(
        record, snap.needs, current, snap.history, locale=_locale(locale), limit=_limit(limit),
        include_almost=include_almost, almost_limit=ALMOST, names=names(),
    )  # fmt: skip
    return {"model": dict(current.info), "matches": _need_entries(user, snap, ranking)}


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


@dataclass(frozen=True)
class NewMatchQuery:
    """One user's "new matches" question: first seen in [since, until), score ≥ min_score,
    within scope_ids (need ids for an enterprise, product ids for an institution; empty or
    None: all of them)."""

    user: User
    since: datetime
    until: datetime
    min_score: float = 0.0
    scope_ids: tuple[int, ...] | None = None
    locale: str | None = None


def new_matches_for_user(
    user: User,
    since: datetime,
    until: datetime,
    *,
    min_score: float = 0.0,
    scope_ids: list[int] | None = None,
    locale: str | None = None,
) -> list[dict[str, Any]]:
    """Eligible matches first seen in [since, until) that this user may see, best first.

    An enterprise gets new products / funds for its open needs (scope_ids: need ids); a
    verified institution new published needs for its products and its mandate (scope_ids:
    product ids). Items: {"ref", "title", "score", "reasons", "path", "kind", …}.
    """
    scope = tuple(scope_ids) if scope_ids else None
    query = NewMatchQuery(user, since, until, min_score, scope, locale)
    return new_matches_for_users([query])[0]


def _hidden_codes(shared: tuple[bool, bool], confidential: bool) -> frozenset[str]:
    financials, patents = shared
    hide = set()
    if not financials:
        hide |= FINANCIAL_REASONS
    if not patents or confidential:
        hide |= PATENT_REASONS
    return frozenset(hide)


def _sharing_batch(
    funder_ids: set[int], enterprise_ids: set[int]
) -> dict[tuple[int, int], tuple[bool, bool]]:
    """(financials, patents) of every (funder, enterprise) pair in one query, chosen as
    access.sharing chooses: the funder's own rule wins over the 'all' rule."""
    from techfin.models import SharingRule

    if not funder_ids or not enterprise_ids:
        return {}
    rules = list(
        db.session.execute(
            select(SharingRule.enterprise_id, SharingRule.funder_id, SharingRule.financials,
                   SharingRule.patents)
            .where(SharingRule.enterprise_id.in_(enterprise_ids),
                   SharingRule.funder_id.in_(funder_ids) | SharingRule.funder_id.is_(None))
        )
    )  # fmt: skip
    everyone = {}
    own = {}
    for eid, fid, financials, patents in rules:
        if fid is None:
            everyone.setdefault(eid, (financials, patents))
        else:
            own[(fid, eid)] = (financials, patents)
    return {
        (fid, eid): own.get((fid, eid), everyone.get(eid, (False, False)))
        for fid in funder_ids
        for eid in enterprise_ids
    }


@dataclass
class NewMatchCache:
    """Carried through one digest run (digests._DefaultItems holds one).

    An institution's members are spread over every batch of a run, and each would bring its
    institution's new matches — often the largest lists — to be read, checked against the
    enterprises' sharing rules and rendered again. Kept here, that happens once per run.
    Enterprises' rows are not kept: their members come in one batch (by user id, mostly),
    and keeping them would make a run's memory grow with its subscribers. A run reads the
    matches as they are when it first needs them; one refreshed mid-run shows next time.
    """

    funder_rows: dict[int, tuple[tuple[datetime, datetime, float], list[Row]]] = field(
        default_factory=dict
    )
    hidden: dict[tuple[int, int], frozenset[str]] = field(default_factory=dict)
    rendered: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    paths: dict[tuple[str, int], str] = field(default_factory=dict)
    changes: dict[tuple[str, str], str] = field(default_factory=dict)


def _covers(have: tuple[datetime, datetime, float], want: tuple[datetime, datetime, float]) -> bool:
    return have[0] <= want[0] and want[1] <= have[1] and have[2] <= want[2]


def _new_match_rows(
    enterprises: set[int], funders: set[int], bounds: tuple[datetime, datetime, float]
) -> list[Row]:
    """Eligible active matches first seen within `bounds` (since, until, min score) of these
    enterprises' open needs and these institutions' published ones, best first."""
    since, until, min_score = bounds
    where_side = []
    if enterprises:
        where_side.append(Need.enterprise_id.in_(enterprises) & (Need.status != "closed"))
    if funders:
        where_side.append(Match.funder_id.in_(funders) & (Need.status == "published"))
    # Plain rows, not ORM objects: the titles need a few names of the need, product,
    # institution and enterprise, and mapping (and identity-mapping) five objects per match
    # cost more than everything else in the lookup.
    funder_org, enterprise_org = aliased(Organization), aliased(Organization)
    # The enterprise's latest non-confidential patent added before the pair entered the
    # ranking: "your new patent raised this match" (a confidential one is never hinted at).
    patent_added = (
        select(func.max(Patent.created_at))
        .where(Patent.enterprise_id == Need.enterprise_id, Patent.confidential.is_(False),
               Patent.created_at <= Match.first_seen_at)
        .correlate(Need, Match)
        .scalar_subquery()
    )  # fmt: skip
    stmt = (
        select(*(getattr(Match, c.key) for c in Match.__table__.columns),
               Need.ref.label("need_ref"), Need.enterprise_id.label("enterprise_id"),
               Need.status.label("need_status"), Product.name.label("product_name"),
               Product.ref.label("product_ref"), funder_org.name.label("funder_name"),
               funder_org.ref.label("funder_ref"), enterprise_org.name.label("enterprise_name"),
               Need.created_at.label("need_created"), Product.created_at.label("product_created"),
               funder_org.created_at.label("funder_created"), patent_added.label("patent_added"))
        .select_from(Match)
        .join(Need, Match.need_id == Need.id)
        .outerjoin(Product, Match.product_id == Product.id)
        .join(funder_org, Match.funder_id == funder_org.id)
        .join(enterprise_org, Need.enterprise_id == enterprise_org.id)
        .where(
            Match.active.is_(True),
            Match.eligible.is_(True),
            Match.score >= min_score,
            Match.first_seen_at >= since,
            Match.first_seen_at < until,
            or_(*where_side),
        )
        .order_by(Match.score.desc(), Match.id)
    )  # fmt: skip
    return list(db.session.execute(stmt))


def _load_hidden(pairs: set[tuple[int, int]], cache: NewMatchCache) -> None:
    """Reason codes hidden from each (institution, enterprise) pair, in two queries."""
    if not pairs:
        return
    enterprise_ids = {eid for _fid, eid in pairs}
    confidential = set(
        db.session.execute(
            select(Patent.enterprise_id).distinct().where(
                Patent.enterprise_id.in_(enterprise_ids), Patent.confidential.is_(True),
                Patent.status == "granted")
        ).scalars()
    )  # fmt: skip
    shared = _sharing_batch({fid for fid, _eid in pairs}, enterprise_ids)
    for fid, eid in pairs:
        cache.hidden[(fid, eid)] = _hidden_codes(
            shared.get((fid, eid), (False, False)), eid in confidential
        )


def new_matches_for_users(
    queries: list[NewMatchQuery], cache: NewMatchCache | None = None
) -> list[list[dict[str, Any]]]:
    """new_matches_for_user for many users at once (a digest batch), in a handful of
    queries whatever their number: one for the matches of every organisation involved
    (with the names their titles need), one for confidential patents, one for sharing
    rules. Each user's items are then picked from those rows in memory, by the user's own
    window, minimum score and scope. With a run's `cache`, institutions' rows, rules and
    rendered items are reused by later batches.

    Needs the users' memberships → organisation; a digest batch loads them eagerly (see
    digests._prepare), elsewhere they load lazily. No catalogue snapshot is involved: the
    only thing the rankings' snapshot gave here was the confidential-patent set, now read
    for just the enterprises concerned.
    """
    cache = cache if cache is not None else NewMatchCache()
    sides: list[tuple[str, int] | None] = []
    for q in queries:
        org = access.org_id(q.user)
        if q.user.is_enterprise and org is not None:
            sides.append(("enterprise", org))
        elif access.is_verified_institution(q.user):
            sides.append(("funder", org))  # type: ignore[arg-type]
        else:
            sides.append(None)
    wanted: dict[tuple[str, int], tuple[datetime, datetime, float]] = {}
    for q, side in zip(queries, sides, strict=True):
        if side is not None:
            have = wanted.get(side, (q.since, q.until, q.min_score))
            wanted[side] = (min(have[0], q.since), max(have[1], q.until),
                            min(have[2], q.min_score))  # fmt: skip
    enterprises = {org for (kind, org) in wanted if kind == "enterprise"}
    funders = {org for (kind, org), bounds in wanted.items() if kind == "funder"
               and not (org in cache.funder_rows and _covers(cache.funder_rows[org][0], bounds))}  # fmt: skip
    by_side: dict[tuple[str, int], list[Row]] = defaultdict(list)
    if enterprises or funders:
        # One query covering every user's window and threshold.
        fetch = [b for (kind, org), b in wanted.items() if kind == "enterprise" or org in funders]
        bounds = (min(b[0] for b in fetch), max(b[1] for b in fetch), min(b[2] for b in fetch))
        for row in _new_match_rows(enterprises, funders, bounds):
            if row.enterprise_id in enterprises and row.need_status != "closed":
                by_side[("enterprise", row.enterprise_id)].append(row)
            if row.funder_id in funders and row.need_status == "published":
                by_side[("funder", row.funder_id)].append(row)
        for fid in funders:
            cache.funder_rows[fid] = (bounds, by_side.pop(("funder", fid), []))
    for kind, org in wanted:
        if kind == "funder":
            by_side[(kind, org)] = cache.funder_rows[org][1]
    _load_hidden({(org, r.enterprise_id) for (kind, org) in wanted if kind == "funder"
                  for r in by_side[(kind, org)]} - cache.hidden.keys(), cache)  # fmt: skip
    # Enterprises' items are rendered once per call, institutions' once per run.
    rendered: dict[tuple, dict[str, Any]] = {}
    out: list[list[dict[str, Any]]] = []
    for q, side in zip(queries, sides, strict=True):
        if side is None:
            out.append([])
            continue
        memo = cache.rendered if side[0] == "funder" else rendered
        out.append(_user_items(q, side, by_side.get(side, []), cache, memo))
    return out


def _user_items(
    q: NewMatchQuery,
    side: tuple[str, int],
    rows: list[Row],
    cache: NewMatchCache,
    rendered: dict[tuple, dict[str, Any]],
) -> list[dict[str, Any]]:
    loc = q.locale or q.user.locale or "zh_CN"
    scope = set(q.scope_ids) if q.scope_ids else None
    kind, org = side
    items = []
    for row in rows:
        if not (q.since <= row.first_seen_at < q.until and row.score >= q.min_score):
            continue
        if (
            scope is not None
            and (row.need_id if kind == "enterprise" else row.product_id) not in scope
        ):
            continue
        key = (kind, org, row.id, loc)
        if key not in rendered:
            rendered[key] = _new_match_item(row, kind, org, loc, cache)
        item = rendered[key]
        change = _change_code(row, kind, q.since)
        if (change, loc) not in cache.changes:
            with force_locale(loc):
                cache.changes[(change, loc)] = str(_CHANGES[change])
        items.append({**item, "reasons": list(item["reasons"]), "missing": list(item["missing"]),
                      "model": dict(item["model"]), "change_code": change,
                      "change": cache.changes[(change, loc)]})  # fmt: skip
    return items


# What made a pair new for this reader since their previous digest (the digest says it).
_CHANGES = {
    "new_product": _l("new product"),
    "new_institution": _l("new institution"),
    "new_patent": _l("your new patent raised this match"),
    "your_new_need": _l("for your new need"),
    "new_need": _l("new financing need"),
    "your_new_product": _l("for your new product"),
    "newly_ranked": _l("newly ranked"),
}


def _change_code(row: Row, kind: str, since: datetime) -> str:
    """Why a pair first seen in the window is new, from the reader's side: the newest cause
    among the counterpart's new product / institution / need, the reader's own new record,
    or (enterprises only) a patent they added before the pair entered the ranking."""
    if kind == "enterprise":
        if row.product_id is not None and row.product_created >= since:
            return "new_product"
        if row.product_id is None and row.funder_created >= since:
            return "new_institution"
        if row.patent_added is not None and row.patent_added >= since:
            return "new_patent"
        return "your_new_need" if row.need_created >= since else "newly_ranked"
    if row.need_created >= since:
        return "new_need"
    if row.product_id is not None and row.product_created >= since:
        return "your_new_product"
    return "newly_ranked"


def _new_match_item(row: Row, kind: str, org: int, loc: str, cache: NewMatchCache) -> dict:
    product = row.product_id is not None
    target = row.product_name if product else row.funder_name
    if kind == "enterprise":
        title = f"{target} · {row.funder_name} → {row.need_ref}"
        ref = row.product_ref if product else row.funder_ref
        path = cache.paths.get(("need", row.need_id))
        if path is None:
            path = cache.paths[("need", row.need_id)] = site_path(
                "matching.need_matches", need_id=row.need_id
            )
        hidden: frozenset[str] = frozenset()
    else:
        title = f"{row.enterprise_name} · {row.need_ref} → {target}"
        ref = row.need_ref
        path = cache.paths.get(("product", row.product_id))
        if path is None:
            path = cache.paths[("product", row.product_id)] = site_path(
                "matching.dealflow", product_id=row.product_id
            )
        hidden = cache.hidden[(org, row.enterprise_id)]
    item = _stored_item(row, loc, hidden)
    item.update(ref=ref, title=title, path=path, change=None)
    return item


# ------------------------------------------------------------------ refresh hooks


def _touch_organizations(session: Session, _ctx: Any, _instances: Any) -> None:
    # Enterprise / Funder columns live in their own tables, so the shared updated_at (on
    # organizations) would not move: bump it, so the snapshot fingerprint sees the change.
    for obj in session.dirty:
        if isinstance(obj, Enterprise | Funder) and session.is_modified(
            obj, include_collections=False
        ):
            obj.updated_at = utcnow()


def _collect(session: Session, _ctx: Any) -> None:
    """After each flush: which needs' stored rankings the change may alter."""
    pending = session.info.setdefault("matching_pending", _Pending())
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Need):
            pending.needs.add(obj.id)
        elif isinstance(obj, Product):
            pending.products.add(obj.id)
        elif isinstance(obj, Patent):
            pending.enterprises.add(obj.enterprise_id)
        elif isinstance(obj, Enterprise):
            if obj in session.new or session.is_modified(obj, include_collections=False):
                pending.enterprises.add(obj.id)
        elif isinstance(obj, Funder):
            new = obj in session.new
            if (
                (new and obj.kind in MANDATE_FUNDER_KINDS)
                or obj in session.deleted
                or (not new and session.is_modified(obj, include_collections=False))
            ):
                pending.everything = True


@dataclass
class _Pending:
    needs: set[int] = field(default_factory=set)
    products: set[int] = field(default_factory=set)
    enterprises: set[int] = field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.needs or self.products or self.enterprises or self.everything)


def mark_all_dirty(session: Session) -> None:
    """Every stored ranking may have changed in this transaction (a bulk write that went
    around the flush hooks, e.g. import-data)."""
    session.info["matching_pending"] = _Pending(everything=True)


def install_hooks() -> None:
    if not event.contains(Session, "before_flush", _touch_organizations):
        event.listen(Session, "before_flush", _touch_organizations)
    if not event.contains(Session, "after_flush", _collect):
        event.listen(Session, "after_flush", _collect)


def apply_pending(pending: _Pending) -> RefreshReport | None:
    """Refresh what a committed change touched; too much at once is left to the CLI."""
    if pending.everything:
        if len(snapshot().need_by_id) > AUTO_REFRESH_MAX:
            log.warning("institution changed: run `flask matching refresh` to update matches")
            return None
        return refresh_all()
    ids = {i for i in pending.needs if i is not None}
    if pending.enterprises:
        ids.update(
            db.session.execute(
                select(Need.id).where(Need.enterprise_id.in_(pending.enterprises))
            ).scalars()
        )
    if pending.products:
        ids |= needs_affected_by_products(i for i in pending.products if i is not None)
    if len(ids) > AUTO_REFRESH_MAX:
        log.warning("%d needs changed: run `flask matching refresh` to update matches", len(ids))
        return None
    return refresh_needs(ids) if ids else None


def refresh_after_change() -> None:
    """Best effort after a request or command: `flask matching refresh` catches up."""
    pending = db.session.info.pop("matching_pending", None)
    if not pending or current_app.config.get("MATCHING_REFRESH_OFF"):
        return
    try:
        # Whatever was not committed is discarded first: only committed rows are ranked.
        # Inside the try: on a dropped connection even this rollback raises, and derived
        # data must never turn a committed write into an error.
        db.session.rollback()
        db.session.info.pop("matching_pending", None)
        apply_pending(pending)
    except Exception:  # matches are derived data: they must never break a committed write
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone; the pool replaces it
            db.session.remove()
        log.exception("refreshing matches failed; `flask matching refresh` will catch up")
    finally:
        db.session.info.pop("matching_pending", None)


def init_app(app: Flask) -> None:
    install_hooks()

    @app.teardown_request
    def _refresh_after_request(_exc: BaseException | None) -> None:
        refresh_after_change()

    @app.teardown_appcontext
    def _refresh_after_command(_exc: BaseException | None) -> None:
        if not has_request_context():
            refresh_after_change()


# ------------------------------------------------------------------ training


@dataclass
class TrainResult:
    examples: int
    positives: int
    model: TrainedModel | None = None
    path: Path | None = None
    reason: str = ""
    refresh: RefreshReport | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def training_examples() -> Examples:
    """One row per decided (need, product) pair, from every recorded outcome."""
    from techfin.matching import build_examples

    snap = load_snapshot()
    return build_examples(snap.need_by_id, snap.product_by_id, snap.outcomes)


def train_model(directory: str | Path | None = None, *, force: bool = False) -> TrainResult:
    """Train from the recorded outcomes and save with skops into MODEL_DIR; then refresh
    every stored ranking. Too few outcomes, or a model whose hold-out ROC AUC does not beat
    the rule-based prior's (unless forced): nothing is saved and the Prior stays."""
    from techfin.matching import NotEnoughOutcomes, save_model, train

    examples = training_examples()
    result = TrainResult(len(examples), int(examples.y.sum()))
    try:
        model = train(examples)
    except NotEnoughOutcomes as exc:
        result.reason = str(exc)
        return result
    result.model, result.metrics = model, model.metadata.get("metrics") or {}
    learned = (result.metrics.get("learned") or {}).get("roc_auc")
    prior = (result.metrics.get("prior") or {}).get("roc_auc")
    if not force and learned is not None and prior is not None and learned <= prior:
        # Users were promised the better ranking, not the newer one.
        result.reason = f"hold-out ROC AUC {learned:.3f} does not beat the prior's {prior:.3f}"
        return result
    result.path = save_model(model, directory or current_app.config["MODEL_DIR"])
    _state().store.refresh()
    result.refresh = refresh_all()
    return result


def evaluate_models() -> tuple[Examples, dict[str, Any]]:
    """Hold-out metrics of a model fitted on the older outcomes, the Prior and random order."""
    from techfin.matching import evaluate

    examples = training_examples()
    if len(examples) < 2:
        return examples, {}
    return examples, evaluate(examples)


# ------------------------------------------------------------------ express interest


@dataclass
class Interest:
    outcome: Outcome | None
    recipients: list[str]
    mailed: bool


def _recipients(funder: Funder) -> list[tuple[str, str, str]]:
    """(email, name, locale) of the institution's contact address and active members."""
    out: dict[str, tuple[str, str, str]] = {}
    if funder.contact_email:
        out[funder.contact_email.lower()] = (funder.contact_email, funder.name, "zh_CN")
    members = db.session.execute(
        select(User).join(Membership).where(
            Membership.organization_id == funder.id, User.active.is_(True))
    ).scalars()  # fmt: skip
    for u in members:
        out[u.email.lower()] = (u.email, u.name or "", u.locale or "zh_CN")
    return list(out.values())


def compose_interest(
    to: tuple[str, str, str], need: Need, funder: Funder, product: Product | None, link: str
) -> EmailMessage:
    email, name, locale = to
    with force_locale(locale):
        subject = _("%(enterprise)s is interested in %(target)s",
                    enterprise=need.enterprise.name,
                    target=product.name if product else funder.name)  # fmt: skip
        return mail.build_message(email, subject, "interest", to_name=name, need=need,
                                  recipient_name=name or email,
                                  enterprise=need.enterprise, funder=funder, product=product,
                                  link=link, locale=locale)  # fmt: skip


def express_interest(
    user: User,
    need: Need,
    *,
    product: Product | None = None,
    funder: Funder | None = None,
    send: Callable[[EmailMessage], None] | None = None,
) -> Interest:
    """The enterprise tells an institution it is interested in a product (or a fund).

    For a product this records a `contacted` outcome (catalog.record_outcome); a fund's
    mandate has no product to record against, so it is audit-logged. Then the institution's
    contact address and members are mailed; a mail failure is logged and reported in
    `mailed`, the outcome stands.
    """
    if not access.can_edit_need(user, need) or not user.is_enterprise:
        raise Forbidden("Only the enterprise may express interest / 仅企业本身可表达意向")
    if need.status != "published":
        raise Conflict("not published", {"need": [
            "Publish the need first, so the institution can see it / 请先发布需求"]})  # fmt: skip
    visible_product = product is not None and db.session.scalar(
        select(Product.id).where(
            Product.id == product.id, access.product_filter(user), Product.status == "active"
        )  # fmt: skip
    )
    if product is not None:
        if not visible_product or product.kind != need.kind:
            raise NotFound("no such product", {"product_id": ["Unknown product / 产品不存在"]})
        funder = product.funder
    elif funder is None or not funder.verified or funder.kind not in MANDATE_FUNDER_KINDS:
        raise NotFound("no such fund", {"funder_id": ["Unknown institution / 机构不存在"]})
    outcome = None
    if product is not None:
        done = db.session.scalar(
            select(Outcome.id)
            .where(
                Outcome.need_id == need.id,
                Outcome.product_id == product.id,
                Outcome.stage == "contacted",
            )
            .limit(1)  # fmt: skip
        )
        if done:
            raise Conflict("already", {"product_id": [
                "You have already expressed interest / 已表达过意向"]})  # fmt: skip
        outcome = catalog.record_outcome(user, need, product,
                                         {"stage": "contacted", "note": "interest"})  # fmt: skip
    else:
        audit.record("interest", need, object_type="need", detail={"funder_id": funder.id})
        db.session.commit()
    if product is not None:
        link = site_link("matching.dealflow", product_id=product.id)
    else:
        link = site_link("dealflow.enterprise", enterprise_id=need.enterprise_id)
    send = send or mail.send
    recipients = _recipients(funder)
    mailed = bool(recipients)
    for to in recipients:
        try:
            send(compose_interest(to, need, funder, product, link))
        except (OSError, smtplib.SMTPException):
            mailed = False
            log.error("interest mail to %s failed; the interest is recorded", to[0], exc_info=True)
    return Interest(outcome, [r[0] for r in recipients], mailed)


# ------------------------------------------------------------------ dealflow


@dataclass
class DealflowRow:
    need: dict[str, Any]
    product: dict[str, Any]
    score: float
    eligible: bool
    reasons: list[str]
    missing: list[str]
    stage: str | None = None
    stage_date: date | None = None
    next_stages: tuple[str, ...] = ()


@dataclass
class Dealflow:
    products: list[Product]
    selected: Product | None
    rows: list[DealflowRow]
    model: dict[str, Any]


def dealflow_products(user: User) -> list[Product]:
    """Products a dealflow may rank for: the institution's own (not retired); operators:
    every active product of a verified institution."""
    stmt = select(Product).join(Funder, Product.funder_id == Funder.id)
    if user.is_operator:
        stmt = stmt.where(Product.status == "active", Funder.status == "verified")
    else:
        stmt = stmt.where(Product.funder_id == access.org_id(user), Product.status != "retired")
    return list(db.session.execute(stmt.order_by(Funder.name, Product.name, Product.id)).scalars())


def current_stages(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, date]]:
    """The latest recorded stage of each (need_id, product_id) pair."""
    pairs = set(pairs)
    if not pairs:
        return {}
    needs = {n for n, _ in pairs}
    products = {p for _, p in pairs}
    rows = db.session.execute(
        select(Outcome.need_id, Outcome.product_id, Outcome.stage, Outcome.date)
        .where(Outcome.need_id.in_(needs), Outcome.product_id.in_(products))
        .order_by(Outcome.date, Outcome.id)
    )
    out = {}
    for need_id, product_id, stage, day in rows:
        if (need_id, product_id) in pairs:
            out[(need_id, product_id)] = (stage, day)
    return out


def dealflow(
    user: User,
    product_id: int | None = None,
    *,
    kind: str | None = None,
    region: str | None = None,
    min_score: float | None = None,
    limit: int = 50,
    locale: str | None = None,
) -> Dealflow:
    """Ranked published needs for one of the user's products (or all of them), with each
    pair's current pipeline stage; filtered by kind, enterprise region and minimum score."""
    if not (user.is_operator or access.is_verified_institution(user)):
        raise Forbidden("Your institution is not verified yet / 机构尚未通过认证")
    products = dealflow_products(user)
    selected = next((p for p in products if p.id == product_id), None)
    if selected is None and user.is_operator:
        selected = products[0] if products else None
    chosen = [selected] if selected is not None else products
    rows: list[DealflowRow] = []
    model: dict[str, Any] = dict(scorer().info)
    for product in chosen:
        if kind and product.kind != kind:
            continue
        result = matches_for_product(user, product, MAX_LIMIT, locale=locale)
        model = result["model"]
        summary = product_summary(snapshot().product_by_id[product.id])
        for m in result["matches"]:
            rows.append(DealflowRow(m["need"], summary, m["score"], m["eligible"],
                                    m["reasons"], m["missing"]))  # fmt: skip
    if region:
        rows = [
            r for r in rows if reference.region_matches(r.need["enterprise"]["region"], [region])
        ]
    if min_score:
        rows = [r for r in rows if r.score >= min_score]
    rows.sort(key=lambda r: (not r.eligible, -r.score))
    rows = rows[:limit]
    stages = current_stages((r.need["id"], r.product["id"]) for r in rows)
    for r in rows:
        r.stage, r.stage_date = stages.get((r.need["id"], r.product["id"]), (None, None))
        r.next_stages = NEXT_STAGES.get(r.stage, ())
    return Dealflow(products, selected, rows, model)


def move_stage(user: User, need: Need, product: Product, data: dict[str, Any]) -> Outcome:
    """Move a (need, product) pair to its next pipeline stage: one outcome row.

    `data` in interchange fields: stage, note, and for funded: amount_cny (required), and
    for a loan (kind loan / ip_pledge) rate, issued, matures and repayment (required).
    """
    stage = data.get("stage")
    if stage not in OUTCOME_STAGES:
        raise DomainError("stage", {"stage": ["Choose a stage / 请选择阶段"]})
    if not (user.is_operator or access.can_edit_product(user, product)):
        raise Forbidden("Not your product / 非本机构产品")
    if not access.can_view_need(user, need) or need.status != "published":
        raise NotFound("no such need")
    current = current_stages([(need.id, product.id)]).get((need.id, product.id))
    allowed = NEXT_STAGES.get(current[0] if current else None, ())
    if stage not in allowed:
        raise Conflict("transition", {"stage": [
            "This step does not follow the current stage / 该阶段不能接在当前阶段之后"]})  # fmt: skip
    if stage == "funded":
        needed = ["amount_cny"]
        if need.kind in LOAN_KINDS:
            needed += ["rate", "issued", "matures", "repayment"]
        missing = {k: ["Required for a funded step / 放款时必填"] for k in needed
                   if data.get(k) in (None, "")}  # fmt: skip
        if missing:
            raise DomainError("funded", missing)
    keep = ("stage", "note", "amount_cny", "rate", "issued", "matures", "repayment", "date")
    clean = {k: v for k, v in data.items() if k in keep and v not in (None, "")}
    return catalog.record_outcome(user, need, product, clean)
