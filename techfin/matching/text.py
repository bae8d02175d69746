"""TF-IDF over jieba tokens for the text_relevance feature.

scikit-learn's default token_pattern turns a run of Chinese characters into one token, so
the vectoriser always gets techfin.search.analysis.segment as its tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from techfin.matching.profiles import need_profile, product_profile
from techfin.search.analysis import segment


@lru_cache(maxsize=50_000)
def _segmented(text: str) -> tuple[str, ...]:
    return tuple(segment(text))


def _tokens(text: str) -> list[str]:
    # A snapshot is rebuilt after every write to the catalogue; nearly all of its texts are
    # unchanged, so jieba (most of a rebuild's time) only sees the ones that did change.
    # Texts are profiles.text_of's parts joined by newlines, and jieba cuts on whitespace
    # anyway, so each part is segmented (and cached) alone with the same tokens: the
    # enterprise's name and description, shared by all its needs, are cut once, not once
    # per need and again after each edit of a purpose (a quarter of a full recompute).
    if "\n" not in text:
        return list(_segmented(text))
    out: list[str] = []
    for part in text.split("\n"):
        out += _segmented(part)
    return out


class TextSpace:
    """One shared vocabulary and IDF for needs and products; rows are L2-normalised.

    Fit it over both sides (`TextSpace.from_records(products=…, needs=…)`) so a need and
    a product are compared in one space; a CandidateSet or NeedSet built without one fits
    its own over its corpus (terms only the other side uses then count for nothing).
    The space is not saved with the model: it is rebuilt from the current records, and
    the model only learns how much a cosine matters.
    """

    def __init__(self, vectorizer: TfidfVectorizer | None) -> None:
        self.vectorizer = vectorizer
        self.size = len(vectorizer.vocabulary_) if vectorizer is not None else 0
        self._vocab: dict[str, int] = dict(vectorizer.vocabulary_) if vectorizer is not None else {}
        self._idf = (
            np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer is not None else None
        )
        # The idf a word unseen in the fitted corpus would get (sklearn's smooth idf with
        # df = 0), recovered from the rarest word's (df = 1): ln((1+n)/2)+1 = max idf.
        self._unseen_idf = (
            float(np.log(np.exp(self._idf.max() - 1.0) * 2.0) + 1.0)
            if self._idf is not None and self._idf.size
            else 0.0
        )

    @staticmethod
    def _vectorizer() -> TfidfVectorizer:
        return TfidfVectorizer(
            tokenizer=_tokens,
            token_pattern=None,
            lowercase=False,  # segment() already lowercases Latin words
            sublinear_tf=True,  # a word repeated in a long description should not dominate
            dtype=np.float64,
        )

    @classmethod
    def fit(cls, texts: Iterable[str]) -> TextSpace:
        vec = cls._vectorizer()
        docs = [t or "" for t in texts]
        try:
            vec.fit(docs)
        except ValueError:  # empty corpus or no tokens at all
            return cls(None)
        return cls(vec)

    @classmethod
    def fit_transform(cls, texts: Sequence[str]) -> tuple[TextSpace, sp.csr_matrix]:
        """fit() and transform() of the same texts in one jieba pass."""
        vec = cls._vectorizer()
        docs = [t or "" for t in texts]
        try:
            matrix = vec.fit_transform(docs)
        except ValueError:
            return cls(None), sp.csr_matrix((len(docs), 0), dtype=np.float64)
        return cls(vec), sp.csr_matrix(matrix)

    @classmethod
    def from_records(
        cls,
        products: Iterable[Mapping[str, Any]] = (),
        needs: Iterable[Mapping[str, Any]] = (),
    ) -> TextSpace:
        texts = [product_profile(p).text for p in products]
        texts += [need_profile(n).text for n in needs]
        return cls.fit(texts)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self.vectorizer is None:
            return sp.csr_matrix((len(texts), 0), dtype=np.float64)
        return sp.csr_matrix(self.vectorizer.transform([t or "" for t in texts]))

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, weights) of one text: transform()'s arithmetic without the sklearn
        call overhead (~1.5 ms), which would dominate ranking one need."""
        counts: dict[int, int] = {}
        unseen: dict[str, int] = {}
        if self.vectorizer is not None and text:
            vocab = self._vocab
            for tok in _tokens(text):
                j = vocab.get(tok)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
                else:
                    unseen[tok] = unseen.get(tok, 0) + 1
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        w = (np.log(tf) + 1.0) * self._idf[idx]  # sublinear_tf, then idf, as sklearn does
        # Words the space never saw still count in the length: a text sharing one word
        # with the products among twenty others must not look as close as one made of it
        # (a space fitted on the products alone would otherwise inflate every cosine).
        tf_unseen = np.fromiter(unseen.values(), dtype=np.float64, count=len(unseen))
        w_unseen = (np.log(tf_unseen) + 1.0) * self._unseen_idf
        return idx, w / np.sqrt(np.dot(w, w) + np.dot(w_unseen, w_unseen))

    def dense(self, text: str) -> np.ndarray:
        v = np.zeros(self.size, dtype=np.float64)
        idx, w = self.vector(text)
        v[idx] = w
        return v

    def weights(self, text: str) -> dict[int, float]:
        """{column: weight} of one text, for the per-pair reference computation."""
        idx, w = self.vector(text)
        return dict(zip(idx.tolist(), w.tolist(), strict=True))


def cosine(a: Mapping[int, float], b: Mapping[int, float]) -> float:
    """Dot product of two L2-normalised sparse vectors given as dicts."""
    if len(a) > len(b):
        a, b = b, a
    return float(sum(w * b.get(k, 0.0) for k, w in a.items()))
