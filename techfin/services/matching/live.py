"""Access-checked rankings: a need's products read from its stored ranking while that is
current, else ranked live against the in-memory catalogue (one need read from the
database); a product's needs read from the stored matches."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, union_all
from sqlalchemy.orm import Bundle

from techfin import reference
from techfin.errors import Forbidden, NotFound
from techfin.extensions import db
from techfin.models import Enterprise, Match, Need, Product, User
from techfin.services import access
from techfin.services.matching.common import (
    ALMOST,
    KEEP,
    _funder_public,
    _limit,
    _locale,
    names,
    need_summary_of,
    product_summary,
)
from techfin.services.matching.new_matches import _hidden_codes
from techfin.services.matching.snapshot import (
    Snapshot,
    confidential_enterprises,
    need_records,
    scorer,
    snapshot,
)
from techfin.services.matching.stored import _stored_item

log = logging.getLogger(__name__)

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
    "product". Eligible entries first (best first, the model's order), then almost-eligible
    ones (fixable first, by their odds once fixed). Every entry has "probability" / "band"
    (calibrated approval odds of a learned model; null under the Prior), "reason_codes"
    (strongest driver first) and "gaps"; near misses also "fixable", "score_if_fixed",
    "probability_if_fixed" and "band_if_fixed" (odds_fields).
    """
    _check_need(user, need)
    snap, current = snapshot(), scorer()
    ask = _Ask(_limit(limit), _locale(locale), include_mandates, include_almost)
    stored = _from_stored(need, snap, current, ask)
    return stored if stored is not None else _ranked_live(need, snap, current, ask)


@dataclass(frozen=True)
class _Ask:
    """What a caller of matches_for_need asked for."""

    n: int
    locale: str
    include_mandates: bool
    include_almost: bool


def _entry(snap: Snapshot, kind: str, object_id: int, **fields: Any) -> dict[str, Any]:
    """A match entry of matches_for_need: its fields and the product or fund it names."""
    entry = {"type": kind, **fields}
    if kind == "mandate":
        entry["funder"] = _funder_public(snap.funder_by_id[object_id])
    else:
        entry["product"] = product_summary(snap.product_by_id[object_id])
    return entry


def _ranked_live(need: Need, snap: Snapshot, current: Any, ask: _Ask) -> dict[str, Any]:
    """The need ranked now against the in-memory catalogue (matches_for_need's shape)."""
    from techfin.matching import rank_products_for_need

    n, locale, include_mandates = ask.n, ask.locale, ask.include_mandates
    record = need_records([need.id]).get(need.id)
    if record is None:
        raise NotFound("no such need")
    extra = 0 if include_mandates else snap.mandate_count
    ranking = rank_products_for_need(
        record, snap.candidates, current, snap.history, locale=locale,
        limit=n + extra, include_almost=ask.include_almost, almost_limit=ALMOST + extra,
        names=names(),
    )  # fmt: skip
    eligible, almost = [], []
    for m in ranking.matches:
        if m.type == "mandate" and not include_mandates:
            continue
        entry = _entry(snap, m.type, m.id,
                       **odds_fields(m.score, m.probability, m.eligible, m.score_if_fixed,
                                     m.fixable),
                       reasons=list(m.reasons), reason_codes=[r.code for r in m.reason_codes],
                       missing=list(m.missing),
                       gaps=[_gap(g, t) for g, t in zip(m.gaps, m.missing, strict=False)],
                       )  # fmt: skip
        (eligible if m.eligible else almost).append(entry)
    # The library orders near misses fixable-first, then by their odds once fixed; a page
    # splits them on "fixable" without reordering.
    return {"model": dict(current.info), "matches": eligible[:n] + almost[:ALMOST]}


def _from_stored(need: Need, snap: Snapshot, current: Any, ask: _Ask) -> dict[str, Any] | None:
    """The need's ranking read from its stored matches, or None when they cannot stand in
    for ranking it now.

    Ranking live compares the need with every candidate of its kind (about a thousand at
    region scale against a handful at demo size: what made a region's page the slower);
    the rows the task worker keeps (KEEP best, ALMOST near misses) are the same ranking,
    computed by the same code, and cost what the page shows. They stand in only while
    nothing that ranks the need has changed since: no dirty mark waits for it (its own
    edits, its enterprise's, a product's, a new model's recompute), every row is of the
    current model and names a product or fund this process knows, and they hold as many
    as asked. Otherwise the need is ranked live, so a page is never older than the latest
    committed change. What the rows do not follow: institutions' track records move them
    at the need's next recompute (the same ranking the institutions' dealflow shows)."""
    from techfin.matching import Gap, Reason, render_gap, render_reason
    from techfin.services.matching.dirty import is_stale

    n, locale, include_mandates = ask.n, ask.locale, ask.include_mandates
    if is_stale([need.id], need.enterprise_id):
        return None
    info = dict(current.info)
    rows = db.session.execute(
        select(Match).where(Match.need_id == need.id, Match.active.is_(True)).order_by(Match.rank)
    ).scalars().all()  # fmt: skip
    if not rows or any(r.model_kind != info.get("kind") or
                       r.model_version != str(info.get("version"))[:40] for r in rows):  # fmt: skip
        return None
    eligible = [r for r in rows if r.eligible]
    almost = [r for r in rows if not r.eligible] if ask.include_almost else []
    kept, kept_almost = len(eligible), len(almost)
    if not include_mandates:
        eligible = [r for r in eligible if r.kind != "mandate"]
        almost = [r for r in almost if r.kind != "mandate"]
    # Fewer than asked, of a list the refresh cut short: the next ones were not kept.
    if (len(eligible) < n and kept >= KEEP) or (len(almost) < ALMOST and kept_almost >= ALMOST):
        return None
    eligible = eligible[:n]
    known = snap.product_by_id
    if any((r.product_id not in known) if r.kind == "product" else
           (r.funder_id not in snap.funder_by_id) for r in (*eligible, *almost)):  # fmt: skip
        return None
    calibrated = bool(getattr(current, "calibrated", False))
    the_names = names()
    entries = []
    for r in (*eligible, *almost[:ALMOST]):
        reasons = [Reason(x["code"], x.get("params") or {}) for x in r.reasons or []]
        gaps = [Gap(g["code"], g.get("rule", ""), g.get("params") or {}) for g in r.missing or []]
        missing = [render_gap(g, locale, the_names) for g in gaps]
        object_id = r.funder_id if r.kind == "mandate" else r.product_id
        entries.append(_entry(
            snap, r.kind, object_id,
            **odds_fields(r.score, r.score if calibrated else None, r.eligible,
                          r.score_if_fixed, all(g.fixable for g in gaps)),
            reasons=[render_reason(x, locale, the_names) for x in reasons],
            reason_codes=[x.code for x in reasons], missing=missing,
            gaps=[_gap(g, t) for g, t in zip(gaps, missing, strict=False)],
        ))  # fmt: skip
    return {"model": info, "matches": entries}


def odds_fields(
    score: float,
    probability: float | None,
    eligible: bool,
    score_if_fixed: float | None = None,
    fixable: bool = True,
) -> dict[str, Any]:
    """The score and approval-odds keys of a match entry (interchange.md, OpenAPI
    MatchEntry): `probability` / `band` are the calibrated odds of a learned model (None
    under the Prior, whose scores only order candidates); near misses also say whether
    every gap is one the enterprise can close and the score (and odds) once closed."""
    from techfin.matching import probability_band

    out: dict[str, Any] = {
        "score": round(score, 4),
        "probability": None if probability is None else round(probability, 4),
        "band": probability_band(probability),
        "eligible": eligible,
    }
    if not eligible:
        fixed = None if score_if_fixed is None else round(score_if_fixed, 4)
        out["fixable"] = fixable
        out["score_if_fixed"] = fixed
        # The same calibrated scale as the score: odds once fixed exist only with odds.
        out["probability_if_fixed"] = None if probability is None else fixed
        out["band_if_fixed"] = probability_band(out["probability_if_fixed"])
    return out


def _gap(g: Any, text: str) -> dict[str, Any]:
    """A gap as the API shows it: its code, rule, whether the enterprise can fix it
    (amount, term, IP, collateral, certification; not region, industry, stage) and the
    rendered text (the same as the entry's `missing` item)."""
    return {"code": g.code, "rule": g.rule, "fixable": g.fixable, "text": text}


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

    def __init__(self, user: User, snap: Snapshot | None = None) -> None:
        self.user = user
        self._cache: dict[int, frozenset[str]] = {}
        self._confidential: set[int] = set()
        self._checked: set[int] = set()

    def preload(self, enterprise_ids: Iterable[int]) -> None:
        """The rules of every listed enterprise in one query (access.sharing's choice: the
        funder's own rule wins over the 'all' rule), not one query per ranked need."""
        from techfin.models import SharingRule

        wanted = set(enterprise_ids) - self._cache.keys()
        funder_id = access.org_id(self.user)
        if self.user.is_operator or not wanted or funder_id is None:
            return
        self._load_confidential(wanted)
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

    def _load_confidential(self, enterprise_ids: set[int]) -> None:
        todo = enterprise_ids - self._checked
        if not todo:  # preload read them all: each row's look-up would be a no-op call
            return
        self._confidential |= confidential_enterprises(todo)
        self._checked |= todo

    def _store(self, enterprise_id: int, shared: tuple[bool, bool]) -> None:
        self._load_confidential({enterprise_id})
        self._cache[enterprise_id] = _hidden_codes(shared, enterprise_id in self._confidential)

    def hidden(self, enterprise_id: int) -> frozenset[str]:
        if self.user.is_operator:
            return frozenset()
        if enterprise_id not in self._cache:
            self._store(enterprise_id, access.sharing(enterprise_id, access.org_id(self.user)))
        return self._cache[enterprise_id]


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
    _check_product(user, product)
    current = scorer()
    if not (user.is_operator or access.is_verified_institution(user)):
        return {"model": dict(current.info), "matches": []}
    entries = stored_need_entries(user, [product.id], limit=_limit(limit), locale=locale,
                                  include_almost=include_almost)  # fmt: skip
    return {"model": dict(current.info), "matches": [entry for _pid, entry in entries]}


_ORDER = (Match.score.desc(), Match.id)
_UNION_MAX = 400  # SQLite's compound SELECT holds at most 500 parts

# What a ranked row shows of its pair, as column bundles rather than ORM entities: three
# identity-mapped objects a row (an enterprise being a joined two-table one, its
# description included) were 3 ms of a 25-row dealflow page at region scale.
_ROW = (
    Bundle("match", Match.id, Match.need_id, Match.product_id, Match.funder_id, Match.kind,
           Match.score, Match.rank, Match.eligible, Match.model_kind, Match.model_version,
           Match.reasons, Match.missing, Match.first_seen_at, Match.last_seen_at),
    Bundle("need", Need.id, Need.ref, Need.kind, Need.amount_cny, Need.term_months,
           Need.purpose, Need.created),
    Bundle("enterprise", Enterprise.id, Enterprise.ref, Enterprise.name, Enterprise.industry,
           Enterprise.region, Enterprise.stage, Enterprise.high_tech),
)  # fmt: skip


def _stored_of(
    cols: tuple[Any, ...], eligible: bool, region: str | None, min_score: float | None
) -> Select:
    stmt = (
        select(*cols)
        .join(Need, Match.need_id == Need.id)
        .join(Enterprise, Need.enterprise_id == Enterprise.id)
        .where(Match.active.is_(True), Match.eligible.is_(eligible), Need.status == "published")
    )
    if region:
        stmt = stmt.where(Enterprise.region.startswith(reference.region_prefix(region)))
    if min_score:
        stmt = stmt.where(Match.score >= min_score)
    return stmt


def ranked_statement(
    product_ids: list[int],
    eligible: bool,
    n: int,
    region: str | None = None,
    min_score: float | None = None,
    funder_id: int | None = None,
    excluded: tuple[int, ...] = (),
) -> Select | None:
    """The statement of _best_stored for one product or an institution's every product
    (`funder_id`: all its products but the `excluded` ones, its retired); each a walk
    down one index. None for other sets of products."""
    if len(product_ids) != 1 and funder_id is None:
        return None
    stmt = _stored_of(_ROW, eligible, region, min_score)
    if len(product_ids) == 1:
        stmt = stmt.where(Match.product_id == product_ids[0])
    else:
        # Not `product_id IN (its ~70 products)`: PostgreSQL takes that list and the funder
        # as independent, estimates a few hundred rows where there are thousands, and reads
        # and sorts them all through a bitmap (36 ms a page for a fund at 100 000
        # enterprises, 1 ms down the index). Its mandates' rows carry no product.
        stmt = stmt.where(Match.funder_id == funder_id, Match.product_id.is_not(None))
        if excluded:
            stmt = stmt.where(Match.product_id.not_in(excluded))
    return stmt.order_by(*_ORDER).limit(n)


def _best_stored(
    product_ids: list[int],
    eligible: bool,
    n: int,
    region: str | None,
    min_score: float | None,
    funder_id: int | None = None,
    excluded: tuple[int, ...] = (),
) -> list[Any]:
    """The best `n` stored (match, need, enterprise) rows of these products (_ROW).

    One product: a walk down ix_matches_product_ranked. All of one institution's products
    (`funder_id`): a walk down ix_matches_funder_ranked. Other sets: each product's best
    `n` (UNION ALL), then the best of those. A plain IN over an institution's ~70 products
    read and sorted every pair of them (1.2 s a page at 100 000 enterprises)."""
    stmt = ranked_statement(product_ids, eligible, n, region, min_score, funder_id, excluded)
    if stmt is not None:
        return list(db.session.execute(stmt))
    ids: list[int] = []
    for start in range(0, len(product_ids), _UNION_MAX):
        parts = [
            _stored_of((Match.id,), eligible, region, min_score)
            .where(Match.product_id == pid)
            .order_by(*_ORDER)
            .limit(n)
            .subquery()
            for pid in product_ids[start : start + _UNION_MAX]
        ]
        ids += db.session.execute(union_all(*(select(p.c.id) for p in parts))).scalars()
    if not ids:
        return []
    stmt = select(*_ROW).join(Need, Match.need_id == Need.id)
    stmt = stmt.join(Enterprise, Need.enterprise_id == Enterprise.id).where(Match.id.in_(ids))
    return list(db.session.execute(stmt.order_by(*_ORDER).limit(n)))


def stored_need_entries(
    user: User,
    product_ids: list[int],
    *,
    limit: int,
    locale: str | None = None,
    include_almost: bool = True,
    region: str | None = None,
    min_score: float | None = None,
    funder_id: int | None = None,
    excluded: tuple[int, ...] = (),
) -> list[tuple[int, dict[str, Any]]]:
    """(product id, "need" entry) of the stored matches of these products, published needs
    only, best first: at most `limit` eligible ones, then up to ALMOST near misses. One
    query each, with the filters in SQL, so a page costs what it shows. `funder_id`: the
    products are all of that institution's but the `excluded` ones (its dealflow over
    every product it has not retired)."""
    from techfin.matching import Gap

    if not product_ids:
        return []
    loc = _locale(locale)
    rows = _best_stored(product_ids, True, limit, region, min_score, funder_id, excluded)
    if include_almost:
        rows += _best_stored(product_ids, False, ALMOST, region, min_score, funder_id, excluded)
    seen = _Visibility(user)
    seen.preload(e.id for _m, _n, e in rows)
    out = []
    for match, need, enterprise in rows:
        item = _stored_item(match, loc, seen.hidden(enterprise.id))
        gaps = [Gap(g["code"], g.get("rule", ""), g.get("params") or {})
                for g in match.missing or []]  # fmt: skip
        # A stored learned score is the model's approval probability; a Prior's is not.
        probability = match.score if match.model_kind == "learned" else None
        out.append((match.product_id, {
            "type": "need", "need": need_summary_of(need, enterprise),
            **odds_fields(match.score, probability, match.eligible, None,
                          all(g.fixable for g in gaps)),
            "reasons": item["reasons"], "missing": item["missing"],
            "gaps": [_gap(g, t) for g, t in zip(gaps, item["missing"], strict=False)],
        }))  # fmt: skip
    return out
