"""Docking outcomes → labels per (need, product) pair and per-funder track records."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from techfin.localtime import beijing_today
from techfin.matching.profiles import NEGATIVE_STAGES, POSITIVE_STAGES, as_date, by_id

# Beta(1, 1) (Laplace) smoothing: a funder with no decisions in a section reads 0.5, one
# approval out of one reads 0.67, not 1.0, so a single lucky file cannot dominate.
PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0
RECENT_DAYS = 365


@dataclass(frozen=True, slots=True)
class PairLabel:
    """A pair's final label: 1 approved/funded, 0 declined; first = first recorded step."""

    need_id: Any
    product_id: Any
    label: int
    decided: date
    first: date


def pair_labels(outcomes: Iterable[Mapping[str, Any]]) -> list[PairLabel]:
    """Collapse outcome steps into one label per pair.

    Approved or funded at any step → positive (dated by its first such step); else declined
    → negative; recommended / contacted / meeting / withdrawn alone → unlabelled (the funder
    never decided; a withdrawal is the enterprise's choice). Rows without a date are ignored.
    """
    steps: dict[tuple[Any, Any], list[tuple[date, str]]] = defaultdict(list)
    for o in outcomes:
        d = as_date(o.get("date"))
        if d is None or o.get("need_id") is None or o.get("product_id") is None:
            continue
        steps[(o["need_id"], o["product_id"])].append((d, str(o.get("stage") or "")))
    out = []
    for (need_id, product_id), rows in steps.items():
        first = min(d for d, _ in rows)
        pos = [d for d, s in rows if s in POSITIVE_STAGES]
        neg = [d for d, s in rows if s in NEGATIVE_STAGES]
        if pos:
            out.append(PairLabel(need_id, product_id, 1, min(pos), first))
        elif neg:
            out.append(PairLabel(need_id, product_id, 0, min(neg), first))
    out.sort(key=lambda p: (p.decided, str(p.need_id), str(p.product_id)))
    return out


class _Track:
    __slots__ = ("days", "cum_pos", "pos_days", "pos_firms")

    def __init__(self, rows: list[tuple[int, int, Any]]) -> None:
        rows.sort(key=lambda r: r[0])
        self.days = [r[0] for r in rows]
        cum, total = [0], 0
        for r in rows:
            total += r[1]
            cum.append(total)
        self.cum_pos = cum
        self.pos_days = [r[0] for r in rows if r[1]]
        self.pos_firms = [r[2] for r in rows if r[1]]

    def stats(self, day: int) -> tuple[int, int, int]:
        k = bisect_left(self.days, day)  # decisions strictly before `day`
        approved = self.cum_pos[k]
        lo = bisect_left(self.pos_days, day - RECENT_DAYS)
        hi = bisect_left(self.pos_days, day)
        return approved, k - approved, len(set(self.pos_firms[lo:hi]))


class History:
    """Funders' past decisions per industry section, queried "as of" a date.

    Only decisions dated strictly before the as-of date count, so a training example never
    sees its own outcome (or later ones) in its features.
    """

    def __init__(self, decisions: Iterable[tuple[Any, str | None, Any, date, int]] = ()) -> None:
        """decisions: (funder_id, industry_section, enterprise_id, decided, label)."""
        rows: dict[tuple[Any, str | None], list[tuple[int, int, Any]]] = defaultdict(list)
        n = 0
        for funder_id, section, firm, decided, label in decisions:
            rows[(funder_id, section)].append((decided.toordinal(), int(label), firm))
            n += 1
        self._tracks = {k: _Track(v) for k, v in rows.items()}
        self.n_decisions = n
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._memo: dict[tuple, tuple[float, float]] = {}
        self._stats: dict[tuple, tuple[int, int, int]] = {}

    @classmethod
    def empty(cls) -> History:
        return cls(())

    @classmethod
    def from_outcomes(
        cls,
        outcomes: Iterable[Mapping[str, Any]],
        needs: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
        products: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
    ) -> History:
        """From outcome dicts plus the needs (with enterprise) and products (with funder)
        they refer to; pairs whose need or product is unknown are skipped."""
        return cls.from_labels(pair_labels(outcomes), needs, products)

    @classmethod
    def from_labels(
        cls,
        labels: Iterable[PairLabel],
        needs: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
        products: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
    ) -> History:
        need_map, product_map = by_id(needs), by_id(products)
        decisions = []
        for lab in labels:
            need, product = need_map.get(lab.need_id), product_map.get(lab.product_id)
            if need is None or product is None:
                continue
            ent = need.get("enterprise") or {}
            funder = product.get("funder") or {}
            funder_id = funder.get("id", product.get("funder_id"))
            industry = ent.get("industry")
            section = str(industry).strip()[:1].upper() if industry else None
            firm = ent.get("id", ("need", lab.need_id))
            decisions.append((funder_id, section or None, firm, lab.decided, lab.label))
        return cls(decisions)

    def stats(self, funder_id: Any, section: str | None, as_of: date) -> tuple[int, int, int]:
        """(approved, declined, distinct firms approved in the last 365 days) before as_of."""
        track = self._tracks.get((funder_id, section))
        if track is None or funder_id is None or section is None:
            return 0, 0, 0
        # Memoised: every stored match's reasons ask it again for the same few funders, and
        # the distinct-firm count scans the year's approvals (a tenth of a full recompute).
        key = (funder_id, section, as_of)
        hit = self._stats.get(key)
        if hit is None:
            if len(self._stats) > 200_000:
                self._stats.clear()
            hit = self._stats[key] = track.stats(as_of.toordinal())
        return hit

    def features(self, funder_id: Any, section: str | None, as_of: date) -> tuple[float, float]:
        """(funder_approval_rate, funder_recent_approvals) feature values (memoised: the
        distinct-firm count scans the year's approvals)."""
        key = (funder_id, section, as_of)
        hit = self._memo.get(key)
        if hit is None:
            approved, declined, recent = self.stats(funder_id, section, as_of)
            rate = (approved + PRIOR_ALPHA) / (approved + declined + PRIOR_ALPHA + PRIOR_BETA)
            hit = (rate, math.log2(1 + recent))
            if len(self._memo) > 200_000:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def feature_table(
        self, funder_ids: tuple[Any, ...], section: str | None, as_of: date
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature values for each funder in `funder_ids`, for one section (cached)."""
        # Keyed by the tuple itself (not its id) so a freed set's id reused by another cannot
        # return the wrong table.
        key = (funder_ids, section, as_of)
        hit = self._cache.get(key)
        if hit is None:
            vals = [self.features(f, section, as_of) for f in funder_ids]
            rate = np.array([v[0] for v in vals], dtype=np.float64)
            recent = np.array([v[1] for v in vals], dtype=np.float64)
            if len(self._cache) > 256:
                self._cache.clear()
            hit = self._cache[key] = (rate, recent)
        return hit


def default_as_of(as_of: date | None, now: datetime | None = None) -> date:
    """The as-of date of a ranking not given one: every decision up to and including
    Beijing's today (decisions are dated in Beijing; a server on UTC is a day behind from
    16:00 to 24:00 UTC). `now`: a naive UTC timestamp, the current time when None."""
    return as_of if as_of is not None else beijing_today(now) + timedelta(days=1)
