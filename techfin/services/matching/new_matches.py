""" "New matches" for digests: stored pairs first seen in a window, per user."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import aliased

from techfin.extensions import db
from techfin.models import (
    Match,
    Need,
    Organization,
    Patent,
    Product,
    User,
)
from techfin.services import access
from techfin.services.matching.common import FINANCIAL_REASONS, PATENT_REASONS
from techfin.services.matching.snapshot import confidential_enterprises
from techfin.services.matching.stored import _stored_item
from techfin.urls import site_path

log = logging.getLogger(__name__)


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
    confidential = confidential_enterprises(enterprise_ids)
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
