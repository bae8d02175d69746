"""The data-access log: which institution read which enterprise's data, through which channel.

Shown to the enterprise ("who looked at my data"). Every channel that hands an institution
an enterprise's profile, financials or patents calls `record_reads` once per request with
everything it shows: the page, an API item or list, a search results page, an export. One
entry per enterprise and channel per request, written in one INSERT (a list of 100 rows
costs one statement, not 100).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import g, has_request_context
from sqlalchemy import insert, select

from techfin.extensions import db
from techfin.models import DataAccess, Patent, User
from techfin.models.base import utcnow
from techfin.services import access

# Channels, as stored in DataAccess.action (labels in web/labels.py "access_action").
CHANNELS = ("view", "api", "api_list", "search", "export")
WHAT_ORDER = ("profile", "financials", "patents")


def _what(parts: Iterable[str]) -> str:
    wanted = {p for part in parts for p in str(part).split(",") if p}
    ordered = [w for w in WHAT_ORDER if w in wanted] + sorted(wanted - set(WHAT_ORDER))
    return ",".join(ordered)[:40]


def record_reads(user: User, action: str, reads: Iterable[tuple[int, str]]) -> int:
    """Log that `user` read these (enterprise id, what) through `action`; returns rows written.

    Only institutions are logged (an enterprise reading itself or an operator at work is not
    what the log is for). Within one request an enterprise is logged once per channel, even
    when several calls show it (an entry per request, not per call or per row).
    """
    if action not in CHANNELS:
        raise ValueError(f"unknown access-log channel {action!r}")
    if not user.is_institution:
        return 0
    merged: dict[int, list[str]] = {}
    for enterprise_id, what in reads:
        if enterprise_id is not None:
            merged.setdefault(int(enterprise_id), []).append(what)
    seen: set[tuple[int, str]] = (
        g.setdefault("_data_reads_logged", set()) if has_request_context() else set()
    )
    now = utcnow()
    funder_id, user_id = access.org_id(user), user.id
    rows: list[dict[str, Any]] = []
    for enterprise_id in sorted(merged):
        if (enterprise_id, action) in seen:
            continue
        seen.add((enterprise_id, action))
        rows.append({"at": now, "enterprise_id": enterprise_id, "funder_id": funder_id,
                     "user_id": user_id, "action": action, "what": _what(merged[enterprise_id])})  # fmt: skip
    if rows:
        # One multi-row VALUES statement on every backend (not executemany).
        db.session.execute(insert(DataAccess).values(rows))
        # A read path: the rows just loaded are what the caller is about to serialise, so
        # keep them loaded (expiring them would cost a SELECT per row of a list).
        session = db.session()
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        finally:
            session.expire_on_commit = expire
    return len(rows)


def patent_reads(patents: Iterable[Patent]) -> list[tuple[int, str]]:
    return [(p.enterprise_id, "patents") for p in patents]


def search_reads(items: Iterable[dict[str, Any]]) -> list[tuple[int, str]]:
    """Enterprises whose data a search results page shows: enterprise hits (their profile)
    and IP hits (their shared patents, copyrights, trademarks: the "patents" share); one
    query per IP kind on the page."""
    from techfin.models import Copyright, Trademark

    items = list(items)
    reads = [(int(i["id"]), "profile") for i in items if i.get("type") == "enterprise"]
    for kind, model in (("patent", Patent), ("copyright", Copyright), ("trademark", Trademark)):
        ids = [int(i["id"]) for i in items if i.get("type") == kind]
        if ids:
            owners = db.session.execute(
                select(model.enterprise_id).where(model.id.in_(ids))
            ).scalars()
            reads += [(eid, "patents") for eid in owners]
    return reads
