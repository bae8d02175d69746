"""'Did you mean' candidates for query words that the index does not know."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import jieba
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

__all__ = ["corrections"]

_lock = threading.Lock()
_words: list[str] | None = None


def _dictionary() -> list[str]:
    # jieba's dictionary (plus our user dictionary) is the vocabulary of real words; the index
    # itself stores character bigrams, which make poor suggestions on their own.
    global _words
    with _lock:
        if _words is None:
            _words = [w for w, f in jieba.dt.FREQ.items() if f > 0 and 2 <= len(w) <= 8]
        return _words


def corrections(
    word: str,
    doc_freq: Callable[[str], int],
    extra: Iterable[str] = (),
    limit: int = 3,
) -> list[str]:
    """Known words within edit distance 1 (2 for words of 5+ characters), most frequent first.

    `doc_freq(candidate)` returns how many indexed documents could contain the candidate
    (0 = none); `extra` adds vocabulary such as the index's English terms.
    """
    if len(word) < 2 or len(word) > 20:
        return []
    maxdist = 1 if len(word) <= 4 else 2
    choices = list(extra) if word.isascii() else _dictionary()
    found = process.extract(
        word, choices, scorer=Levenshtein.distance, score_cutoff=maxdist, limit=None
    )
    ranked: list[tuple[int, int, str]] = []
    for cand, dist, _ in found:
        if cand == word:
            continue
        df = doc_freq(cand)
        if df > 0:
            ranked.append((dist, -df, cand))
    ranked.sort()
    return [c for _, _, c in ranked[:limit]]
