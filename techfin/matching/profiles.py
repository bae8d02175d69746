"""Plain-dict records (interchange.md) → typed profiles.

This is the only place that tolerates missing, None or oddly typed fields; everything
downstream (rules, features, the vectorised tables and the reference loop) reads profiles,
so the scalar and the batch paths see exactly the same values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

STAGES = ("seed", "startup", "growth", "mature")
STAGE_BITS = {s: 1 << i for i, s in enumerate(STAGES)}
SIZES = ("micro", "small", "medium", "large")
NEED_KINDS = ("equity", "loan", "ip_pledge", "guarantee", "insurance")
# Funders whose whole mandate (not a listed product) is matched against equity needs.
MANDATE_FUNDER_KINDS = ("vc", "guidance_fund")
POSITIVE_STAGES = ("approved", "funded")
NEGATIVE_STAGES = ("declined",)


def num(value: Any) -> float | None:
    """A finite float, or None for None / bool / text that is not a number / NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def positive(value: Any) -> float | None:
    # Zero or negative amounts, terms and bounds carry no information ("no minimum"),
    # and treating them as None keeps every ratio below free of division by zero.
    out = num(value)
    return out if out is not None and out > 0 else None


def flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "是")
    return bool(value) if value is not None else False


def codes(value: Any, upper: bool = False) -> tuple[str, ...]:
    """A list of code prefixes; None or empty means "no restriction"."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.replace("，", ",").split(",")
    out = []
    try:
        items = list(value)
    except TypeError:
        items = [value]
    for item in items:
        if item is None:
            continue
        text = str(item).strip()
        if text:
            out.append(text.upper() if upper else text)
    return tuple(dict.fromkeys(out))


def code(value: Any, upper: bool = False) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.upper() if upper else text


def as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def text_of(*parts: Any) -> str:
    return "\n".join(str(p) for p in parts if p)


def estimate_size(employees: float | None, revenue: float | None) -> str | None:
    """Rough SME class from staff and revenue when the record has none.

    Uses the industrial thresholds of 工信部联企业〔2011〕300号 (large: ≥1000 staff and
    ≥4 亿 revenue; medium: ≥300 and ≥2000 万; small: ≥20 and ≥300 万; else micro), because
    most tech SMEs here are manufacturers; the platform passes the exact class computed
    by techfin.reference for the enterprise's industry whenever it has one.
    """
    if employees is None and revenue is None:
        return None
    e = employees if employees is not None else math.inf
    r = revenue if revenue is not None else math.inf
    if e >= 1000 and r >= 400_000_000:
        return "large"
    if e >= 300 and r >= 20_000_000:
        return "medium"
    if e >= 20 and r >= 3_000_000:
        return "small"
    return "micro"


@dataclass(frozen=True, slots=True)
class NeedProfile:
    """What the rules and features need to know about a need and its enterprise."""

    id: Any
    ref: str | None
    kind: str | None
    status: str | None
    amount: float | None
    term: float | None
    collateral: bool
    region: str | None
    industry: str | None
    stage: str | None
    high_tech: bool
    inventions: int  # granted invention patents
    granted: int  # granted patents of any kind
    pledge_value: float  # summed valuation of the granted invention patents
    pledge_count: int  # granted invention patents that carry a valuation
    size: str | None
    revenue: float | None
    employees: float | None
    enterprise_id: Any
    enterprise_name: str | None
    created: date | None
    text: str

    @property
    def section(self) -> str | None:
        return self.industry[0] if self.industry else None

    @property
    def size_level(self) -> float:
        # Unknown size counts as "small", the most common class on the platform, so a
        # missing field neither helps nor hurts much.
        return float(SIZES.index(self.size)) if self.size in SIZES else 1.0


@dataclass(frozen=True, slots=True)
class ProductProfile:
    """A product, or a VC / guidance-fund mandate dressed as one (type == "mandate")."""

    id: Any
    ref: str | None
    name: str | None
    type: str
    kind: str | None
    active: bool
    min_amount: float | None
    max_amount: float | None
    min_term: float | None
    max_term: float | None
    rate_min: float | None
    rate_max: float | None
    regions: tuple[str, ...]
    industries: tuple[str, ...]
    stages: tuple[str, ...]
    stages_restricted: bool
    requires_patent: bool
    requires_collateral: bool
    requires_high_tech: bool
    funder_id: Any
    funder_ref: str | None
    funder_name: str | None
    funder_kind: str | None
    text: str

    @property
    def is_ip_pledge(self) -> bool:
        return self.kind == "ip_pledge"


def need_profile(need: Mapping[str, Any]) -> NeedProfile:
    """Profile of a need dict (with its enterprise dict embedded under "enterprise")."""
    ent = need.get("enterprise") or {}
    patents = ent.get("patents") or need.get("patents") or []
    inventions = granted = pledge_count = 0
    pledge_value = 0.0
    for pat in patents:
        if not isinstance(pat, Mapping) or pat.get("status") != "granted":
            continue
        granted += 1
        if pat.get("kind") == "invention":
            inventions += 1
            value = positive(pat.get("valuation_cny"))
            if value is not None:
                pledge_value += value
                pledge_count += 1
    employees = num(ent.get("employees"))
    revenue = num(ent.get("revenue_cny"))
    size = ent.get("size")
    if size not in SIZES:
        size = estimate_size(employees, revenue)
    stage = ent.get("stage")
    return NeedProfile(
        id=need.get("id"),
        ref=need.get("ref"),
        kind=need.get("kind"),
        status=need.get("status"),
        amount=positive(need.get("amount_cny")),
        term=positive(need.get("term_months")),
        collateral=flag(need.get("collateral_available")),
        region=code(ent.get("region")),
        industry=code(ent.get("industry"), upper=True),
        stage=stage if stage in STAGES else None,
        high_tech=flag(ent.get("high_tech")),
        inventions=inventions,
        granted=granted,
        pledge_value=pledge_value,
        pledge_count=pledge_count,
        size=size,
        revenue=revenue if revenue is not None and revenue >= 0 else None,
        employees=employees if employees is not None and employees >= 0 else None,
        enterprise_id=ent.get("id"),
        enterprise_name=ent.get("name"),
        created=as_date(need.get("created")),
        text=text_of(ent.get("name"), need.get("purpose"), ent.get("description")),
    )


def mandate_from_funder(funder: Mapping[str, Any]) -> dict[str, Any]:
    """A VC / guidance fund's investment mandate as a product-like dict (kind "equity").

    Funder records carry no amounts or terms, so a mandate is open on those unless the
    funder dict brings optional min_amount_cny / max_amount_cny / industries / stages.
    """
    return {
        "id": funder.get("id"),
        "ref": funder.get("ref"),
        "name": funder.get("name"),
        "type": "mandate",
        "kind": "equity",
        "min_amount_cny": funder.get("min_amount_cny"),
        "max_amount_cny": funder.get("max_amount_cny"),
        "min_term_months": None,
        "max_term_months": None,
        "industries": funder.get("industries") or [],
        "regions": funder.get("regions") or [],
        "stages": funder.get("stages") or [],
        "requires_patent": False,
        "requires_collateral": False,
        "requires_high_tech": flag(funder.get("requires_high_tech")),
        "status": "active",
        # The funder's description reaches the text through "funder"; not twice.
        "description": "",
        "funder": funder,
    }


def _funder_active(funder: Mapping[str, Any]) -> bool:
    if funder.get("verified") is False:
        return False
    return funder.get("status") not in ("pending", "rejected")


def product_profile(product: Mapping[str, Any]) -> ProductProfile:
    """Profile of a product dict (funder embedded under "funder") or of a mandate dict.

    A product without regions of its own serves its funder's regions: a city bank's
    products do not become national because the product form left the field empty.
    """
    funder = product.get("funder") or {}
    regions = codes(product.get("regions")) or codes(funder.get("regions"))
    raw_stages = codes(product.get("stages"))
    status = product.get("status")
    return ProductProfile(
        id=product.get("id"),
        ref=product.get("ref"),
        name=product.get("name"),
        type=product.get("type") or "product",
        kind=product.get("kind"),
        active=(status in (None, "active")) and _funder_active(funder),
        min_amount=positive(product.get("min_amount_cny")),
        max_amount=positive(product.get("max_amount_cny")),
        min_term=positive(product.get("min_term_months")),
        max_term=positive(product.get("max_term_months")),
        rate_min=num(product.get("rate_min")),
        rate_max=num(product.get("rate_max")),
        regions=regions,
        industries=codes(product.get("industries"), upper=True),
        stages=tuple(s for s in raw_stages if s in STAGES),
        stages_restricted=bool(raw_stages),
        requires_patent=flag(product.get("requires_patent")),
        requires_collateral=flag(product.get("requires_collateral")),
        requires_high_tech=flag(product.get("requires_high_tech")),
        funder_id=funder.get("id", product.get("funder_id")),
        funder_ref=funder.get("ref"),
        funder_name=funder.get("name"),
        funder_kind=funder.get("kind"),
        text=text_of(product.get("name"), product.get("description"), funder.get("description")),
    )


def by_id(records: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]]) -> dict:
    if isinstance(records, Mapping):
        return dict(records)
    return {r.get("id"): r for r in records}
