"""GB/T 4754-2017 national economic industry classification (国民经济行业分类).

Codes are the section letter followed by the numeric code: "C" (section), "C38" (division),
"C387" (group), "C3872" (class). All four levels are in data/industries.csv (20 sections,
97 divisions, 473 groups, 1 381 classes); registers often write a class without its letter
("3872"), which normalize_industry() restores. English names exist for sections, divisions
and a few groups; elsewhere the Chinese name is shown in every locale.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache
from typing import Literal

from techfin.reference._data import csv_rows
from techfin.reference._search import fold, haystack, rank, tokens
from techfin.reference.errors import is_english

IndustryLevel = Literal["section", "division", "group", "class"]
_LEVEL_ORDER = {"section": 0, "division": 1, "group": 2, "class": 3}
_CODE_RE = re.compile(r"[A-T](?:\d{2}\d{0,2})?")


@dataclass(frozen=True, slots=True)
class Industry:
    """One entry of GB/T 4754-2017."""

    code: str
    name_zh: str
    name_en: str
    level: IndustryLevel
    parent: str | None

    def name(self, locale: str | None = "zh") -> str:
        """The name in `locale` (zh unless the locale is English and there is an English name)."""
        return self.name_en if is_english(locale) and self.name_en else self.name_zh

    def as_dict(self) -> dict[str, str | None]:
        """Plain dict, for JSON."""
        return asdict(self)


@cache
def _table() -> dict[str, Industry]:
    return {
        row["code"]: Industry(
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            level=row["level"],  # type: ignore[arg-type]
            parent=row["parent"] or None,
        )
        for row in csv_rows("industries.csv")
    }


@cache
def _division_section() -> dict[str, str]:
    return {e.code[1:]: e.code[0] for e in _table().values() if e.level == "division"}


def industries(level: IndustryLevel | None = None) -> list[Industry]:
    """All entries in code order, or those of one level."""
    return [e for e in _table().values() if level is None or e.level == level]


def normalize_industry(code: str | int | None) -> str | None:
    """Canonical form of a loosely written code, or None if it is not a GB/T 4754 code.

    Accepts lower case, full-width characters, spaces, an int and a missing section letter
    ("c38", "C 38", "38" → "C38"; "3911" or 3911 → "C3911"). The result has the shape of a
    code whose division exists; whether it is in the table is is_valid_industry()'s question.
    """
    if not code or isinstance(code, bool):
        return None
    text = fold(str(code)).upper()
    if text.isdigit() and 2 <= len(text) <= 4:
        section = _division_section().get(text[:2])
        if section is None:
            return None
        text = section + text
    if not _CODE_RE.fullmatch(text):
        return None
    if len(text) == 1:
        return text if text in _table() else None
    if _division_section().get(text[1:3]) != text[0]:
        return None
    return text


def industry(code: str | None) -> Industry | None:
    """The entry for a code (loosely written codes are normalised first)."""
    canonical = normalize_industry(code)
    return _table().get(canonical) if canonical else None


def is_valid_industry(code: str | None) -> bool:
    """True for a canonical code that is in the table ("C38", "C", "K701"; not "c38")."""
    return isinstance(code, str) and code in _table()


def industry_name(code: str | None, locale: str | None = "zh", *, full: bool = False) -> str | None:
    """Name in `locale`; with full=True prefixed by the section ("制造业 / 电气机械和器材制造业")."""
    entry = industry(code)
    if entry is None:
        return None
    if not full or entry.parent is None:
        return entry.name(locale)
    chain = _chain(entry)
    names: list[str] = []
    for e in reversed(chain):
        # K 房地产业 / K70 房地产业, P 教育 / P83 教育: say it once.
        if not names or names[-1] != e.name(locale):
            names.append(e.name(locale))
    return " / ".join(names)


def _chain(entry: Industry) -> list[Industry]:
    """The entry and its ancestors, section last."""
    chain = [entry]
    while chain[-1].parent is not None:
        chain.append(_table()[chain[-1].parent])
    return chain


def industry_section(code: str | None) -> str | None:
    """Section letter of a code ("C38" → "C"), None if the code is not valid."""
    canonical = normalize_industry(code)
    return canonical[0] if canonical else None


def industry_matches(code: str | None, prefixes: list[str] | tuple[str, ...] | None) -> bool:
    """Whether an enterprise's industry falls under a product's list of code prefixes.

    An empty or missing list means no restriction. "C" covers all manufacturing, "C39" one
    division, "I65" software.
    """
    if not prefixes:
        return True
    canonical = normalize_industry(code)
    if canonical is None:
        return False
    wanted = [normalize_industry(p) or fold(p).upper() for p in prefixes if p]
    return any(canonical.startswith(p) for p in wanted)


def search_industries(
    q: str, limit: int = 20, *, level: IndustryLevel | None = None
) -> list[Industry]:
    """Entries whose code, zh/en name or keywords contain the query, best first, at most `limit`.

    Class names are searched like the others, so everyday words find the class that names
    them ("照明" → C3872 照明灯具制造, "半导体" → C3972…); data/industry_keywords.csv adds the
    few words that name no class ("锁具" → C3351 建筑、家具用金属配件制造). Several words
    must all match, each in the entry's or an ancestor's name ("制造 照明").
    """
    query = tokens(q or "")
    if not query:
        return []
    scored: list[tuple[int, int, str, Industry]] = []
    for entry, own, context, hay in _search_rows():
        if level is not None and entry.level != level:
            continue
        score = rank(query, entry.code, own, context, hay)
        if score is not None:
            scored.append((score, _LEVEL_ORDER[entry.level], entry.code, entry))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored[: max(limit, 0)]]


@cache
def _keywords() -> dict[str, list[str]]:
    return {row["code"]: row["keywords"].split() for row in csv_rows("industry_keywords.csv")}


@cache
def _search_rows() -> tuple[tuple[Industry, list[str], list[str], str], ...]:
    # Folded once per process: the picker searches ~1 970 rows on every keystroke.
    rows = []
    keywords = _keywords()
    for entry in _table().values():
        names = [entry.name_zh, entry.name_en, *keywords.get(entry.code, [])]
        own = [fold(n) for n in names if n]
        context = [fold(n) for e in _chain(entry)[1:] for n in (e.name_zh, e.name_en) if n]
        rows.append((entry, own, context, haystack(entry.code, own, context)))
    return tuple(rows)
