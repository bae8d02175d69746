"""Precomputed column tables: CandidateSet (products + mandates) and NeedSet (needs).

Built once from the record dicts, so ranking one need against 10 000 products (or one
product against 100 000 needs) is a handful of numpy operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from techfin.matching.kindmodel import entity_key, product_key
from techfin.matching.profiles import (
    IP_KINDS,
    MANDATE_FUNDER_KINDS,
    NeedProfile,
    ProductProfile,
    mandate_from_funder,
    need_profile,
    product_profile,
)
from techfin.matching.rules import stage_bit, stage_mask
from techfin.matching.text import TextSpace


def _floats(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def need_columns(profiles: Sequence[NeedProfile]) -> dict[str, np.ndarray]:
    """The need-side columns read by rules.failed_rules and features.feature_matrix.

    Transforms of need-only values (logs) are computed here, once per set, not per ranking.
    """
    amount = _floats(p.amount for p in profiles)
    revenue = _floats(p.revenue for p in profiles)
    employees = _floats(p.employees for p in profiles)
    inventions = np.array([p.inventions for p in profiles], dtype=np.float64)
    high_tech = np.array([p.high_tech for p in profiles], dtype=bool)
    collateral = np.array([p.collateral for p in profiles], dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_amount = np.log(amount)
    return {
        "amount": amount,
        "log_amount": log_amount,
        "term": _floats(p.term for p in profiles),
        "collateral": collateral,
        "collateral_f": collateral.astype(np.float64),
        "stage_bit": np.array([stage_bit(p.stage) for p in profiles], dtype=np.int64),
        "high_tech": high_tech,
        "high_tech_f": high_tech.astype(np.float64),
        "inventions": inventions,
        "inventions_log2": np.log2(1.0 + inventions),
        "granted": np.array([p.granted for p in profiles], dtype=np.float64),
        "pledge_value": np.array([p.pledge_value for p in profiles], dtype=np.float64),
        **{
            f"ip_count_{k}": np.array([p.ip_count[i] for p in profiles], dtype=np.float64)
            for i, k in enumerate(IP_KINDS)
        },
        **{
            f"ip_value_{k}": np.array([p.ip_value[i] for p in profiles], dtype=np.float64)
            for i, k in enumerate(IP_KINDS)
        },
        "size_level": np.array([p.size_level for p in profiles], dtype=np.float64),
        "revenue_log10": np.where(np.isnan(revenue), 0.0, np.log10(1.0 + np.nan_to_num(revenue))),
        "staff_log10": np.where(np.isnan(employees), 0.0, np.log10(1.0 + np.nan_to_num(employees))),
    }


def product_columns(profiles: Sequence[ProductProfile]) -> dict[str, np.ndarray]:
    """The product-side columns read by rules.failed_rules and features.feature_matrix."""
    lo = _floats(p.min_amount for p in profiles)
    hi = _floats(p.max_amount for p in profiles)
    return {
        "min_amount": lo,
        "max_amount": hi,
        "amount_bounded": ~np.isnan(lo) | ~np.isnan(hi),
        "log_min": np.log(lo),
        "log_max": np.log(hi),
        "min_term": _floats(p.min_term for p in profiles),
        "max_term": _floats(p.max_term for p in profiles),
        "stage_mask": np.array([stage_mask(p.stages) for p in profiles], dtype=np.int64),
        "stage_restricted": np.array([p.stages_restricted for p in profiles], dtype=bool),
        "requires_patent": np.array([p.requires_patent for p in profiles], dtype=bool),
        "min_ip_count": np.array([p.min_ip_count for p in profiles], dtype=np.float64),
        **{
            f"accepts_{k}": np.array([k in p.accepted_ip for p in profiles], dtype=np.float64)
            for k in IP_KINDS
        },
        "requires_collateral": np.array([p.requires_collateral for p in profiles], dtype=bool),
        "requires_high_tech": np.array([p.requires_high_tech for p in profiles], dtype=bool),
        "ip_pledge": np.array([p.is_ip_pledge for p in profiles], dtype=bool),
        "region_restricted": np.array([bool(p.regions) for p in profiles], dtype=bool),
        "industry_restricted": np.array([bool(p.industries) for p in profiles], dtype=bool),
    }


class PrefixLists:
    """A list of code prefixes per row, flattened: which rows have a prefix of one code?"""

    def __init__(self, lists: Sequence[tuple[str, ...]]) -> None:
        self.n = len(lists)
        self.vocab: dict[str, int] = {}
        owner, ids = [], []
        for row, prefixes in enumerate(lists):
            for p in prefixes:
                owner.append(row)
                ids.append(self.vocab.setdefault(p, len(self.vocab)))
        # Rows grouped by prefix id (CSR-like), so a lookup touches only the matching rows.
        owner_arr = np.array(owner, dtype=np.int64)
        ids_arr = np.array(ids, dtype=np.int64)
        order = np.argsort(ids_arr, kind="stable")
        self._owners = owner_arr[order]
        self._starts = np.searchsorted(ids_arr[order], np.arange(len(self.vocab) + 1))

    def match_len(self, value: str | None) -> np.ndarray:
        """Per row, the longest listed prefix that `value` starts with (0 = none)."""
        out = np.zeros(self.n, dtype=np.int64)
        if not value:
            return out
        # Shorter prefixes first, so a longer match overwrites a shorter one.
        for k in range(1, len(value) + 1):
            j = self.vocab.get(value[:k])
            if j is not None:
                out[self._owners[self._starts[j] : self._starts[j + 1]]] = k
        return out


class CodeColumn:
    """One code per row, indexed by prefix length: which rows start with a given prefix?"""

    def __init__(self, values: Sequence[str | None]) -> None:
        self.n = len(values)
        self.maxlen = max((len(v) for v in values if v), default=0)
        self.vocab: list[dict[str, int]] = [{} for _ in range(self.maxlen + 1)]
        self.ids: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        for k in range(1, self.maxlen + 1):
            voc = self.vocab[k]
            col = [voc.setdefault(v[:k], len(voc)) if v and len(v) >= k else -1 for v in values]
            self.ids.append(np.array(col, dtype=np.int64))

    def match_len(self, prefixes: Iterable[str]) -> np.ndarray:
        """Per row, the longest of `prefixes` that the row's code starts with (0 = none)."""
        out = np.zeros(self.n, dtype=np.int64)
        for p in prefixes:
            k = len(p)
            if k > self.maxlen:
                continue
            vid = self.vocab[k].get(p)
            if vid is not None:
                np.maximum(out, np.where(self.ids[k] == vid, k, 0), out=out)
        return out


def row_weights(matrix: sp.csr_matrix, i: int) -> dict[int, float]:
    lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
    return dict(zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist(), strict=True))


def _relevance(space: TextSpace, block: sp.csr_matrix, text: str) -> np.ndarray:
    if space.size == 0 or block.shape[0] == 0:
        return np.zeros(block.shape[0])
    return np.asarray(block @ space.dense(text))


@dataclass(frozen=True, eq=False)
class Block:
    """The rows of one kind, with their own columns, prefix indexes and TF-IDF rows, so a
    ranking neither gathers nor multiplies rows it could not return."""

    rows: np.ndarray  # positions in the set's profiles
    cols: dict[str, np.ndarray]
    regions: PrefixLists | CodeColumn
    industries: PrefixLists | CodeColumn
    groups: np.ndarray  # funder index (CandidateSet) or industry-section index (NeedSet)
    tfidf: sp.csr_matrix
    # CandidateSet only: institution and product keys per row (kindmodel.PairContext), one
    # array per block kept for its lifetime, so a model can cache its lookups by identity.
    funder_keys: np.ndarray | None = None
    product_keys: np.ndarray | None = None


def _by_kind(kinds: Iterable[str | None], keep: Iterable[bool]) -> dict[str | None, np.ndarray]:
    out: dict[str | None, list[int]] = {}
    for i, (kind, ok) in enumerate(zip(kinds, keep, strict=True)):
        if ok:
            out.setdefault(kind, []).append(i)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


_NO_ROWS = np.empty(0, dtype=np.int64)


def _keys(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)


class CandidateSet:
    """Active products (and VC / guidance-fund mandates) as column arrays, per kind.

    `from_products(products, funders=…)` keeps only active products of verified funders and
    adds one "mandate" row per funder of kind vc / guidance_fund (matched against equity
    needs). Rebuild it when products change; it is read-only afterwards and safe to share
    between threads.
    """

    def __init__(
        self,
        profiles: Sequence[ProductProfile],
        text_space: TextSpace,
        tfidf: sp.csr_matrix | None = None,
    ) -> None:
        self.profiles = list(profiles)
        self.text_space = text_space
        if tfidf is None:
            tfidf = text_space.transform([p.text for p in self.profiles])
        self.tfidf = sp.csr_matrix(tfidf)
        funder_keys: dict[Any, int] = {}
        funder_index = np.array(
            [funder_keys.setdefault(p.funder_id, len(funder_keys)) for p in self.profiles],
            dtype=np.int64,
        )
        self.funder_keys: tuple[Any, ...] = tuple(funder_keys)
        kinds = _by_kind((p.kind for p in self.profiles), (p.active for p in self.profiles))
        self.blocks: dict[str | None, Block] = {}
        for kind, rows in kinds.items():
            sub = [self.profiles[i] for i in rows]
            self.blocks[kind] = Block(
                rows=rows,
                cols=product_columns(sub),
                regions=PrefixLists([p.regions for p in sub]),
                industries=PrefixLists([p.industries for p in sub]),
                groups=funder_index[rows],
                tfidf=self.tfidf[rows],
                funder_keys=_keys([entity_key(p.funder_id) for p in sub]),
                product_keys=_keys([product_key(p.type, p.id) for p in sub]),
            )

    @classmethod
    def from_products(
        cls,
        products: Iterable[Mapping[str, Any]],
        funders: Iterable[Mapping[str, Any]] = (),
        text_space: TextSpace | None = None,
    ) -> CandidateSet:
        """Products (funder embedded) plus mandates of the vc / guidance_fund `funders`.

        Without `text_space` a space is fitted on these products' texts alone; see
        build_sets for one space shared with the needs at the cost of one jieba pass.
        """
        profiles = product_profiles(products, funders)
        if text_space is None:
            text_space, tfidf = TextSpace.fit_transform([p.text for p in profiles])
            return cls(profiles, text_space, tfidf)
        return cls(profiles, text_space)

    def __len__(self) -> int:
        return len(self.profiles)

    def block(self, kind: str | None) -> Block | None:
        return self.blocks.get(kind)

    def rows_for(self, kind: str | None) -> np.ndarray:
        """Positions of the active candidates of this kind (mandates are kind "equity")."""
        blk = self.blocks.get(kind)
        return blk.rows if blk is not None else _NO_ROWS

    def text_relevance(self, text: str, kind: str | None) -> np.ndarray:
        """Cosine of `text` with each row of rows_for(kind), in that order."""
        blk = self.blocks.get(kind)
        return _relevance(self.text_space, blk.tfidf, text) if blk is not None else np.zeros(0)

    def weights(self, i: int) -> dict[int, float]:
        """Row i's TF-IDF vector as {column: weight} (for the per-pair reference loop)."""
        return row_weights(self.tfidf, i)


class NeedSet:
    """Needs (enterprise embedded) as column arrays per kind, for ranking needs for one
    product. Only needs with status "published" (or no status) are candidates."""

    def __init__(
        self,
        profiles: Sequence[NeedProfile],
        text_space: TextSpace,
        tfidf: sp.csr_matrix | None = None,
    ) -> None:
        self.profiles = list(profiles)
        self.text_space = text_space
        if tfidf is None:
            tfidf = text_space.transform([p.text for p in self.profiles])
        self.tfidf = sp.csr_matrix(tfidf)
        sections: dict[str | None, int] = {}
        section_index = np.array(
            [sections.setdefault(p.section, len(sections)) for p in self.profiles], dtype=np.int64
        )
        self.sections: tuple[str | None, ...] = tuple(sections)
        published = (p.status in (None, "published") for p in self.profiles)
        kinds = _by_kind((p.kind for p in self.profiles), published)
        self.blocks: dict[str | None, Block] = {}
        for kind, rows in kinds.items():
            sub = [self.profiles[i] for i in rows]
            self.blocks[kind] = Block(
                rows=rows,
                cols=need_columns(sub),
                regions=CodeColumn([p.region for p in sub]),
                industries=CodeColumn([p.industry for p in sub]),
                groups=section_index[rows],
                tfidf=self.tfidf[rows],
            )

    @classmethod
    def from_needs(
        cls, needs: Iterable[Mapping[str, Any]], text_space: TextSpace | None = None
    ) -> NeedSet:
        profiles = [need_profile(n) for n in needs]
        if text_space is None:
            text_space, tfidf = TextSpace.fit_transform([p.text for p in profiles])
            return cls(profiles, text_space, tfidf)
        return cls(profiles, text_space)

    def __len__(self) -> int:
        return len(self.profiles)

    def block(self, kind: str | None) -> Block | None:
        return self.blocks.get(kind)

    def rows_for(self, kind: str | None) -> np.ndarray:
        blk = self.blocks.get(kind)
        return blk.rows if blk is not None else _NO_ROWS

    def text_relevance(self, text: str, kind: str | None) -> np.ndarray:
        """Cosine of `text` with each row of rows_for(kind), in that order."""
        blk = self.blocks.get(kind)
        return _relevance(self.text_space, blk.tfidf, text) if blk is not None else np.zeros(0)

    def weights(self, i: int) -> dict[int, float]:
        """Row i's TF-IDF vector as {column: weight} (for the per-pair reference loop)."""
        return row_weights(self.tfidf, i)


def product_profiles(
    products: Iterable[Mapping[str, Any]], funders: Iterable[Mapping[str, Any]] = ()
) -> list[ProductProfile]:
    records = list(products)
    records += [mandate_from_funder(f) for f in funders if f.get("kind") in MANDATE_FUNDER_KINDS]
    return [product_profile(r) for r in records]


def build_sets(
    products: Iterable[Mapping[str, Any]],
    needs: Iterable[Mapping[str, Any]],
    funders: Iterable[Mapping[str, Any]] = (),
) -> tuple[CandidateSet, NeedSet]:
    """CandidateSet and NeedSet sharing one TextSpace fitted over both, each text segmented
    once (jieba is most of the build time: ~25 s per 100 000 short texts on one core)."""
    pprof = product_profiles(products, funders)
    nprof = [need_profile(n) for n in needs]
    space, tfidf = TextSpace.fit_transform([p.text for p in pprof] + [n.text for n in nprof])
    return (
        CandidateSet(pprof, space, tfidf[: len(pprof)]),
        NeedSet(nprof, space, tfidf[len(pprof) :]),
    )
