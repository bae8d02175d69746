"""Constants, database rows → the matching library's dicts, and the shapes the pages and API return."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from techfin.models import (
    Enterprise,
    Funder,
    Need,
    Product,
)

log = logging.getLogger(__name__)

MANDATE_FUNDER_KINDS = ("vc", "guidance_fund")  # as techfin.matching.profiles

KEEP = 50  # eligible matches persisted per need
ALMOST = 5  # "almost eligible" matches persisted / shown per need or product
MAX_LIMIT = 100
# Reason codes that disclose an enterprise's financials or patents: an institution sees
# them only where the enterprise shares that data with it (confidential patents never).
FINANCIAL_REASONS = frozenset({"revenue", "staff", "sme_size"})
PATENT_REASONS = frozenset({"invention_patents", "patent_coverage"})
# The pipeline's state machine (which stage may follow which) is techfin.services.pipeline.
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
        "requires_patent": p.requires_patent, "accepted_ip": list(p.accepted_ip or []),
        "min_ip_count": p.min_ip_count, "requires_collateral": p.requires_collateral,
        "requires_high_tech": p.requires_high_tech, "status": p.status,
        "description": p.description, "funder": funder,
    }  # fmt: skip


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


def need_summary_of(n: Any, e: Any) -> dict[str, Any]:
    """need_summary of a need and its enterprise read as rows (the columns it shows)."""
    return need_summary({
        "id": n.id, "ref": n.ref, "kind": n.kind, "amount_cny": n.amount_cny,
        "term_months": n.term_months, "purpose": n.purpose, "created": n.created,
        "enterprise": {"id": e.id, "ref": e.ref, "name": e.name, "industry": e.industry,
                       "region": e.region, "stage": e.stage, "high_tech": e.high_tech},
    })  # fmt: skip


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=float))
