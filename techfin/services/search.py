"""Search for people: maps the caller's rights onto the index's viewer and cleans the input."""

from __future__ import annotations

from typing import Any

from techfin.errors import DomainError
from techfin.models import User
from techfin.services import access

TYPES = ("enterprise", "need", "product", "funder", "patent", "copyright", "trademark")
SORTS = ("relevance", "amount", "date")
FACET_PARAMS = (
    "kind",
    "industry",
    "section",
    "province",
    "city",
    "region",
    "stage",
    "size",
    "status",
)
MAX_QUERY = 200


class SearchUnavailableError(DomainError):
    status = 503
    code = "search_unavailable"


def viewer_for(user: User) -> dict[str, Any]:
    if user.is_operator:
        return {"role": "operator", "org_id": None, "verified": True}
    if user.is_enterprise:
        return {"role": "enterprise", "org_id": access.org_id(user), "verified": True}
    if user.is_institution:
        return {"role": "institution", "org_id": access.org_id(user),
                "verified": access.is_verified_institution(user)}  # fmt: skip
    return {"role": "anonymous", "org_id": None, "verified": False}


def _int(value: Any, default: int, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, number))


def _amount(value: Any) -> int | None:
    """万元 in the query string → yuan; junk is ignored rather than an error."""
    try:
        wan = float(value)
    except (TypeError, ValueError):
        return None
    if wan != wan or wan < 0 or wan > 1e9:  # NaN or absurd
        return None
    return int(wan * 10000)


def search(user: User, args: dict[str, Any]) -> dict[str, Any]:
    """Run a search from request-like args (q, type, facets, sort, page, min/max in 万元)."""
    from techfin.search import SearchError
    from techfin.services import search_sync

    q = str(args.get("q") or "")[:MAX_QUERY]
    doc_type = args.get("type") if args.get("type") in TYPES else None
    sort = args.get("sort") if args.get("sort") in SORTS else "relevance"
    filters = {k: str(args[k])[:20] for k in FACET_PARAMS if args.get(k)}
    search_sync.catch_up()
    try:
        result = search_sync.engine().search(
            q, viewer_for(user), type=doc_type, filters=filters, sort=sort,
            page=_int(args.get("page"), 1, 1, 1000), per_page=_int(args.get("per_page"), 20, 1, 100),
            min_amount=_amount(args.get("min_wan")), max_amount=_amount(args.get("max_wan")),
        )  # fmt: skip
    except SearchError as exc:
        raise SearchUnavailableError(
            "Search is temporarily unavailable; an operator can rebuild it with "
            "`flask search reindex`. / 搜索暂不可用，管理员可运行 `flask search reindex` 重建索引。"
        ) from exc
    from techfin.services import access_log

    if user.is_institution:  # only institutions' reads are logged (no query for others)
        access_log.record_reads(user, "search", access_log.search_reads(result["items"]))
    return dict(result) | {"q": q, "type": doc_type, "sort": sort, "filters": filters}
