"""Pages of results for lists in pages and exports: one shape everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from techfin.extensions import db

T = TypeVar("T")

MAX_PER_PAGE = 100
MAX_PAGE = 100_000


def clamp(page: Any, per_page: Any = 20) -> tuple[int, int]:
    """Page number and size from untrusted input: positive, bounded integers."""
    try:
        number = int(page)
    except (TypeError, ValueError):
        number = 1
    try:
        size = int(per_page)
    except (TypeError, ValueError):
        size = 20
    return min(max(number, 1), MAX_PAGE), min(max(size, 1), MAX_PER_PAGE)


@dataclass
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int
    capped: bool = False  # there are more than `total` (a count that stopped there)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def window(self, width: int = 2) -> list[int]:
        """Page numbers to link around the current one (always the first and the last)."""
        near = range(max(1, self.page - width), min(self.pages, self.page + width) + 1)
        return sorted({1, self.pages, *near})


def paginate(
    stmt: Select, page: Any = 1, per_page: Any = 20, count_limit: int | None = None
) -> Page:
    """Run a SELECT of one entity for one page; the count ignores ORDER BY.

    `count_limit`: count at most that many rows and say "more than" beyond it (`capped`),
    so a list over a region's catalogue does not count every row on each visit; pages
    then go up to the limit's."""
    number, size = clamp(page, per_page)
    counted = stmt.order_by(None)
    if count_limit is not None:
        counted = counted.limit(count_limit + 1)
    total = int(db.session.scalar(select(func.count()).select_from(counted.subquery())) or 0)
    capped = count_limit is not None and total > count_limit
    if capped:
        total = count_limit
        number = min(number, -(-total // size))
    rows = db.session.execute(stmt.limit(size).offset((number - 1) * size)).scalars().all()
    return Page(list(rows), number, size, total, capped)


def paginate_list(items: Sequence[T], page: Any = 1, per_page: Any = 20) -> Page[T]:
    """Page through an in-memory list (already filtered and sorted)."""
    number, size = clamp(page, per_page)
    start = (number - 1) * size
    return Page(list(items[start : start + size]), number, size, len(items))
