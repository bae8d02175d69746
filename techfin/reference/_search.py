"""Text folding and ranking shared by the searchable pickers."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


# Cached: the pickers fold every row's code on each keystroke (3 200 regions, 1 900 industries).
@lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Lower-case, full-width to ASCII, accents and separators dropped.

    So that "Lu liang", "lüliang" and "Lüliang" all meet, and "Ｃ３８" finds C38.
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch) and ch not in " '’-_,.·、，")


def haystack(code: str, own: list[str], context: list[str]) -> str:
    """Everything a multi-word query is matched against, for rank() (computable once per row)."""
    return " ".join([fold(code), *own, *context])


def rank(
    query_tokens: list[str],
    code: str,
    own: list[str],
    context: list[str],
    hay: str | None = None,
) -> int | None:
    """Rank one candidate; None when some token matches nowhere.

    0 exact code or name, 1 code or name starts with the query, 2 the query is inside its
    own name, 3 a token only matched the parent's name (typing a province lists its cities).
    """
    whole = "".join(query_tokens)
    code_f = fold(code)
    if whole in (code_f, *own):
        return 0
    if code_f.startswith(whole) or any(name.startswith(whole) for name in own):
        return 1
    if any(whole in name for name in own):
        return 2
    hay = hay if hay is not None else haystack(code, own, context)
    if all(token in hay for token in query_tokens):
        return 3
    return None


def tokens(query: str) -> list[str]:
    """Whitespace-separated query tokens, folded; empty tokens dropped."""
    return [t for t in (fold(part) for part in query.split()) if t]
