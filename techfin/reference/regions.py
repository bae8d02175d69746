"""GB/T 2260 administrative division codes (中华人民共和国行政区划代码).

The table (data/regions.csv, sources in data/README.md) holds every code of the current list:
the 34 provincial-level units, the prefecture-level units (地级市, 地区, 自治州, 盟) and every
county-level unit (市辖区, 县, 县级市, 旗…), so that the code on any business licence is here.
A county's parent is its prefecture, or its province where there is none (the districts of
the four municipalities, and 省直辖县级行政区划 such as 济源, 仙桃, 石河子).

Registers and older systems also write the four municipalities with the grouping codes of
GB/T 2260 ("110100 市辖区", "500200 县"); normalize_region() maps those to the municipality.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Literal

from techfin.reference._data import csv_rows
from techfin.reference._search import fold, haystack, rank, tokens
from techfin.reference.errors import is_english

RegionLevel = Literal["province", "prefecture", "county"]
_LEVEL_ORDER = {"province": 0, "prefecture": 1, "county": 2}
# GB/T 2260's grouping codes under the municipalities (市辖区, 县): not places of their own,
# but what many registers store for "Beijing" or "Chongqing".
_MUNICIPAL_GROUPS = {
    "110100": "110000",
    "120100": "120000",
    "310100": "310000",
    "500100": "500000",
    "500200": "500000",
}


@dataclass(frozen=True, slots=True)
class Region:
    """One administrative division."""

    code: str
    name_zh: str
    name_en: str
    level: RegionLevel
    parent: str | None

    def name(self, locale: str | None = "zh") -> str:
        """The name in `locale` (zh unless the locale is English)."""
        return self.name_en if is_english(locale) else self.name_zh

    @property
    def province(self) -> str:
        """Six-digit code of the provincial-level unit this one belongs to."""
        return self.code[:2] + "0000"

    def as_dict(self) -> dict[str, str | None]:
        """Plain dict, for JSON."""
        return asdict(self)


@cache
def _table() -> dict[str, Region]:
    return {
        row["code"]: Region(
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            level=row["level"],  # type: ignore[arg-type]
            parent=row["parent"] or None,
        )
        for row in csv_rows("regions.csv")
    }


def regions(level: RegionLevel | None = None, parent: str | None = None) -> list[Region]:
    """All regions in code order, optionally of one level and/or under one parent code."""
    return [
        r
        for r in _table().values()
        if (level is None or r.level == level) and (parent is None or r.parent == parent)
    ]


def normalize_region(code: str | int | None) -> str | None:
    """The table's code for a loosely written one, or None if it is not a known region.

    Accepts surrounding spaces, full-width digits, an int (a spreadsheet cell) and the
    municipal grouping codes ("110100" → "110000").
    """
    if code is None or isinstance(code, bool):
        return None
    text = fold(str(code))
    text = _MUNICIPAL_GROUPS.get(text, text)
    return text if text in _table() else None


def region(code: str | None) -> Region | None:
    """The region with this six-digit code (loosely written codes are normalised first)."""
    canonical = normalize_region(code)
    return _table()[canonical] if canonical else None


def is_valid_region(code: str | None) -> bool:
    """True for a six-digit code that is in the table."""
    return isinstance(code, str) and len(code) == 6 and code in _table()


def _chain(entry: Region) -> list[Region]:
    """The entry and its ancestors, province last."""
    chain = [entry]
    while chain[-1].parent is not None:
        chain.append(_table()[chain[-1].parent])
    return chain


def region_name(code: str | None, locale: str | None = "zh", *, full: bool = False) -> str | None:
    """Name in `locale`; full=True adds the prefecture and province:
    "广东省 深圳市 南山区" / "Nanshan District, Shenzhen, Guangdong"."""
    entry = region(code)
    if entry is None:
        return None
    if not full or entry.parent is None:
        return entry.name(locale)
    chain = _chain(entry)
    if is_english(locale):
        return ", ".join(e.name_en for e in chain)
    return " ".join(e.name_zh for e in reversed(chain))


def region_prefix(prefix: str) -> str:
    """The matching prefix a product's region entry stands for.

    A full code denotes everything under it, so its trailing "00" pairs are dropped:
    "440000" → "44", "442000" → "4420"; short prefixes ("44", "4420") are kept.
    """
    text = fold(prefix)
    if len(text) == 6 and text.isdigit():
        while text.endswith("00") and len(text) > 2:
            text = text[:-2]
    return text


def is_valid_region_prefix(prefix: str | None) -> bool:
    """True for 2, 4 or 6 digits that denote at least one region in the table."""
    if not isinstance(prefix, str) or not prefix.isdigit() or len(prefix) not in (2, 4, 6):
        return False
    return region_prefix(prefix) in _prefixes()


@cache
def _prefixes() -> frozenset[str]:
    # Every 2-, 4- and 6-digit prefix of a code: forms and imports check up to 50 prefixes a
    # record against ~3 200 codes, which a set lookup answers without scanning them.
    return frozenset(code[:n] for code in _table() for n in (2, 4, 6))


def region_matches(code: str | None, prefixes: list[str] | tuple[str, ...] | None) -> bool:
    """Whether a region code lies in a product's list of code prefixes.

    An empty or missing list means everywhere; "44" (or "440000") is all of Guangdong,
    "4420" (or "442000") Zhongshan.
    """
    if not prefixes:
        return True
    if not code:
        return False
    return any(code.startswith(region_prefix(p)) for p in prefixes if p)


def search_regions(q: str, limit: int = 20, *, level: RegionLevel | None = None) -> list[Region]:
    """Regions whose code or zh/en name contains the query, best first, at most `limit`.

    Several words must all match, each in the region's or its prefecture's or province's
    name, so that "广东 中山" and "guangdong zhongshan" find 442000 and "深圳 南山" 440305.
    """
    query = tokens(q or "")
    if not query:
        return []
    scored: list[tuple[int, int, str, Region]] = []
    for entry, own, context, hay in _search_rows():
        if level is not None and entry.level != level:
            continue
        score = rank(query, entry.code, own, context, hay)
        if score is not None:
            scored.append((score, _LEVEL_ORDER[entry.level], entry.code, entry))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored[: max(limit, 0)]]


@cache
def _search_rows() -> tuple[tuple[Region, list[str], list[str], str], ...]:
    # Folded once per process: the picker searches ~3 200 rows on every keystroke.
    rows = []
    for entry in _table().values():
        own = [fold(entry.name_zh), fold(entry.name_en)]
        context = [fold(n) for e in _chain(entry)[1:] for n in (e.name_zh, e.name_en)]
        rows.append((entry, own, context, haystack(entry.code, own, context)))
    return tuple(rows)
