"""HTML-safe snippets with query hits wrapped in <mark>."""

from __future__ import annotations

import re
from html import escape

from techfin.search.analysis import normalize_width, stem_word

__all__ = ["snippet"]


def _hit_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    # Matching runs on a lowercased, width-normalised copy of the same length, so offsets
    # apply to the original text unchanged.
    low = normalize_width(text).lower()
    spans: list[tuple[int, int]] = []
    for w in words:
        if not w:
            continue
        if w.isascii():
            # English words are indexed stemmed: "financing" must light up "finance".
            stem = stem_word(w)
            pat = re.compile(r"(?<![a-z0-9])" + re.escape(stem) + r"[a-z0-9]*")
            spans.extend(m.span() for m in pat.finditer(low))
        else:
            start = low.find(w)
            while start >= 0:
                spans.append((start, start + len(w)))
                start = low.find(w, start + len(w))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def snippet(text: str, words: list[str], width: int = 120, lead: int = 20) -> str:
    """A window of `text` around the first hit: escaped, hits in <mark>, cut ends marked …."""
    text = text or ""
    spans = _hit_spans(text, words)
    start = max(0, spans[0][0] - lead) if spans else 0
    end = min(len(text), start + width)
    if end - start < width:
        start = max(0, end - width)
    parts: list[str] = ["…"] if start > 0 else []
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        parts.append(escape(text[pos:s]))
        parts.append("<mark>" + escape(text[s:e]) + "</mark>")
        pos = e
    parts.append(escape(text[pos:end]))
    if end < len(text):
        parts.append("…")
    return "".join(parts)


def has_hit(text: str, words: list[str]) -> bool:
    return bool(_hit_spans(text or "", words))
