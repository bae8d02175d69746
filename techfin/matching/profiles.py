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
# Intellectual property an enterprise may hold and a product may accept. Patents count once
# granted, software copyrights and trademarks once registered; pending, lapsed or unknown
# items never count.
IP_KINDS = ("invention", "utility_model", "design", "software_copyright", "trademark")
PATENT_KINDS = ("invention", "utility_model", "design")
IP_HELD_STATUS = {
    "invention": "granted",
    "utility_model": "granted",
    "design": "granted",
    "software_copyright": "registered",
    "trademark": "registered",
}
# interchange.md: a product that requires IP and lists none accepts these.
DEFAULT_ACCEPTED_IP = ("invention", "utility_model")
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
    # Per IP_KINDS: items held (granted / registered), their summed valuation, and how
    # many of them carry a valuation.
    ip_count: tuple[int, ...] = (0, 0, 0, 0, 0)
    ip_value: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    ip_valued: tuple[int, ...] = (0, 0, 0, 0, 0)

    def ip_held(self, kinds: tuple[str, ...]) -> tuple[int, float, int]:
        """(items held, summed valuation, valued items) over the given IP kinds."""
        idx = [IP_KINDS.index(k) for k in kinds if k in IP_KINDS]
        return (
            sum(self.ip_count[i] for i in idx),
            sum(self.ip_value[i] for i in idx),
            sum(self.ip_valued[i] for i in idx),
        )

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
    # IP that counts for this product's IP rule (when requires_patent) and, for an IP
    # pledge, as pledgeable value; min_ip_count items of these kinds are required.
    accepted_ip: tuple[str, ...] = DEFAULT_ACCEPTED_IP
    min_ip_count: int = 1

    @property
    def is_ip_pledge(self) -> bool:
        return self.kind == "ip_pledge"


def _ip_items(ent: Mapping[str, Any], need: Mapping[str, Any]) -> list[Any]:
    """Every IP item of the enterprise: its "patents" (which may also hold software
    copyrights and trademarks, told apart by "kind") plus optional "copyrights",
    "trademarks" and "ip" lists; items in those two named lists default to their kind."""
    items: list[Any] = list(ent.get("patents") or need.get("patents") or [])
    for key, kind in (("copyrights", "software_copyright"), ("trademarks", "trademark")):
        for item in ent.get(key) or []:
            if isinstance(item, Mapping):
                items.append({"kind": kind, **item})
    items += list(ent.get("ip") or [])
    return items


def need_profile(need: Mapping[str, Any]) -> NeedProfile:
    """Profile of a need dict (with its enterprise dict embedded under "enterprise")."""
    ent = need.get("enterprise") or {}
    inventions = granted = pledge_count = 0
    pledge_value = 0.0
    ip_count = [0] * len(IP_KINDS)
    ip_value = [0.0] * len(IP_KINDS)
    ip_valued = [0] * len(IP_KINDS)
    for item in _ip_items(ent, need):
        if not isinstance(item, Mapping):
            continue
        kind = item.get("kind")
        if kind not in IP_KINDS:
            # A granted patent of unknown kind counts as a patent, as it always has, but
            # matches no accepted_ip kind.
            granted += item.get("status") == "granted"
            continue
        if item.get("status") != IP_HELD_STATUS[kind]:
            continue
        i = IP_KINDS.index(kind)
        ip_count[i] += 1
        value = positive(item.get("valuation_cny"))
        if value is not None:
            ip_value[i] += value
            ip_valued[i] += 1
        if kind not in PATENT_KINDS:
            continue
        granted += 1
        if kind == "invention":
            inventions += 1
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
        ip_count=tuple(ip_count),
        ip_value=tuple(ip_value),
        ip_valued=tuple(ip_valued),
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
        accepted_ip=accepted_ip(product.get("accepted_ip")),
        min_ip_count=max(int(num(product.get("min_ip_count")) or 1), 1),
    )


def accepted_ip(value: Any) -> tuple[str, ...]:
    """A product's accepted_ip list, unknown kinds dropped; DEFAULT_ACCEPTED_IP when none."""
    kinds = tuple(k for k in codes(value) if k in IP_KINDS)
    return kinds or DEFAULT_ACCEPTED_IP


def by_id(records: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]]) -> dict:
    if isinstance(records, Mapping):
        return dict(records)
    return {r.get("id"): r for r in records}
