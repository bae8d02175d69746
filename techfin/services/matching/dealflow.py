"""The institution's ranked dealflow and its pipeline steps."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _

from techfin.errors import DomainError, Forbidden, NotFound
from techfin.models import (
    Need,
    Outcome,
    Product,
    User,
)
from techfin.services import access, lookup, pipeline
from techfin.services.matching.common import MAX_LIMIT, product_summary
from techfin.services.matching.live import stored_need_entries
from techfin.services.matching.snapshot import Snapshot, scorer, snapshot

log = logging.getLogger(__name__)

DEALFLOW_PAGE = 20  # eligible rows a dealflow page shows unless more are asked for

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
    probability: float | None = None  # calibrated odds of a learned model, None otherwise
    band: str | None = None


@dataclass
class Dealflow:
    products: list[DealflowProduct]
    selected: DealflowProduct | None
    rows: list[DealflowRow]
    model: dict[str, Any]
    limit: int = 0  # eligible rows asked for
    more: bool = False  # there may be more eligible rows than shown


@dataclass(frozen=True)
class DealflowProduct:
    """What a dealflow reads of a product it may rank for (the filter lists every one)."""

    id: int
    funder_id: int
    name: str
    kind: str
    status: str


def dealflow_products(user: User, snap: Snapshot | None = None) -> list[DealflowProduct]:
    """Products a dealflow may rank for: the institution's own (not retired); operators:
    every active product of a verified institution. By institution name, product name, id.

    Read from the in-memory catalogue (the snapshot, as current as this request's check of
    the products and institutions): a page lists all of them, and reading them from the
    database was 2 ms of a page at 100 000 enterprises (an institution's 68; an
    operator's 2 000)."""
    snap = snap or snapshot()
    if user.is_operator:
        chosen = [p for p in snap.product_by_id.values()
                  if p["status"] == "active" and p["funder"]["status"] == "verified"]  # fmt: skip
    else:
        own = (snap.product_by_id[i] for i in snap.products_of.get(access.org_id(user), ()))
        chosen = [p for p in own if p["status"] != "retired"]
    chosen.sort(key=lambda p: (p["funder"]["name"], p["name"], p["id"]))
    return [DealflowProduct(p["id"], p["funder"]["id"], p["name"], p["kind"], p["status"])
            for p in chosen]  # fmt: skip


def current_stages(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, date]]:
    """The current stage of each (need_id, product_id) pair with steps, and the date it
    dates from (pipeline.current_states: a reopened ending step does not count)."""
    return {
        pair: (state.stage, state.since)
        for pair, state in pipeline.current_states(pairs).items()
        if state.stage is not None  # a pair reopened back to its start has no stage
    }


def dealflow(
    user: User,
    product_id: int | None = None,
    *,
    kind: str | None = None,
    region: str | None = None,
    min_score: float | None = None,
    limit: Any = None,
    locale: str | None = None,
) -> Dealflow:
    """Ranked published needs for one of the user's products (or all of them), with each
    pair's current pipeline stage; filtered by kind, enterprise region and minimum score.

    `limit` eligible rows (DEALFLOW_PAGE by default, at most MAX_LIMIT): each row carries
    a step form, and 55 of them were most of a loaded server's time at 100 000 enterprises;
    the page offers more on request."""
    if not (user.is_operator or access.is_verified_institution(user)):
        raise Forbidden("Your institution is not verified yet / 机构尚未通过认证")
    try:
        limit = min(max(int(limit or DEALFLOW_PAGE), 1), MAX_LIMIT)
    except (TypeError, ValueError):
        limit = DEALFLOW_PAGE
    snap = snapshot()
    products = dealflow_products(user, snap)
    selected = next((p for p in products if p.id == product_id), None)
    if selected is None and user.is_operator:
        selected = products[0] if products else None
    chosen = [selected] if selected is not None else products
    chosen = [p for p in chosen if not kind or p.kind == kind]
    summaries = {p.id: product_summary(snap.product_by_id[p.id]) for p in chosen}
    funders = {p.funder_id for p in chosen}
    whole = chosen == products and len(funders) == 1  # an institution's every product
    funder_id = funders.pop() if whole else None
    retired = tuple(i for i in snap.products_of.get(funder_id, ()) if i not in summaries)
    entries = stored_need_entries(user, list(summaries), limit=limit, locale=locale,
                                  region=region, min_score=min_score, funder_id=funder_id,
                                  excluded=retired)  # fmt: skip
    rows = [
        DealflowRow(m["need"], summaries[pid], m["score"], m["eligible"], m["reasons"],
                    m["missing"], probability=m["probability"], band=m["band"])
        for pid, m in entries
        if pid in summaries  # (a product created since this request read the catalogue)
    ]  # fmt: skip
    rows.sort(key=lambda r: (not r.eligible, -r.score))
    more = limit < MAX_LIMIT and sum(1 for r in rows if r.eligible) >= limit
    rows = rows[:limit]
    model: dict[str, Any] = dict(scorer().info)
    stages = current_stages((r.need["id"], r.product["id"]) for r in rows)
    for r in rows:
        r.stage, r.stage_date = stages.get((r.need["id"], r.product["id"]), (None, None))
        r.next_stages = pipeline.next_stages(r.stage)
    return Dealflow(products, selected, rows, model, limit, more)


def _pair(need_id: int | None, product_id: int | None) -> tuple[Need, Product]:
    """The need and product a dealflow row names by id (the page's hidden inputs)."""
    need, product = lookup.find(Need, need_id), lookup.find(Product, product_id)
    if need is None or product is None:
        raise NotFound("no such pair", {"need_id": [_("No such need or product.")]})
    return need, product


def move_stage(
    user: User, need_id: int | None, product_id: int | None, data: dict[str, Any]
) -> Outcome:
    """The dealflow page's "move": one docking step through pipeline.advance, which owns the
    rules (the state machine, a funded step's terms, who may record what).

    `data` in interchange fields: stage, note, and for funded amount_cny, rate, issued,
    matures and repayment. The page only moves pairs of the institution's own products.
    """
    need, product = _pair(need_id, product_id)
    if not (user.is_operator or access.can_edit_product(user, product)):
        raise Forbidden("Not your product / 非本机构产品")
    if not access.can_view_need(user, need):
        raise NotFound("no such need")
    keep = ("stage", "note", "amount_cny", "rate", "issued", "matures", "repayment", "date")
    clean = {k: v for k, v in data.items() if k in keep and v not in (None, "")}
    if not clean.get("stage"):
        raise DomainError("stage", {"stage": ["Choose a stage / 请选择阶段"]})
    return pipeline.advance(user, need, product, clean)


def reopen_deal(user: User, need_id: int | None, product_id: int | None, reason: str) -> Outcome:
    """The dealflow page's "reopen" (operators): pipeline.reopen."""
    need, product = _pair(need_id, product_id)
    return pipeline.reopen(user, need, product, reason)
