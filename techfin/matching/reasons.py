"""Structured reasons and gaps (code + params) and their zh_CN / en renderings.

Reasons and gaps stay structured until the last moment so the API can return codes, the
pages can render them in the reader's language, and tests can assert on codes, not prose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from techfin.money import wan_text

Names = Callable[[str, str], "str | None"] | Mapping[str, str] | None

STAGE_NAMES = {
    "zh_CN": {"seed": "种子期", "startup": "初创期", "growth": "成长期", "mature": "成熟期"},
    "en": {"seed": "seed", "startup": "start-up", "growth": "growth", "mature": "mature"},
}
SIZE_NAMES = {
    "zh_CN": {"micro": "微型企业", "small": "小型企业", "medium": "中型企业", "large": "大型企业"},
    "en": {"micro": "micro", "small": "small", "medium": "medium-sized", "large": "large"},
}


IP_NAMES = {
    "zh_CN": {
        "invention": "发明专利",
        "utility_model": "实用新型专利",
        "design": "外观设计专利",
        "software_copyright": "软件著作权",
        "trademark": "注册商标",
    },
    "en": {
        "invention": "invention patent",
        "utility_model": "utility model patent",
        "design": "design patent",
        "software_copyright": "software copyright",
        "trademark": "trademark",
    },
}
_PATENTS = ("invention", "utility_model", "design")


def _ip_gap(p: dict, locale: str) -> str:
    """ "需 1 项已登记的软件著作权" / "needs 1 registered software copyright"."""
    kinds = [k for k in p.get("kinds") or ["invention"] if k in IP_NAMES["en"]] or ["invention"]
    n = p.get("missing")
    granted = any(k in _PATENTS for k in kinds)
    registered = any(k not in _PATENTS for k in kinds)
    if locale == "zh_CN":
        names = "或".join(IP_NAMES["zh_CN"][k] for k in kinds)
        status = (
            "已授权或已登记的" if granted and registered else "已授权" if granted else "已登记的"
        )
        return f"需 {n} 项{status}{names}"
    plural = "s" if n != 1 else ""
    names = " or ".join(IP_NAMES["en"][k] + plural for k in kinds)
    status = (
        "granted or registered"
        if granted and registered
        else "granted"
        if granted
        else "registered"
    )
    return f"needs {n} {status} {names}"


def _coverage_items(p: dict, locale: str) -> str:
    kinds = p.get("kinds") or ["invention"]
    if len(kinds) == 1 and kinds[0] in IP_NAMES["en"]:
        name = IP_NAMES[locale][kinds[0]]
    else:
        name = "知识产权" if locale == "zh_CN" else "IP item"
    if locale == "zh_CN":
        return f"{p.get('n')} 项{name}"
    return f"{p.get('n')} {name}{'s' if p.get('n') != 1 else ''}"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a match scores well: `weight` is the feature's contribution to the score."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "weight": round(self.weight, 4)}


# Rules an enterprise can meet by changing its request or paperwork (amount, term,
# patents / IP, collateral, certification); region, industry and stage are what it is.
FIXABLE_RULES = frozenset({"amount", "term", "patent", "collateral", "high_tech"})


@dataclass(frozen=True, slots=True)
class Gap:
    """One failed eligibility rule: what is missing and by how much, and whether the
    enterprise can fix it (derived from the rule, so a Gap rebuilt from a stored
    {code, rule, params} knows it too)."""

    code: str
    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    # A field (derived, not passed), so orjson writes a stored gap as to_dict() does.
    fixable: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixable", self.rule in FIXABLE_RULES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "params": dict(self.params),
            "fixable": self.fixable,
        }


def lang(locale: str | None) -> str:
    """ "zh_CN" or "en": every English locale renders English, everything else Chinese."""
    return "en" if locale and str(locale).lower().startswith("en") else "zh_CN"


def wan(amount_cny: float | None) -> str:
    """Yuan → 万元 figure as shown on pages: 5000000 → "500", 1234567 → "123.46"."""
    return wan_text(amount_cny, missing="?")  # the platform's one money formatter


def _months(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def reference_names() -> Callable[[str, str], str | None] | None:
    """region_name / industry_name from techfin.reference, if that package provides them."""
    try:
        from techfin import reference
    except ImportError:
        return None
    region_name = getattr(reference, "region_name", None)
    industry_name = getattr(reference, "industry_name", None)
    if region_name is None and industry_name is None:
        return None

    def names(code: str, locale: str) -> str | None:
        fn = industry_name if code[:1].isalpha() else region_name
        if fn is None:
            return None
        try:
            return fn(code, locale)
        except (KeyError, ValueError, LookupError):
            return None

    return names


def display_name(code: str | None, locale: str, names: Names = None) -> str:
    """A code's display name from `names` (callable or dict), falling back to the code."""
    if not code:
        return "?"
    found = None
    if callable(names):
        found = names(code, locale)
    elif isinstance(names, Mapping):
        found = names.get(code)
    return str(found) if found else code


def _join(items: Any, locale: str, names: Names, kind: str = "code") -> str:
    sep = "、" if locale == "zh_CN" else ", "
    out = []
    for item in items or ():
        if kind == "stage":
            out.append(STAGE_NAMES[locale].get(item, str(item)))
        else:
            out.append(display_name(item, locale, names))
    return sep.join(out)


def _range(p: dict, locale: str, fmt: Callable[[Any], str], unit: str) -> str:
    lo, hi = p.get("min"), p.get("max")
    if lo is not None and hi is not None:
        return f"{fmt(lo)}–{fmt(hi)} {unit}"
    if hi is not None:
        return f"不超过 {fmt(hi)} {unit}" if locale == "zh_CN" else f"up to {fmt(hi)} {unit}"
    return f"不低于 {fmt(lo)} {unit}" if locale == "zh_CN" else f"from {fmt(lo)} {unit}"


def _funder_word(funder_kind: str | None, locale: str) -> str:
    if locale == "en":
        return "this bank" if funder_kind == "bank" else "this institution"
    return "该行" if funder_kind == "bank" else "该机构"


_REASONS_ZH: dict[str, Callable[[dict, Names], str]] = {
    "amount_in_range": lambda p, n: f"金额在产品区间内（{_range(p, 'zh_CN', wan, '万元')}）",
    "term_in_range": lambda p, n: (
        f"期限 {_months(p.get('term'))} 个月在产品期限范围内（{_range(p, 'zh_CN', _months, '个月')}）"
    ),
    "region_same_city": lambda p, n: f"同在{display_name(p.get('region'), 'zh_CN', n)}",
    "region_same_province": lambda p, n: f"同在{display_name(p.get('region'), 'zh_CN', n)}",
    "industry_division": lambda p, n: f"产品面向{display_name(p.get('industry'), 'zh_CN', n)}",
    "industry_section": lambda p, n: f"产品面向{display_name(p.get('industry'), 'zh_CN', n)}门类",
    "stage_fit": lambda p, n: f"支持{STAGE_NAMES['zh_CN'].get(p.get('stage'), p.get('stage'))}企业",
    "invention_patents": lambda p, n: f"拥有 {p.get('n')} 项已授权发明专利",
    "patent_coverage": lambda p, n: (
        f"{_coverage_items(p, 'zh_CN')}估值覆盖贷款额 {p.get('ratio')} 倍"
    ),
    "sme_size": lambda p, n: f"{SIZE_NAMES['zh_CN'].get(p.get('size'), p.get('size'))}",
    "high_tech": lambda p, n: "高新技术企业",
    "revenue": lambda p, n: f"年营业收入 {wan(p.get('revenue'))} 万元",
    "staff": lambda p, n: f"员工 {p.get('employees')} 人",
    "text_relevance": lambda p, n: "文本相关度高",
    "funder_approval_rate": lambda p, n: (
        f"{_funder_word(p.get('funder_kind'), 'zh_CN')}对同行业企业批准率 {p.get('percent')}%"
    ),
    "funder_recent_approvals": lambda p, n: (
        f"{_funder_word(p.get('funder_kind'), 'zh_CN')}近一年批准同行业企业 {p.get('n')} 家"
    ),
    "collateral": lambda p, n: "可提供抵押物",
    "institution_appetite": lambda p, n: (
        f"{_funder_word(p.get('funder_kind'), 'zh_CN')}过往审批偏积极"
    ),
    "product_appetite": lambda p, n: "该产品过往审批偏积极",
}

_REASONS_EN: dict[str, Callable[[dict, Names], str]] = {
    "amount_in_range": lambda p, n: (
        f"amount within the product range ({_range(p, 'en', wan, '万元')})"
    ),
    "term_in_range": lambda p, n: (
        f"term of {_months(p.get('term'))} months within the product range"
        f" ({_range(p, 'en', _months, 'months')})"
    ),
    "region_same_city": lambda p, n: f"same city: {display_name(p.get('region'), 'en', n)}",
    "region_same_province": lambda p, n: f"same province: {display_name(p.get('region'), 'en', n)}",
    "industry_division": lambda p, n: (
        f"targets your industry: {display_name(p.get('industry'), 'en', n)}"
    ),
    "industry_section": lambda p, n: (
        f"targets your industry section: {display_name(p.get('industry'), 'en', n)}"
    ),
    "stage_fit": lambda p, n: (
        f"supports {STAGE_NAMES['en'].get(p.get('stage'), p.get('stage'))}-stage firms"
    ),
    "invention_patents": lambda p, n: (
        f"{p.get('n')} granted invention patent{'s' if p.get('n') != 1 else ''}"
    ),
    "patent_coverage": lambda p, n: (
        f"{_coverage_items(p, 'en')} valued at {p.get('ratio')}× the loan"
    ),
    "sme_size": lambda p, n: f"{SIZE_NAMES['en'].get(p.get('size'), p.get('size'))} enterprise",
    "high_tech": lambda p, n: "certified high-tech enterprise",
    "revenue": lambda p, n: f"annual revenue {wan(p.get('revenue'))} 万元",
    "staff": lambda p, n: f"{p.get('employees')} employees",
    "text_relevance": lambda p, n: "description closely matches the product",
    "funder_approval_rate": lambda p, n: (
        f"{_funder_word(p.get('funder_kind'), 'en')} approves {p.get('percent')}% of firms in this industry"
    ),
    "funder_recent_approvals": lambda p, n: (
        f"approved {p.get('n')} firm{'s' if p.get('n') != 1 else ''} in this industry in the past year"
    ),
    "collateral": lambda p, n: "collateral offered",
    "institution_appetite": lambda p, n: (
        f"{_funder_word(p.get('funder_kind'), 'en')} has approved more requests than most"
    ),
    "product_appetite": lambda p, n: "this product has approved more requests than most",
}


def _gap_zh(g: Gap, n: Names) -> str:
    p = g.params
    return {
        "amount_unknown": lambda: "未填写融资金额",
        "amount_below_min": lambda: (
            f"金额低于产品下限 {wan(p.get('min'))} 万元（差 {wan(p.get('shortfall'))} 万元）"
        ),
        "amount_above_max": lambda: (
            f"金额超过产品上限 {wan(p.get('max'))} 万元（超出 {wan(p.get('excess'))} 万元）"
        ),
        "term_below_min": lambda: (
            f"期限 {_months(p.get('term'))} 个月短于产品最短期限 {_months(p.get('min'))} 个月"
        ),
        "term_above_max": lambda: (
            f"期限 {_months(p.get('term'))} 个月超过产品最长期限 {_months(p.get('max'))} 个月"
        ),
        "region_unknown": lambda: "未填写企业所在地区",
        "region_outside": lambda: f"不在{display_name(p.get('region'), 'zh_CN', n)}服务范围",
        "industry_unknown": lambda: "未填写企业所属行业",
        "industry_outside": lambda: (
            f"所属行业{display_name(p.get('industry'), 'zh_CN', n)}不在产品支持范围"
        ),
        "stage_unknown": lambda: "未填写企业发展阶段",
        "stage_outside": lambda: (
            f"产品只支持{_join(p.get('allowed'), 'zh_CN', n, 'stage')}企业"
            if p.get("allowed")
            else "发展阶段不符合产品要求"
        ),
        "patent_invention_required": lambda: f"需 {p.get('missing')} 项已授权发明专利",
        "patent_required": lambda: f"需 {p.get('missing')} 项已授权专利",
        "ip_required": lambda: _ip_gap(p, "zh_CN"),
        "collateral_required": lambda: "需提供抵押物",
        "high_tech_required": lambda: "需高新技术企业认定",
    }.get(g.code, lambda: g.code)()


def _gap_en(g: Gap, n: Names) -> str:
    p = g.params
    miss = p.get("missing")
    plural = "s" if miss != 1 else ""
    return {
        "amount_unknown": lambda: "financing amount not given",
        "amount_below_min": lambda: (
            f"amount below the product minimum of {wan(p.get('min'))} 万元 (short by {wan(p.get('shortfall'))} 万元)"
        ),
        "amount_above_max": lambda: (
            f"amount above the product maximum of {wan(p.get('max'))} 万元 (over by {wan(p.get('excess'))} 万元)"
        ),
        "term_below_min": lambda: (
            f"term of {_months(p.get('term'))} months below the product minimum of {_months(p.get('min'))} months"
        ),
        "term_above_max": lambda: (
            f"term of {_months(p.get('term'))} months above the product maximum of {_months(p.get('max'))} months"
        ),
        "region_unknown": lambda: "enterprise region not given",
        "region_outside": lambda: f"not available in {display_name(p.get('region'), 'en', n)}",
        "industry_unknown": lambda: "enterprise industry not given",
        "industry_outside": lambda: (
            f"industry {display_name(p.get('industry'), 'en', n)} not served by this product"
        ),
        "stage_unknown": lambda: "enterprise stage not given",
        "stage_outside": lambda: (
            f"only for {_join(p.get('allowed'), 'en', n, 'stage')}-stage firms"
            if p.get("allowed")
            else "stage not supported by this product"
        ),
        "patent_invention_required": lambda: f"needs {miss} granted invention patent{plural}",
        "patent_required": lambda: f"needs {miss} granted patent{plural}",
        "ip_required": lambda: _ip_gap(p, "en"),
        "collateral_required": lambda: "requires collateral",
        "high_tech_required": lambda: "requires high-tech enterprise certification",
    }.get(g.code, lambda: g.code)()


def render_reason(reason: Reason, locale: str = "zh_CN", names: Names = None) -> str:
    """One reason as a short phrase in zh_CN (default) or en; unknown codes render as the code."""
    table = _REASONS_EN if lang(locale) == "en" else _REASONS_ZH
    fn = table.get(reason.code)
    return fn(reason.params, names) if fn else reason.code


def render_gap(gap: Gap, locale: str = "zh_CN", names: Names = None) -> str:
    """One gap ("what is missing") in zh_CN (default) or en."""
    return _gap_en(gap, names) if lang(locale) == "en" else _gap_zh(gap, names)


REASON_CODES = tuple(_REASONS_ZH)
