"""SME size classification (中小企业划型) per 工信部联企业〔2011〕300号.

The thresholds and industry scopes live in data/sme_size_rules.json. Each rule gives, per
size class, the lower bound of every indicator it uses; a class is reached only when every
indicator meets its bound, otherwise the enterprise drops a class, and one indicator below
the small-enterprise bound makes it micro (the NBS 2017 reading of the notice).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from techfin.reference._data import json_data
from techfin.reference.errors import ReferenceValidationError, is_english
from techfin.reference.industries import normalize_industry

SmeSize = Literal["micro", "small", "medium", "large"]
SME_SIZES: tuple[SmeSize, ...] = ("micro", "small", "medium", "large")
_CLASSES_DESC: tuple[SmeSize, ...] = ("large", "medium", "small")
Metric = Literal["employees", "revenue_cny", "total_assets_cny"]


@dataclass(frozen=True, slots=True)
class SmeRule:
    """The thresholds for one industry family."""

    id: str
    name_zh: str
    name_en: str
    prefixes: tuple[str, ...]
    lower_bounds: dict[str, dict[str, int]]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The indicators this family is measured by, e.g. ("employees", "revenue_cny")."""
        return tuple(self.lower_bounds["large"])

    def name(self, locale: str | None = "zh") -> str:
        """The family's name in `locale`."""
        return self.name_en if is_english(locale) else self.name_zh


@cache
def _rules() -> dict[str, SmeRule]:
    data = json_data("sme_size_rules.json")
    return {
        r["id"]: SmeRule(
            id=r["id"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            prefixes=tuple(r["prefixes"]),
            lower_bounds=r["lower_bounds"],
        )
        for r in data["rules"]
    }


@cache
def _prefix_index() -> tuple[tuple[str, SmeRule | None], ...]:
    # Longest prefix first, so "K702" (property management) wins over "K70" and "J" (not
    # covered) over the catch-all "".
    pairs: list[tuple[str, SmeRule | None]] = [
        (p, rule) for rule in _rules().values() for p in rule.prefixes
    ]
    pairs += [(p, None) for p in json_data("sme_size_rules.json")["not_covered"]["prefixes"]]
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def sme_rules() -> list[SmeRule]:
    """Every industry family, in the order of the notice."""
    return list(_rules().values())


def sme_rule(industry: str) -> SmeRule | None:
    """The family an industry code belongs to; None where the notice does not apply (finance…).

    Raises ReferenceValidationError for a string that is not a GB/T 4754 code.
    """
    code = normalize_industry(industry)
    if code is None:
        raise ReferenceValidationError(
            "industry.invalid",
            f"“{industry}”不是有效的国民经济行业分类代码（GB/T 4754-2017）",
            f"{industry!r} is not a GB/T 4754-2017 industry code",
            industry,
        )
    for prefix, rule in _prefix_index():
        if code.startswith(prefix):
            return rule
    return None  # pragma: no cover - the catch-all "" prefix always matches


def _check_amount(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < 0:
        label = json_data("sme_size_rules.json")["metrics"][name]
        raise ReferenceValidationError(
            f"sme.negative_{name}",
            f"{label['zh']}不能为负数",
            f"{label['en']} must not be negative",
            value,
        )


def _reaches(bounds: dict[str, int], values: dict[str, int | None], assume_missing: int) -> bool:
    return all(
        (values[m] if values[m] is not None else assume_missing) >= bound
        for m, bound in bounds.items()
    )


def sme_size(
    industry: str,
    employees: int | None,
    revenue_cny: int | None,
    total_assets_cny: int | None,
) -> SmeSize | None:
    """'micro' | 'small' | 'medium' | 'large' under the 2011 SME rules; money in yuan.

    None when the industry is outside the rules (finance, public administration…) or when an
    indicator the rule needs is missing and the class depends on it. A missing figure that
    cannot change the outcome does not matter: an industrial firm with 12 employees is micro
    whatever its revenue.
    """
    for name, value in (
        ("employees", employees),
        ("revenue_cny", revenue_cny),
        ("total_assets_cny", total_assets_cny),
    ):
        _check_amount(name, value)
    rule = sme_rule(industry)
    if rule is None:
        return None
    values: dict[str, int | None] = {
        "employees": employees,
        "revenue_cny": revenue_cny,
        "total_assets_cny": total_assets_cny,
    }
    # Classify twice, with each missing figure as small as possible and as large as
    # possible; only an outcome both agree on is known.
    outcomes = set()
    for assume in (0, 1 << 62):
        outcome: SmeSize = "micro"
        for size in _CLASSES_DESC:
            if _reaches(rule.lower_bounds[size], values, assume):
                outcome = size
                break
        outcomes.add(outcome)
    return outcomes.pop() if len(outcomes) == 1 else None


@cache
def _labels() -> dict[str, dict[str, str]]:
    return json_data("sme_size_rules.json")["sizes"]


def sme_size_label(size: str | None, locale: str | None = "zh") -> str | None:
    """Display name of a size class ("中型企业" / "Medium-sized enterprise")."""
    if size not in _labels():
        return None
    return _labels()[size]["en" if is_english(locale) else "zh"]
