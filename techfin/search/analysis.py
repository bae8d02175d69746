"""Chinese/English text analysis shared by the search index and the matching features."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import jieba
from whoosh.analysis import LowercaseFilter, StopFilter, Token, Tokenizer
from whoosh.analysis.filters import Filter
from whoosh.lang.porter import stem as _porter_stem

__all__ = [
    "USERDICT",
    "STOPWORDS",
    "normalize_width",
    "stem_word",
    "segment",
    "bigrams",
    "index_terms",
    "query_terms",
    "JiebaTokenizer",
    "BigramTokenizer",
    "ChineseAnalyzer",
    "StemAsciiFilter",
    "BigramAnalyzer",
]

USERDICT = Path(__file__).with_name("userdict.txt")

# Initialise once at import: a gunicorn --preload master then shares the ~90 MiB dictionary
# with its workers, and the first request does not pay the ~0.8 s load.
jieba.setLogLevel(logging.WARNING)
logging.getLogger("jieba").setLevel(logging.WARNING)
jieba.initialize()
with USERDICT.open("rb") as _fh:  # jieba leaves a path it opened itself unclosed
    jieba.load_userdict(_fh)

_STOPWORD_TEXT = """
的 了 和 与 及 或 是 在 等 为 对 将 把 被 从 以 于 由 其 之 也 而 并 且 就 都 又 这 那 这些 那些
我 我们 你 你们 他 他们 它 它们 该 各 每 所 有 无 不 没有 可 可以 能 会 要 已 已经 一个 一种
a an and are as at be by for from in is it of on or that the this to was were will with
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# Full-width ASCII (Ａ-Ｚ, ０-９, ，…) and the ideographic space map one-to-one onto half-width,
# so character offsets stay valid for highlighting (NFKC can change the string's length).
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_WIDTH[0x3000] = 0x20

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN_RE = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:[.+#][a-z0-9]+)*")
_WORD_RE = re.compile(rf"[{_CJK}a-z0-9]")
_ASCII_ALPHA_RE = re.compile(r"[a-z]{3,}")
# Control characters (incl. NUL) are never meaningful in a search and upset some consumers.
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_width(text: str) -> str:
    """Full-width → half-width, control characters → spaces, length preserved."""
    return _CTRL_RE.sub(" ", text.translate(_WIDTH))


def stem_word(word: str) -> str:
    """Porter stem of a plain lowercase English word; anything else unchanged."""
    # Model numbers like "5g" or "cn2017" and CJK words stay intact.
    return _porter_stem(word) if _ASCII_ALPHA_RE.fullmatch(word) else word


_stem = stem_word


def _keep(tok: str) -> bool:
    return bool(_WORD_RE.search(tok)) and tok not in STOPWORDS


def segment(text: str, stem: bool = False) -> list[str]:
    """jieba search-mode tokens: lowercased, without stopwords, punctuation and spaces."""
    if not text:
        return []
    out: list[str] = []
    for tok in jieba.cut_for_search(normalize_width(text)):
        tok = tok.strip().lower()
        if tok and _keep(tok):
            out.append(_stem(tok) if stem else tok)
    return out


def bigrams(text: str) -> list[str]:
    """Overlapping CJK character bigrams (a lone character stays a unigram) + stemmed words.

    Bigrams find every substring of two or more characters that jieba may have cut
    differently in the document and in the query (FACTS: jieba-only recall 0.97).
    """
    out: list[str] = []
    for m in _RUN_RE.finditer(normalize_width(text).lower()):
        run = m.group()
        if run[0].isascii():
            if run not in STOPWORDS:
                out.append(_stem(run))
        elif len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def index_terms(text: str) -> tuple[list[str], list[str]]:
    """(jieba words, bigrams) for one document text, as the index stores them."""
    return segment(text, stem=True), bigrams(text)


def _is_cjk_word(tok: str) -> bool:
    return all("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in tok)


def query_terms(text: str) -> list[str]:
    """Words of a user query: whitespace-separated chunks, each jieba-cut (precise mode).

    A single character jieba leaves between words of the same run is glued to its
    neighbour ("暗号词" → 暗号词, not 暗号 + 词): the user typed them together, and a
    lone character would match nearly everything.
    """
    words: list[str] = []
    for chunk in normalize_width(text).lower().split():
        run: list[str] = []
        for tok in [*jieba.cut(chunk), " "]:
            tok = tok.strip()
            if tok and _keep(tok) and _is_cjk_word(tok):
                run.append(tok)
                continue
            words.extend(_glue_singles(run))
            run = []
            if tok and _keep(tok):
                words.append(tok)
    return words


def _glue_singles(run: list[str]) -> list[str]:
    out: list[str] = []
    carry = ""
    for tok in run:
        if len(tok) == 1 and out:
            out[-1] += tok
        elif len(tok) == 1:
            carry += tok
        else:
            out.append(carry + tok)
            carry = ""
    if carry:
        out.append(carry)
    return out


class JiebaTokenizer(Tokenizer):
    """Whoosh tokenizer over jieba search mode, with positions and character offsets."""

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for word, start, end in jieba.tokenize(normalize_width(value), mode="search"):
            word = word.strip()
            if not word or not _WORD_RE.search(word.lower()):
                continue
            t.original = t.text = word
            t.boost = 1.0
            t.stopped = False
            if positions:
                t.pos = pos
                pos += 1
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            yield t


class BigramTokenizer(Tokenizer):
    """Whoosh tokenizer emitting CJK bigrams and lowercased, stemmed ASCII words."""

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for m in _RUN_RE.finditer(normalize_width(value).lower()):
            run, base = m.group(), m.start()
            if run[0].isascii():
                if run in STOPWORDS:
                    continue
                pieces = [(_stem(run), 0, len(run))]
            elif len(run) == 1:
                pieces = [(run, 0, 1)]
            else:
                pieces = [(run[i : i + 2], i, i + 2) for i in range(len(run) - 1)]
            for text, s, e in pieces:
                t.original = t.text = text
                t.boost = 1.0
                t.stopped = False
                if positions:
                    t.pos = pos
                    pos += 1
                if chars:
                    t.startchar = start_char + base + s
                    t.endchar = start_char + base + e
                yield t


class StemAsciiFilter(Filter):
    """Porter-stems plain English tokens and leaves CJK ones alone."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:  # type: ignore[override]
        for t in tokens:
            t.text = _stem(t.text)
            yield t


def ChineseAnalyzer(stem: bool = True):  # noqa: N802 - Whoosh names analyzers like classes
    """jieba words, lowercased, stopwords removed, English words optionally stemmed."""
    chain = JiebaTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOPWORDS, minsize=1)
    return chain | StemAsciiFilter() if stem else chain


def BigramAnalyzer():  # noqa: N802 - Whoosh names analyzers like classes
    """CJK character bigrams for recall (lowercasing and stemming happen in the tokenizer)."""
    return BigramTokenizer()
