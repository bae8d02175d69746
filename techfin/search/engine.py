"""The search engine: a Whoosh index read through numpy.

Whoosh (pure Python) stores the index: segments, posting lists, columns, deletions, the
writer lock and atomic commits. Scoring, access filtering, facet counts and sorting are done
here over numpy arrays per segment, because Whoosh's per-document Python loops cost
150–400 ms for a common word over 100k documents (FACTS.md); segments are immutable, so
their arrays and posting lists are cached by segment id.

Layout of ``index_dir``::

    CURRENT            name of the live generation (replaced atomically by rebuild)
    gen-…/             one Whoosh index; the applied outbox position is a document in it
    .rebuild.lock      one rebuild at a time

Every segment carries a digest of its compound file in the commit (TOC) that adds it;
readers refuse a segment whose bytes no longer match, because Whoosh would read garbage of
the right length as an index and answer wrongly instead of failing.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import logging
import math
import os
import pickle
import secrets
import shutil
import struct
import threading
import time
import traceback
import warnings
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import numpy as np
from whoosh import columns, fields, formats
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec, W3LeafMatcher, W3Segment
from whoosh.filedb.filestore import FileStorage
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.util.filelock import try_for
from whoosh.writing import LockError

from techfin.search import spelling
from techfin.search.analysis import (
    BigramAnalyzer,
    bigrams,
    normalize_width,
    query_terms,
    stem_word,
)
from techfin.search.highlight import has_hit, snippet

__all__ = [
    "DOC_TYPES",
    "FACETS",
    "Change",
    "IndexBusy",
    "InvalidDocument",
    "SearchEngine",
    "SearchError",
    "SearchResult",
    "SearchUnavailable",
    "Viewer",
]

log = logging.getLogger(__name__)

DOC_TYPES = ("enterprise", "need", "product", "funder", "patent", "copyright", "trademark")
FACETS = (
    "type",
    "kind",
    "industry",
    "section",
    "region",
    "province",
    "city",
    "stage",
    "size",
    "status",
)
SORTS = ("relevance", "date", "amount", "date_asc", "amount_asc")

_VIS = {"public": 0, "institutions": 1, "owner": 2, "operator": 3}
_VIS_INTERNAL = 9  # the applied-position document: never visible to anyone
_STATE_KEY = "~state"

MAX_QUERY_CHARS = 200
MAX_QUERY_GROUPS = 24
MAX_BODY_CHARS = 20_000
BUILD_PASS_DOCS = 40_000
BUILD_LIMIT_MB = 512  # per worker; Whoosh estimates ~165 bytes per posting, ~115 per doc
TITLE_WEIGHT = 3  # a title bigram counts as three body bigrams
BM25_K1, BM25_B = 1.2, 0.75
_SEP = "\x1f"
# type id vis org kind industry region stage size status amount date version rvis restricted;
# rows of 13 fields (written before the last two existed) read as "nothing restricted".
_META_FIELDS = 15
_META_FIELDS_V1 = 13
# Fields a document may restrict to a narrower audience than the document itself (an
# enterprise's revenue and SME size are financials, shared per funder).
RESTRICTABLE = ("amount", "kind", "industry", "region", "stage", "size", "status")
# Rows written before restricted fields existed fail closed until the next reindex: an
# enterprise's revenue and size, and a need's (enterprise) size, for owners and operators only.
_LEGACY_RESTRICTED = {
    "enterprise": [str(_VIS["owner"]), "amount,size"],
    "need": [str(_VIS["owner"]), "size"],
}

# Whoosh and the OS raise these for a missing, half-deleted or corrupt index.
_STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    ImportError,
    TypeError,
    struct.error,
    zlib.error,
    pickle.UnpicklingError,
    whoosh_index.IndexError,
    TermNotFound,
)


class SearchError(Exception):
    """Base class of the search library's errors."""


class SearchUnavailable(SearchError):
    """The index is missing or unreadable; `rebuild()` restores it."""


class IndexBusy(SearchError):
    """Another writer held the index lock for longer than the timeout."""


class InvalidDocument(SearchError, ValueError):
    """A document or change dict does not follow the contract."""


def _release_frames(exc: BaseException) -> None:
    # Whoosh keeps a failed read's file open in a closure cell of its frames (TOC.read's
    # check_size); drop the traceback now, so the file closes here, not in a random later
    # GC pass as a ResourceWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        seen: set[int] = set()
        cur: BaseException | None = exc
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            traceback.clear_frames(cur.__traceback__)
            cur.__traceback__ = None
            cur = cur.__cause__ or cur.__context__
        gc.collect()


def _unavailable(message: str, exc: BaseException) -> SearchUnavailable:
    log.warning("%s\n%s", message, "".join(traceback.format_exception(exc)))
    summary = f"{message}: {exc!r}; run a rebuild"
    _release_frames(exc)
    return SearchUnavailable(summary)


class Viewer(TypedDict, total=False):
    role: str  # anonymous | enterprise | institution | operator
    org_id: int | None
    verified: bool


class Change(TypedDict, total=False):
    seq: int
    op: str  # upsert | delete
    type: str
    id: int
    doc: dict[str, Any] | None


class SearchItem(TypedDict):
    type: str
    id: int
    ref: str
    title: str
    highlight: str


class SearchResult(TypedDict):
    items: list[SearchItem]
    facets: dict[str, dict[str, int]]
    total: int
    page: int
    per_page: int
    suggestion: str | None


# --------------------------------------------------------------------------- schema


class BigramField(fields.FieldType):
    """Indexes (title, extra, body) as CJK bigrams + English words; weight = term frequency.

    Tokenising inside the field lets Whoosh's multiprocessing writer run it in its worker
    processes. Existence format (no per-posting value bytes, no positions) because we never
    run phrase queries: a word matches when all its bigrams do.
    """

    format = formats.Existence()
    analyzer = BigramAnalyzer()
    scorable = True  # writes a length column; without it Whoosh stats a file per posting
    stored = False
    unique = False
    vector = None
    column_type = None

    def __init__(self) -> None:
        pass

    def index(self, value: Any, **kwargs: Any) -> list[tuple[bytes, int, float, bytes]]:
        title, extra, body = value
        counts = Counter(bigrams(body))
        for t in bigrams(extra):
            counts[t] += 1
        for t in bigrams(title):
            counts[t] += TITLE_WEIGHT
        return [(t.encode("utf-8"), n, float(n), b"") for t, n in counts.items()]


class _Codec(W3Codec):
    """Whoosh's codec without per-posting length statistics.

    Those statistics only feed Whoosh's own block-skipping scorers, which we do not use;
    collecting them reads the length column once per posting — a quarter of the build.
    """

    length_stats = False

    def __init__(self) -> None:
        super().__init__(blocklimit=256)

    def new_segment(self, storage: Any, indexname: str) -> _Segment:
        return _Segment(self, indexname)


class _Segment(W3Segment):
    """A Whoosh segment that records a digest of its compound file when it is assembled.

    The segment object is pickled into the commit's table of contents, so the digest commits
    atomically with the segment; readers compare it with the file before trusting it. Whoosh
    has no checksums of its own: garbage of the right length would be read as an index.
    """

    digest: str | None = None

    def create_compound_file(self, storage: Any) -> None:
        super().create_compound_file(storage)
        folder = getattr(storage, "folder", None)
        if folder is not None:
            self.digest = _file_digest(Path(folder) / self.make_filename(self.COMPOUND_EXT))


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def _file_stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _schema() -> fields.Schema:
    return fields.Schema(
        key=fields.ID(unique=True),
        bg=BigramField(),
        acl=fields.KEYWORD(scorable=False),
        meta=fields.COLUMN(columns.VarBytesColumn()),
        stored=fields.STORED(),
    )


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class _Prepared:
    key: str
    fields: dict[str, Any]


def _clean(value: Any, limit: int = 200) -> str:
    if value is None:
        return ""
    return normalize_width(str(value)).replace(_SEP, " ").strip()[:limit]


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return math.nan
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)  # noqa: UP017 - explicit for readers
    return dt.timestamp()


def _doc_key(doc_type: Any, doc_id: Any) -> tuple[str, int]:
    if doc_type not in DOC_TYPES:
        raise InvalidDocument(f"unknown document type {doc_type!r}")
    try:
        return doc_type, int(doc_id)
    except (TypeError, ValueError) as exc:
        raise InvalidDocument(f"document id must be an int, got {doc_id!r}") from exc


def _key_str(doc_type: str, doc_id: int) -> str:
    return f"{doc_type}:{doc_id}"


def _prepare(doc: Mapping[str, Any]) -> _Prepared | None:
    """Whoosh fields for a document dict, or None when it must not be indexed."""
    if not isinstance(doc, Mapping):
        raise InvalidDocument("a document must be a dict")
    doc_type, doc_id = _doc_key(doc.get("type"), doc.get("id"))
    if doc.get("confidential"):
        return None
    vis = _VIS.get(str(doc.get("visibility") or ""), _VIS["operator"])
    org = _int_or_none(doc.get("org_id"))
    shared = sorted({s for s in (_int_or_none(x) for x in doc.get("shared_with") or ()) if s})
    amount = _int_or_none(doc.get("amount"))
    title = str(doc.get("title") or "")[:500]
    body = str(doc.get("body") or "")[:MAX_BODY_CHARS]
    org_name = str(doc.get("org_name") or "")[:200]
    restricted = sorted({str(x) for x in doc.get("restricted") or () if str(x) in RESTRICTABLE})
    rvis = _VIS.get(str(doc.get("restricted_visibility") or ""), _VIS["operator"])
    rshared = sorted(
        {s for s in (_int_or_none(x) for x in doc.get("restricted_shared_with") or ()) if s}
    )
    meta = [
        doc_type,
        str(doc_id),
        str(vis),
        "" if org is None else str(org),
        _clean(doc.get("kind")),
        _clean(doc.get("industry")).upper(),
        _clean(doc.get("region")),
        _clean(doc.get("stage")),
        _clean(doc.get("size")),
        _clean(doc.get("status")),
        "" if amount is None else str(amount),
        repr(_timestamp(doc.get("date"))),
        _clean(doc.get("version"), 100),
        str(rvis) if restricted else "",
        ",".join(restricted),
    ]
    # One keyword field holds both audiences: s<org> sees the document, f<org> its
    # restricted fields (no schema change, so indexes built before this still open).
    acl = [f"s{s}" for s in shared] + ([f"f{s}" for s in rshared] if restricted else [])
    key = _key_str(doc_type, doc_id)
    return _Prepared(
        key,
        {
            "key": key,
            "bg": (title, org_name, body),
            "acl": " ".join(acl) or None,
            "meta": _SEP.join(meta).encode("utf-8"),
            "stored": {"r": str(doc.get("ref") or ""), "t": title, "b": body},
        },
    )


def _state_fields(seq: int) -> dict[str, Any]:
    meta = ["", "0", str(_VIS_INTERNAL), "", "", "", "", "", "", "", "", "nan", str(seq), "", ""]
    return {"key": _STATE_KEY, "meta": _SEP.join(meta).encode(), "stored": {"seq": seq}}


# --------------------------------------------------------------------------- reading


_EMPTY_IDS = np.zeros(0, dtype=np.int64)
_EMPTY_W = np.zeros(0, dtype=np.float32)


def _read_postings(leaf: SegmentReader, field_name: str, term: str) -> tuple[np.ndarray, ...]:
    """All (docnums, weights) of a term in one segment, deletions included."""
    try:
        m = leaf.postings(field_name, term)
    except TermNotFound:
        return _EMPTY_IDS, _EMPTY_W
    if isinstance(m, FilterMatcher):  # deletions: we mask them ourselves, faster
        m = m.child
    if isinstance(m, W3LeafMatcher) and hasattr(m, "_data"):
        # Decode whole blocks (one pickle of up to 128 deltas each) instead of stepping a
        # Python matcher posting by posting: ~3× faster on long lists.
        id_parts, w_parts = [], []
        while True:
            m._read_data()
            ids, ws = m._data[0], m._data[1]
            id_parts.append(np.cumsum(np.asarray(ids, dtype=np.int64)))
            n = len(ids)
            if ws is None:
                w_parts.append(np.ones(n, dtype=np.float32))
            elif isinstance(ws, float):
                w_parts.append(np.full(n, ws, dtype=np.float32))
            else:
                w_parts.append(np.asarray(ws, dtype=np.float32))
            if m._lastblock:
                break
            m._goto(m._nextoffset)
        return np.concatenate(id_parts), np.concatenate(w_parts)
    ids_l, ws_l = [], []
    while m.is_active():
        ids_l.append(m.id())
        ws_l.append(m.weight())
        m.next()
    return np.asarray(ids_l, dtype=np.int64), np.asarray(ws_l, dtype=np.float32)


class _Coded:
    """A facet column as int codes into a value table; code 0 is 'no value'."""

    __slots__ = ("codes", "values", "index")

    def __init__(self, raw: list[str] | None = None) -> None:
        self.index: dict[str, int] = {"": 0}
        self.codes = np.zeros(0, dtype=np.int32)
        self.values = [""]
        if raw is not None:
            self.finish([self.encode(raw)])

    def encode(self, raw: Sequence[str]) -> np.ndarray:
        """Codes of one chunk of the column (the value table grows as it meets values)."""
        index = self.index
        return np.fromiter(
            (index.setdefault(v, len(index)) for v in raw), dtype=np.int32, count=len(raw)
        )

    def finish(self, parts: list[np.ndarray]) -> None:
        self.codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        self.values = list(self.index)


# Documents whose metadata is parsed at a time when a segment is opened: the rows as Python
# strings are the peak (about 1 KB a document). Whole, a rebuilt segment of 431 000
# documents took 400 MB, which the allocator kept: a web worker stayed at 645 MiB.
_META_CHUNK = 8192
_FACET_COLUMNS = {"type": 0, "kind": 4, "industry": 5, "region": 6, "stage": 7, "size": 8,
                  "status": 9}  # fmt: skip


def _meta_rows(reader: Any, start: int, stop: int) -> list[list[str]]:
    rows = [bytes(reader[i]).decode("utf-8").split(_SEP) for i in range(start, stop)]
    return [
        r
        if len(r) == _META_FIELDS
        else r + _LEGACY_RESTRICTED.get(r[0], ["", ""])
        if len(r) == _META_FIELDS_V1
        else [""] * _META_FIELDS
        for r in rows
    ]


class _SegmentData:
    """Per-document arrays of one immutable segment."""

    def __init__(self, leaf: SegmentReader) -> None:
        n = leaf.doc_count_all()
        reader = leaf.column_reader("meta")
        coded = {name: _Coded() for name in (*_FACET_COLUMNS, "section", "province", "city")}
        codes: dict[str, list[np.ndarray]] = {name: [] for name in coded}
        numbers: dict[str, list[np.ndarray]] = {
            name: [] for name in ("id", "vis", "org", "amount", "date", "rvis")
        }
        restricted: dict[str, list[np.ndarray]] = {name: [] for name in RESTRICTABLE}
        self.version: list[str] = []
        for start in range(0, n, _META_CHUNK):
            cols = list(zip(*_meta_rows(reader, start, min(n, start + _META_CHUNK)), strict=True))
            for name, col in _FACET_COLUMNS.items():
                codes[name].append(coded[name].encode(cols[col]))
            industry, region = cols[5], cols[6]
            for name, values in (
                ("section", [x[:1] if x[:1].isalpha() else "" for x in industry]),
                ("province", [x[:2] if len(x) >= 2 else "" for x in region]),
                ("city", [x[:4] if len(x) >= 4 else "" for x in region]),
            ):
                codes[name].append(coded[name].encode(values))
            numbers["id"].append(np.array([int(x or 0) for x in cols[1]], dtype=np.int64))
            numbers["vis"].append(
                np.array([int(x or _VIS_INTERNAL) for x in cols[2]], dtype=np.int8)
            )
            numbers["org"].append(np.array([int(x) if x else -1 for x in cols[3]], dtype=np.int64))
            numbers["amount"].append(
                np.array([float(x) if x else np.nan for x in cols[10]], dtype=np.float64)
            )
            numbers["date"].append(
                np.array([float(x) if x else np.nan for x in cols[11]], dtype=np.float64)
            )
            self.version.extend(cols[12])
            # Audience of the restricted fields (same codes as vis) and which fields they are.
            numbers["rvis"].append(
                np.array([int(x) if x else _VIS_INTERNAL for x in cols[13]], dtype=np.int8)
            )
            names = [set(x.split(",")) if x else set() for x in cols[14]]
            for name in RESTRICTABLE:
                restricted[name].append(
                    np.fromiter((name in x for x in names), dtype=bool, count=len(names))
                )
            del cols, names
        for name, parts in codes.items():
            coded[name].finish(parts)
        dtypes = {"id": np.int64, "vis": np.int8, "org": np.int64, "amount": np.float64,
                  "date": np.float64, "rvis": np.int8}  # fmt: skip
        arrays = {
            name: np.concatenate(parts) if parts else np.zeros(0, dtype=dtypes[name])
            for name, parts in numbers.items()
        }
        self.size = n
        self.id, self.vis, self.org = arrays["id"], arrays["vis"], arrays["org"]
        self.amount, self.date, self.rvis = arrays["amount"], arrays["date"], arrays["rvis"]
        self.facets: dict[str, _Coded] = {
            name: coded[name]
            for name in ("type", "kind", "industry", "section", "region", "province", "city",
                         "stage", "size", "status")
        }  # fmt: skip
        self.restricted: dict[str, np.ndarray] = {}
        for name, parts in restricted.items():
            flags = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
            if flags.any():
                self.restricted[name] = flags
        if "industry" in self.restricted:
            self.restricted["section"] = self.restricted["industry"]
        if "region" in self.restricted:
            self.restricted["province"] = self.restricted["city"] = self.restricted["region"]
        self.by_char: dict[str, list[str]] | None = None  # char → bigrams with it, lazily
        # Whoosh keeps each document's bigram count (lossily, in a byte) for scoring.
        self.length = np.fromiter(
            (leaf.doc_field_length(i, "bg", 0) or 0 for i in range(n)), dtype=np.float32, count=n
        )


class _Leaf:
    __slots__ = ("reader", "data", "alive", "segid")

    def __init__(self, reader: SegmentReader, data: _SegmentData, segid: str) -> None:
        self.reader = reader
        self.data = data
        self.segid = segid
        alive = data.vis != _VIS_INTERNAL
        deleted = np.fromiter(reader.segment().deleted_docs(), dtype=np.int64)
        if len(deleted):
            alive[deleted] = False
        self.alive = alive


@dataclass
class _Snapshot:
    """One committed state of one generation; never refreshed in place (FACTS: ReaderClosed)."""

    gen: str
    path: Path
    ix: Any
    toc: int
    reader: Any
    leaves: list[_Leaf]
    docs: int
    avg_length: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    files: dict[Path, tuple[str, tuple[int, int, int]]] = field(default_factory=dict)
    users: int = 0  # reads in flight; the reader is closed once retired and unused
    retired: bool = False
    _df: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.reader.close()

    def df(self, term: str) -> int:
        got = self._df.get(term)
        if got is None:
            with self.lock:
                got = sum(leaf.reader.doc_frequency("bg", term) for leaf in self.leaves)
            self._df[term] = got
        return got

    def state_seq(self) -> int:
        for leaf in self.leaves:
            internal = np.flatnonzero(leaf.data.vis == _VIS_INTERNAL)
            deleted = set(leaf.reader.segment().deleted_docs())
            for d in internal:
                if int(d) not in deleted:
                    return int(leaf.data.version[int(d)] or 0)
        return 0


class _PostingCache:
    """LRU of decoded posting lists of immutable segments, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items: OrderedDict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> tuple[np.ndarray, np.ndarray] | None:
        with self.lock:
            got = self.items.get(key)
            if got is not None:
                self.items.move_to_end(key)
            return got

    def put(self, key: tuple[str, str, str], value: tuple[np.ndarray, np.ndarray]) -> None:
        size = value[0].nbytes + value[1].nbytes
        if size * 4 > self.max_bytes:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.bytes += size
            while self.bytes > self.max_bytes and self.items:
                _, (a, b) = self.items.popitem(last=False)
                self.bytes -= a.nbytes + b.nbytes

    def retain(self, segids: set[str]) -> None:
        with self.lock:
            for key in [k for k in self.items if k[0] not in segids]:
                a, b = self.items.pop(key)
                self.bytes -= a.nbytes + b.nbytes


# --------------------------------------------------------------------------- query


@dataclass(frozen=True)
class _Query:
    text: str
    words: tuple[str, ...]  # for highlighting and suggestions
    groups: tuple[tuple[str, str], ...]  # ("term" | "char", text): all must match


def _parse_query(q: Any) -> _Query:
    """User text → words and bigram groups. No query syntax is interpreted, ever."""
    if q is None:
        q = ""
    if not isinstance(q, str):
        q = str(q)
    # Cut before anything else so a 10 000-character paste costs nothing extra.
    text = " ".join(normalize_width(q[: MAX_QUERY_CHARS * 4]).split())[:MAX_QUERY_CHARS]
    words: list[str] = []
    groups: list[tuple[str, str]] = []
    for word in query_terms(text):
        if word in words:
            continue
        words.append(word)
        toks = bigrams(word)
        if len(toks) == 1 and len(toks[0]) == 1 and not toks[0].isascii():
            groups.append(("char", toks[0]))
        else:
            groups.extend(("term", t) for t in toks)
    groups = list(dict.fromkeys(groups))[:MAX_QUERY_GROUPS]
    return _Query(text, tuple(words), tuple(groups))


class _Part(NamedTuple):
    """One segment's share of a result: doc numbers, scores, amounts as the viewer sees them."""

    leaf: int
    local: np.ndarray
    scores: np.ndarray | None
    amount: np.ndarray


@dataclass(frozen=True)
class _Access:
    operator: bool = False
    public: bool = False
    institutions: bool = False
    org: int | None = None
    shared: bool = False


def _access(viewer: Mapping[str, Any] | None) -> _Access:
    """Viewer dict → which visibility classes it may see (see README in __init__)."""
    viewer = viewer or {}
    role = viewer.get("role")
    org = _int_or_none(viewer.get("org_id"))
    if role == "operator":
        return _Access(operator=True)
    if role == "enterprise":
        return _Access(public=True, org=org, shared=org is not None)
    if role == "institution":
        if viewer.get("verified") is True:
            return _Access(public=True, institutions=True, org=org, shared=org is not None)
        return _Access(public=True, org=org)
    return _Access(public=True)  # anonymous or unknown role: public documents only


def _filters(
    filters: Mapping[str, Any] | None, doc_type: Any
) -> tuple[dict[str, set[str]], float | None, float | None]:
    wanted: dict[str, set[str]] = {}
    lo = hi = None
    for name, value in dict(filters or {}).items():
        if name == "min_amount":
            lo = _float_or_none(value)
        elif name == "max_amount":
            hi = _float_or_none(value)
        elif name in FACETS and value not in (None, "", [], ()):
            values = value if isinstance(value, list | tuple | set | frozenset) else [value]
            wanted[name] = {_clean(v).upper() if name == "industry" else _clean(v) for v in values}
    if doc_type:
        types = doc_type if isinstance(doc_type, list | tuple | set) else [doc_type]
        wanted["type"] = wanted.get("type", set(types)) & set(types)
    return wanted, lo, hi


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _storage(path: Path) -> FileStorage:
    # No mmap: a segment file truncated under a live process would kill it with SIGBUS;
    # plain reads turn the same damage into an exception we report as SearchUnavailable.
    return FileStorage(str(path), supports_mmap=False)


def _open_index(path: Path) -> Any:
    if not path.is_dir():
        raise SearchUnavailable(f"search index {path} is missing; run a rebuild")
    for attempt in range(10):
        try:
            return _storage(path).open_index()
        except FileNotFoundError:
            # Whoosh lists the newest TOC, then opens it: a commit by another process in
            # between deletes it. A missing file that stays missing is damage (raised).
            if attempt == 9 or not path.is_dir():
                raise
            time.sleep(0.02)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- engine


# A write in a request merges only segments of at most TINY_SEGMENT_DOCS documents, once
# there are TINY_SEGMENTS of them: at most TINY_SEGMENTS × TINY_SEGMENT_DOCS documents are
# rewritten, whatever the index's size. Larger merges are left to background syncs.
TINY_SEGMENT_DOCS = 100
TINY_SEGMENTS = 8
REQUEST_WRITER_WAIT = 2.0  # seconds a request waits for the writer lock (30 s elsewhere)
COMPACT_AT = 12  # segments from which the scheduled check merges a node's index into one
# A web node merges its own index after a response (no scheduler needs to run beside it)
# when the merge rewrites at most this many documents: about 3 s of a worker, rarely.
NODE_COMPACT_DOCS = 10_000


def merge_tiny(writer: Any, segments: list[Any]) -> list[Any]:
    """A Whoosh merge policy (like whoosh.writing.MERGE_SMALL: add the merged segments'
    readers to the writer, return the segments kept) for the request path."""
    from whoosh.reading import SegmentReader

    tiny = [seg for seg in segments if seg.doc_count_all() <= TINY_SEGMENT_DOCS]
    if len(tiny) < TINY_SEGMENTS:
        return segments
    for seg in tiny:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)
        reader.close()
    return [seg for seg in segments if seg.doc_count_all() > TINY_SEGMENT_DOCS]


class SearchEngine:
    """Index, search and keep in step with the outbox; one instance per process is enough."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        *,
        writer_timeout: float = 30.0,
        procs: int = 2,
        posting_cache_mb: int = 64,
        build_pass_docs: int = BUILD_PASS_DOCS,
        merge_after_build: bool = True,
    ) -> None:
        self.root = Path(index_dir)
        self.build_pass_docs = max(1, build_pass_docs)
        self.merge_after_build = merge_after_build  # off: keep the build's segments (tests)
        self.writer_timeout = writer_timeout
        self.procs = max(1, procs)
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self._segdata: dict[tuple[str, str], _SegmentData] = {}
        self._postings = _PostingCache(posting_cache_mb * 1024 * 1024)
        self._verdicts: dict[Path, tuple[tuple[int, int, int], bool]] = {}

    # ---- generations

    def _current_gen(self) -> str:
        previous = None
        # A rebuild may swap CURRENT and delete the generation we just read it as naming;
        # the name only counts as missing when CURRENT still points at it on a second look.
        for _ in range(5):
            try:
                name = (self.root / "CURRENT").read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SearchUnavailable(f"no search index in {self.root}; run a rebuild") from exc
            valid = name.startswith("gen-") and "/" not in name
            if valid and (self.root / name).is_dir():
                return name
            if not valid or name == previous:
                break
            previous = name
        raise SearchUnavailable(f"search index generation {name!r} is missing; run a rebuild")

    def _acquire(self) -> _Snapshot:
        """The live snapshot, opened anew when the generation or its commit changed."""
        for _ in range(3):
            gen = self._current_gen()
            try:
                return self._acquire_gen(gen)
            except SearchUnavailable:
                # A rebuild swapped in a new generation and removed this one between
                # reading CURRENT and opening it: follow CURRENT instead of failing.
                if self._current_gen() == gen:
                    raise
        return self._acquire_gen(self._current_gen())

    def _acquire_gen(self, gen: str) -> _Snapshot:
        with self._lock:
            snap = self._snap
            try:
                if snap is None or snap.gen != gen or snap.ix.latest_generation() != snap.toc:
                    same_gen = snap is not None and snap.gen == gen
                    ix = snap.ix if same_gen else _open_index(self.root / gen)
                    fresh = self._open_snapshot(gen, ix)
                    self._retire(snap)
                    self._snap = snap = fresh
                else:
                    self._verify_files(snap.files)
            except SearchError:
                raise
            except _STORAGE_ERRORS as exc:
                raise _unavailable(f"search index {gen} is unreadable", exc) from None
            snap.users += 1
            return snap

    def _release(self, snap: _Snapshot) -> None:
        with self._lock:
            snap.users -= 1
            if snap.retired and snap.users == 0:
                snap.close()

    def _retire(self, snap: _Snapshot | None) -> None:
        # Called with self._lock held. Never close a reader another thread is using
        # (FACTS: refresh() under a running search raises ReaderClosed there).
        if snap is not None and not snap.retired:
            snap.retired = True
            if snap.users == 0:
                snap.close()

    def _open_snapshot(self, gen: str, ix: Any) -> _Snapshot:
        # ix.reader() inlined, so the digests are checked against the very TOC the reader
        # opens and before Whoosh opens the files: a failed SegmentReader leaks its file
        # and ix.reader() retries (and leaks) ten times on any OSError. _read_toc/_reader
        # are Whoosh internals; pyproject pins whoosh-reloaded==2.7.5, so they cannot move.
        for attempt in range(10):
            try:
                info = ix._read_toc()
                files = {
                    self.root / gen / seg.make_filename(seg.COMPOUND_EXT): (digest, (0, 0, 0))
                    for seg in info.segments
                    if (digest := getattr(seg, "digest", None)) and seg.is_compound()
                }
                self._verify_files(files)
                reader = ix._reader(ix.storage, info.schema, info.segments, info.generation)
                break
            except FileNotFoundError:
                # A commit replaced the TOC we read, or merged away one of its segments.
                if attempt == 9:
                    raise
                time.sleep(0.05)
        try:
            return self._load_snapshot(gen, ix, info.generation, reader, files)
        except BaseException:
            with contextlib.suppress(Exception):
                reader.close()
            raise

    def _load_snapshot(
        self,
        gen: str,
        ix: Any,
        toc: int,
        reader: Any,
        files: dict[Path, tuple[str, tuple[int, int, int]]],
    ) -> _Snapshot:
        leaves: list[_Leaf] = []
        total_len = 0.0
        docs = 0
        for leaf, _base in reader.leaf_readers():
            if not isinstance(leaf, SegmentReader) or leaf.doc_count_all() == 0:
                continue
            segid = leaf.segment().segment_id()
            key = (gen, segid)
            data = self._segdata.get(key)
            if data is None:
                data = self._segdata[key] = _SegmentData(leaf)
            item = _Leaf(leaf, data, segid)
            leaves.append(item)
            docs += int(item.alive.sum())
            total_len += float(data.length[item.alive].sum())
        live = {leaf.segid for leaf in leaves}
        for key in [k for k in self._segdata if k[0] != gen or k[1] not in live]:
            del self._segdata[key]
        self._postings.retain(live)
        avg = total_len / docs if docs else 1.0
        return _Snapshot(
            gen, self.root / gen, ix, toc, reader, leaves, docs, avg or 1.0, files=files
        )

    def _verify_files(self, files: dict[Path, tuple[str, tuple[int, int, int]]]) -> None:
        """Refuse segment files whose content is not what their commit recorded.

        Called with self._lock held on every read: a stat per segment file is the steady
        cost; a file is hashed again only when its inode, size or mtime moved, which Whoosh
        never does to a committed segment, so that means damage or a restore from backup.
        """
        for path, (digest, seen) in files.items():
            try:
                stamp = _file_stamp(path)
                if stamp == seen:
                    continue
                verdict = self._verdicts.get(path)
                if verdict is None or verdict[0] != stamp:
                    verdict = self._verdicts[path] = (stamp, _file_digest(path) == digest)
                    if len(self._verdicts) > 4096:
                        self._verdicts.pop(next(iter(self._verdicts)))
            except FileNotFoundError:
                # A merge committed meanwhile and deleted it; the open reader still reads it
                # through its descriptor and the next read opens the new commit.
                continue
            if not verdict[1]:
                raise SearchUnavailable(
                    f"search index file {path.name} in {path.parent.name} is damaged "
                    "(its content no longer matches its commit); run a rebuild"
                )
            files[path] = (digest, stamp)

    def _forget(self) -> None:
        with self._lock:
            self._retire(self._snap)
            self._snap = None

    def close(self) -> None:
        """Close the open index files (the engine reopens them on the next call)."""
        self._forget()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._forget()

    def _read(self, fn: Callable[[_Snapshot], Any]) -> Any:
        """Run a read against the live snapshot; one retry covers a swap or merge race."""
        for attempt in (1, 2):
            snap = self._acquire()
            try:
                return fn(snap)
            except SearchError:
                raise
            except _STORAGE_ERRORS as exc:
                self._forget()
                if attempt == 2:
                    raise _unavailable("search index is unreadable", exc) from None
                _release_frames(exc)
            finally:
                self._release(snap)
        raise AssertionError("unreachable")

    def available(self) -> bool:
        """True when a readable index is in place."""
        try:
            self._read(lambda s: None)
        except SearchUnavailable:
            return False
        return True

    # ---- reads

    def applied_seq(self) -> int:
        """The outbox position the index reflects (0 for a fresh index)."""
        return int(self._read(lambda s: s.state_seq()))

    def doc_count(self) -> int:
        """Number of searchable documents (all visibilities)."""
        return int(self._read(lambda s: s.docs))

    def check(self, expected: Mapping[tuple[str, int], str]) -> dict[str, list[tuple[str, int]]]:
        """Compare the index with the database: keys missing, stale (version differs), extra."""

        def run(snap: _Snapshot) -> dict[str, list[tuple[str, int]]]:
            stored: dict[tuple[str, int], str] = {}
            for leaf in snap.leaves:
                d = leaf.data
                types = d.facets["type"]
                for i in np.flatnonzero(leaf.alive):
                    key = (types.values[d.facets["type"].codes[i]], int(d.id[i]))
                    stored[key] = d.version[i]
            want = {(str(t), int(i)): str(v) for (t, i), v in expected.items()}
            return {
                "missing": sorted(k for k in want if k not in stored),
                "stale": sorted(k for k, v in want.items() if k in stored and stored[k] != v),
                "extra": sorted(k for k in stored if k not in want),
            }

        return self._read(run)

    def search(
        self,
        q: Any = "",
        viewer: Mapping[str, Any] | None = None,
        type: str | list[str] | None = None,  # noqa: A002 - the public name the callers use
        filters: Mapping[str, Any] | None = None,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 20,
        min_amount: float | None = None,
        max_amount: float | None = None,
        suggest: bool = True,
    ) -> SearchResult:
        """Access-filtered search; facets and total count only what `viewer` may see."""
        query = _parse_query(q)
        access = _access(viewer)
        wanted, lo, hi = _filters(filters, type)
        lo = _float_or_none(min_amount) if min_amount is not None else lo
        hi = _float_or_none(max_amount) if max_amount is not None else hi
        sort = sort if sort in SORTS else "relevance"
        page = max(1, _int_or_none(page) or 1)
        per_page = min(100, max(0, _int_or_none(per_page) or 0))

        def run(snap: _Snapshot) -> SearchResult:
            return self._search(snap, query, access, wanted, lo, hi, sort, page, per_page, suggest)

        return self._read(run)

    def _postings_of(self, snap: _Snapshot, leaf: _Leaf, term: str) -> tuple[np.ndarray, ...]:
        key = (leaf.segid, "bg", term)
        got = self._postings.get(key)
        if got is None:
            with snap.lock:
                got = _read_postings(leaf.reader, "bg", term)
            if len(got[0]) >= 64:
                self._postings.put(key, got)
        return got

    def _group_terms(self, snap: _Snapshot, leaf: _Leaf, kind: str, text: str) -> list[str]:
        if kind == "term":
            return [text]
        # A lone character occurs either alone, or first or last of a bigram: the union
        # of those terms finds every document containing it.
        data = leaf.data
        if data.by_char is None:
            with snap.lock:
                if data.by_char is None:
                    by_char: dict[str, list[str]] = {}
                    for raw in leaf.reader.lexicon("bg"):
                        t = raw.decode("utf-8") if isinstance(raw, bytes) else raw
                        if len(t) == 2 and not t.isascii():
                            by_char.setdefault(t[0], []).append(t)
                            if t[1] != t[0]:
                                by_char.setdefault(t[1], []).append(t)
                    data.by_char = by_char
        return [text, *data.by_char.get(text, ())]

    def _match(
        self, snap: _Snapshot, leaf: _Leaf, query: _Query, mask: np.ndarray, score: bool
    ) -> np.ndarray | None:
        """Narrow `mask` to documents with every group; return BM25 scores if asked."""
        n = leaf.data.size
        groups = sorted(query.groups, key=lambda g: snap.df(g[1]) if g[0] == "term" else 1 << 40)
        contributions: list[tuple[str, np.ndarray, np.ndarray]] = []
        for kind, text in groups:
            hit = np.zeros(n, dtype=bool)
            for term in self._group_terms(snap, leaf, kind, text):
                ids, tf = self._postings_of(snap, leaf, term)
                if len(ids):
                    hit[ids] = True
                    contributions.append((term, ids, tf))
            mask &= hit
            if not mask.any():
                return None
        if not score:
            return None
        scores = np.zeros(n, dtype=np.float32)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * leaf.data.length / snap.avg_length)
        seen: set[str] = set()
        for term, ids, tf in contributions:
            if term in seen:
                continue
            seen.add(term)
            df = max(1, snap.df(term))
            idf = math.log(1 + (snap.docs - df + 0.5) / (df + 0.5))
            scores[ids] += idf * tf * (BM25_K1 + 1) / (tf + norm[ids])
        return scores

    def _access_mask(self, snap: _Snapshot, leaf: _Leaf, access: _Access) -> np.ndarray:
        if access.operator:
            return leaf.alive.copy()
        return self._audience(snap, leaf, access, leaf.data.vis, "s") & leaf.alive

    def _audience(
        self, snap: _Snapshot, leaf: _Leaf, access: _Access, vis: np.ndarray, prefix: str
    ) -> np.ndarray:
        """Documents whose audience codes `vis` (plus the `prefix` ACL) admit this viewer."""
        d = leaf.data
        mask = np.zeros(d.size, dtype=bool)
        if access.public:
            mask |= vis == _VIS["public"]
        if access.institutions:
            mask |= vis == _VIS["institutions"]
        if access.org is not None:
            mask |= (d.org == access.org) & (vis <= _VIS["owner"])
        if access.shared and access.org is not None:
            with snap.lock:
                ids, _ = _read_postings(leaf.reader, "acl", f"{prefix}{access.org}")
            if len(ids):
                shared = np.zeros(d.size, dtype=bool)
                shared[ids] = True
                mask |= shared & (vis <= _VIS["owner"])
        return mask

    def _hidden(self, snap: _Snapshot, leaf: _Leaf, access: _Access) -> dict[str, np.ndarray]:
        """Per restricted field: the documents whose value this viewer may not see.

        Such a value is treated as absent everywhere (filters, facets, sort keys), so what
        the viewer gets back never depends on it. One vectorised pass per segment, and
        only for segments that restrict anything.
        """
        d = leaf.data
        if access.operator or not d.restricted:
            return {}
        unseen = ~self._audience(snap, leaf, access, d.rvis, "f")
        return {name: flags & unseen for name, flags in d.restricted.items()}

    def _collect(
        self,
        snap: _Snapshot,
        query: _Query,
        access: _Access,
        wanted: dict[str, set[str]],
        lo: float | None,
        hi: float | None,
        want_score: bool,
        facets: bool = True,
    ) -> tuple[list[_Part], dict[str, Counter[str]]]:
        """Per segment: documents the viewer may see that pass filters and match the query."""
        facet_counts: dict[str, Counter[str]] = {f: Counter() for f in FACETS}
        parts: list[_Part] = []
        for li, leaf in enumerate(snap.leaves):
            d = leaf.data
            mask = self._access_mask(snap, leaf, access)
            hidden = self._hidden(snap, leaf, access) if mask.any() else {}
            for name, values in wanted.items():
                coded = d.facets[name]
                codes = [coded.index[v] for v in values if v in coded.index and v]
                mask &= np.isin(coded.codes, codes) if codes else False
                if name in hidden:
                    mask &= ~hidden[name]  # unknown to this viewer: never a match
            amount = d.amount
            if "amount" in hidden:
                amount = np.where(hidden["amount"], np.nan, amount)
            if lo is not None:
                mask &= amount >= lo
            if hi is not None:
                mask &= amount <= hi
            if not mask.any():
                continue
            scores = None
            if query.groups:
                scores = self._match(snap, leaf, query, mask, want_score)
            local = np.flatnonzero(mask)
            if not len(local):
                continue
            parts.append(_Part(li, local, None if scores is None else scores[local], amount[local]))
            if not facets:
                continue
            for name in FACETS:
                coded = d.facets[name]
                codes = coded.codes[local]
                if name in hidden:
                    codes = np.where(hidden[name][local], 0, codes)  # code 0: no value
                counts = np.bincount(codes, minlength=len(coded.values))
                for code in np.flatnonzero(counts[1:]) + 1:
                    facet_counts[name][coded.values[code]] += int(counts[code])
        return parts, facet_counts

    def match_keys(
        self,
        q: Any = "",
        viewer: Mapping[str, Any] | None = None,
        type: str | list[str] | None = None,  # noqa: A002 - same name as in search()
        filters: Mapping[str, Any] | None = None,
    ) -> list[tuple[str, int]]:
        """Every (type, id) that `search` would count, unordered (exports, evaluation)."""
        query = _parse_query(q)
        access = _access(viewer)
        wanted, lo, hi = _filters(filters, type)

        def run(snap: _Snapshot) -> list[tuple[str, int]]:
            parts, _ = self._collect(snap, query, access, wanted, lo, hi, False, facets=False)
            keys: list[tuple[str, int]] = []
            for li, local, _, _ in parts:
                d = snap.leaves[li].data
                types = d.facets["type"]
                keys.extend(
                    (types.values[c], int(i))
                    for c, i in zip(types.codes[local], d.id[local], strict=True)
                )
            return keys

        return self._read(run)

    def _search(
        self,
        snap: _Snapshot,
        query: _Query,
        access: _Access,
        wanted: dict[str, set[str]],
        lo: float | None,
        hi: float | None,
        sort: str,
        page: int,
        per_page: int,
        suggest: bool,
    ) -> SearchResult:
        want_score = bool(query.groups) and sort == "relevance"
        parts, facet_counts = self._collect(snap, query, access, wanted, lo, hi, want_score)
        total = sum(len(p[1]) for p in parts)
        items: list[SearchItem] = []
        if parts and per_page:
            items = self._page(snap, parts, query, sort, want_score, page, per_page)
        suggestion = None
        if suggest and total == 0 and query.words:
            suggestion = self._suggest(snap, query, access, wanted, lo, hi)
        return {
            "items": items,
            "facets": {f: dict(c.most_common()) for f, c in facet_counts.items() if c},
            "total": total,
            "page": page,
            "per_page": per_page,
            "suggestion": suggestion,
        }

    def _page(
        self,
        snap: _Snapshot,
        parts: list[_Part],
        query: _Query,
        sort: str,
        want_score: bool,
        page: int,
        per_page: int,
    ) -> list[SearchItem]:
        seg = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int32) for p in parts])
        doc = np.concatenate([p[1] for p in parts])
        leaves = snap.leaves
        date = np.concatenate([leaves[p[0]].data.date[p[1]] for p in parts])
        ident = np.concatenate([leaves[p[0]].data.id[p[1]] for p in parts])
        date = np.nan_to_num(date, nan=-np.inf)
        if sort in ("amount", "amount_asc"):
            # The amounts as this viewer knows them (hidden ones are NaN: last, by date, id).
            amount = np.concatenate([p.amount for p in parts])
            primary = np.nan_to_num(amount, nan=-np.inf)
            primary = -primary if sort == "amount" else np.where(np.isinf(primary), np.inf, primary)
        elif sort == "date_asc":
            primary = np.where(np.isinf(date), np.inf, date)
        elif want_score:
            primary = -np.concatenate([p[2] for p in parts]).astype(np.float64)
        else:
            primary = -date
        # Ascending on (primary, newest first, id): argpartition for the page, then an exact
        # sort of everything tied with the page's last primary value.
        k = page * per_page
        if k < len(primary):
            cut = np.partition(primary, k - 1)[k - 1]
            cand = np.flatnonzero(primary <= cut)
        else:
            cand = np.arange(len(primary))
        order = cand[np.lexsort((ident[cand], -date[cand], primary[cand]))]
        chosen = order[(page - 1) * per_page : k]
        items: list[SearchItem] = []
        words = list(query.words)
        for i in chosen:
            leaf = leaves[int(seg[i])]
            with snap.lock:
                stored = leaf.reader.stored_fields(int(doc[i])).get("stored") or {}
            title, body = stored.get("t", ""), stored.get("b", "")
            if words and not has_hit(body, words) and has_hit(title, words):
                hl = snippet(title, words)
            else:
                hl = snippet(body, words)
            d = leaf.data
            items.append(
                {
                    "type": d.facets["type"].values[d.facets["type"].codes[int(doc[i])]],
                    "id": int(d.id[int(doc[i])]),
                    "ref": stored.get("r", ""),
                    "title": title,
                    "highlight": hl,
                }
            )
        return items

    def _suggest(
        self,
        snap: _Snapshot,
        query: _Query,
        access: _Access,
        wanted: dict[str, set[str]],
        lo: float | None,
        hi: float | None,
    ) -> str | None:
        def doc_freq(word: str) -> int:
            toks = bigrams(word)
            if len(toks) == 1 and len(toks[0]) == 1:
                return 1  # single characters are matched by prefix; never "correct" them
            return min((snap.df(t) for t in toks), default=0)

        english: list[str] | None = None

        def fix(word: str) -> str | None:
            nonlocal english
            if word.isascii() and english is None:
                english = self._english_terms(snap)
            # English terms are indexed stemmed, so compare stems ("finacing" → "financ").
            probe = stem_word(word) if word.isascii() else word
            found = spelling.corrections(probe, doc_freq, english or ())
            return found[0] if found else None

        # Whole chunks first: jieba cuts a typo like 物连网 into 物 + 连网, but the
        # dictionary knows 物联网 as one word.
        chunks = query.text.lower().split()
        fixed = list(chunks)
        changed = False
        for i, chunk in enumerate(chunks):
            words = list(_parse_query(chunk).words)
            if all(doc_freq(w) > 0 for w in words):
                continue
            better = fix(chunk)
            if better is None:
                for j, w in enumerate(words):
                    if doc_freq(w) == 0:
                        words[j] = fix(w) or w
                better = " ".join(words)
            if better != chunk:
                fixed[i] = better
                changed = True
        if not changed:
            return None
        text = " ".join(fixed)
        # Only suggest what this viewer can actually find: never reveal words that occur
        # only in documents hidden from them.
        res = self._search(
            snap, _parse_query(text), access, wanted, lo, hi, "relevance", 1, 0, False
        )
        return text if res["total"] else None

    def _english_terms(self, snap: _Snapshot) -> list[str]:
        terms: set[str] = set()
        with snap.lock:
            for leaf in snap.leaves:
                for t in leaf.reader.lexicon("bg"):
                    if t[:1] >= b"\x80":
                        break  # CJK bigrams sort after ASCII in UTF-8
                    s = t.decode("utf-8")
                    if s.isalpha() and len(s) > 2:
                        terms.add(s)
        return sorted(terms)

    # ---- writes

    def _writer(self, ix: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        wait = self.writer_timeout if timeout is None else timeout
        try:
            return ix.writer(timeout=wait, delay=0.02, codec=_Codec(), **kwargs)
        except LockError as exc:
            raise IndexBusy(f"index writer lock not free after {wait}s") from exc

    def apply(
        self, changes: Iterable[Mapping[str, Any]], upto_seq: int, *, background: bool = False
    ) -> int:
        """Apply outbox changes after the stored position, store `upto_seq`; return it.

        Idempotent: changes at or below the stored position are skipped, so replaying from
        any earlier position is harmless, and the position commits atomically with the
        documents (it is a document in the same Whoosh commit).

        In a request (`background` False) the commit merges only tiny segments and the
        writer lock is awaited briefly (REQUEST_WRITER_WAIT, then IndexBusy: the outbox
        keeps the changes for the next sync), so a write's cost does not grow with the
        index. Whoosh's own policy, which merges a rebuilt index's segments of tens of MB
        (over 30 s at 100 000 enterprises), runs in the worker's scheduled check and
        `flask search sync` (`background` True).
        """
        prepared: list[tuple[int, str, _Prepared | None]] = []
        for change in changes:
            seq = _int_or_none(change.get("seq"))
            if seq is None:
                raise InvalidDocument(f"change without an int seq: {change!r}")
            op = change.get("op")
            doc = change.get("doc")
            if op == "upsert" and doc is not None:
                item = _prepare(
                    {
                        **doc,
                        "type": change.get("type", doc.get("type")),
                        "id": change.get("id", doc.get("id")),
                    }
                )
                key = _key_str(
                    *_doc_key(change.get("type", doc.get("type")), change.get("id", doc.get("id")))
                )
            elif op in ("delete", "upsert"):
                item = None
                key = _key_str(*_doc_key(change.get("type"), change.get("id")))
            else:
                raise InvalidDocument(f"unknown op {op!r}")
            prepared.append((seq, key, item))
        prepared.sort(key=lambda c: c[0])
        upto = int(upto_seq)
        for _attempt in range(5):
            gen = self._current_gen()
            try:
                ix = _open_index(self.root / gen)
            except _STORAGE_ERRORS as exc:
                raise _unavailable(f"search index {gen} is unreadable", exc) from None
            writer = self._writer(ix, None if background else REQUEST_WRITER_WAIT)
            try:
                if self._current_gen() != gen:  # a rebuild swapped generations meanwhile
                    writer.cancel()
                    continue
                applied = self._stored_seq(writer)
                latest: dict[str, _Prepared | None] = {}
                for seq, key, item in prepared:
                    if seq > applied:
                        latest[key] = item  # only the last change per key matters
                new_seq = max([applied, upto] + [s for s, _, _ in prepared if s > applied])
                if not latest and new_seq == applied:
                    writer.cancel()
                    return applied
                for key, item in latest.items():
                    if item is None:
                        writer.delete_by_term("key", key)
                    else:
                        writer.update_document(**item.fields)
                writer.update_document(**_state_fields(new_seq))
                if background:
                    writer.commit()
                else:
                    writer.commit(mergetype=merge_tiny)
                return new_seq
            except BaseException as exc:
                if not writer.is_closed:
                    writer.cancel()
                if isinstance(exc, _STORAGE_ERRORS) and not isinstance(exc, SearchError):
                    raise _unavailable(f"search index {gen} is unreadable", exc) from None
                raise
        raise IndexBusy("generation kept changing during apply")

    @staticmethod
    def _stored_seq(writer: Any) -> int:
        with writer.searcher() as s:
            doc = s.document(key=_STATE_KEY)
        return int((doc or {}).get("stored", {}).get("seq", 0))

    def index(self, doc: Mapping[str, Any]) -> None:
        """Add or replace one document outside the outbox (tests, one-off fixes)."""
        item = _prepare(doc)
        key = _key_str(*_doc_key(doc.get("type"), doc.get("id")))
        self._direct(key, item)

    def remove(self, doc_type: str, doc_id: int) -> None:
        """Remove one document outside the outbox."""
        self._direct(_key_str(*_doc_key(doc_type, doc_id)), None)

    def _direct(self, key: str, item: _Prepared | None) -> None:
        gen = self._current_gen()
        try:
            ix = _open_index(self.root / gen)
        except _STORAGE_ERRORS as exc:
            raise _unavailable(f"search index {gen} is unreadable", exc) from None
        writer = self._writer(ix)
        try:
            if item is None:
                writer.delete_by_term("key", key)
            else:
                writer.update_document(**item.fields)
            writer.commit(mergetype=merge_tiny)  # late changes are written in requests too
        except BaseException:
            if not writer.is_closed:
                writer.cancel()
            raise

    def rebuild(
        self,
        docs: Iterable[Mapping[str, Any]],
        upto_seq: int,
        progress: Callable[[int, int | None], None] | None = None,
        merging: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Build a new generation from all documents, merge it into one segment (`merging`
        is told how many it had), then swap it in atomically.

        Searches keep using the old generation until the swap. Changes applied to the old
        generation during the build are not carried over: the new generation records
        `upto_seq`, so the next `apply()` replays the outbox after it. Prune the outbox
        only below `applied_seq()`.
        """
        started = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        total = len(docs) if hasattr(docs, "__len__") else None  # type: ignore[arg-type]
        with _flock(self.root / ".rebuild.lock"):
            name = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
            path = self.root / name
            path.mkdir()
            try:
                stats = self._build(path, docs, int(upto_seq), progress, total, merging)
                self._swap(name)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            self._forget()
            self._remove_generations(keep=name)
        stats["seconds"] = round(time.perf_counter() - started, 3)
        stats["docs_per_s"] = round(stats["docs"] / stats["seconds"], 1) if stats["seconds"] else 0
        return stats

    def _build(
        self,
        path: Path,
        docs: Iterable[Mapping[str, Any]],
        upto: int,
        progress: Callable[[int, int | None], None] | None,
        total: int | None,
        merging: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        ix = _storage(path).create_index(_schema())
        it = iter(docs)
        # Whoosh's multiprocess writer only pays off beyond a few thousand documents.
        head = [d for _, d in zip(range(2000), it, strict=False)]
        small = len(head) < 2000 or self.procs == 1
        kwargs: dict[str, Any] = {"limitmb": BUILD_LIMIT_MB}
        if not small:
            kwargs.update(procs=self.procs, multisegment=True, batchsize=256)
        seen: set[str] = set()
        added = skipped = 0
        source = _chain(head, it)
        done = False
        while not done:
            # One pass per `build_pass_docs` documents: each worker's posting pool then fits
            # in BUILD_LIMIT_MB; when it does not, Whoosh spills sorted runs to disk and
            # merges them in Python, which halved the build rate at 40k documents.
            writer = self._writer(ix, **kwargs)
            try:
                in_pass = 0
                for doc in source:
                    item = _prepare(doc)
                    if item is None or item.key in seen:
                        skipped += 1
                        continue
                    seen.add(item.key)
                    writer.add_document(**item.fields)
                    added += 1
                    in_pass += 1
                    if progress is not None and added % 1000 == 0:
                        progress(added, total)
                    if in_pass >= self.build_pass_docs:
                        break
                else:
                    done = True
                    writer.add_document(**_state_fields(upto))
                if small:
                    writer.commit()
                else:
                    writer.commit(merge=False)  # keep the workers' segments: merging is slow
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.cancel()
                raise
        if progress is not None:
            progress(added, total)
        segments = len(ix._segments())
        stats = {"docs": added, "skipped": skipped, "generation": path.name,
                 "segments": segments}  # fmt: skip
        if segments > 1 and self.merge_after_build:
            if merging is not None:
                merging(segments)
            # Born as one segment: the build leaves one per worker and pass (23 at 100 000
            # enterprises), and every later write and snapshot would open all of them
            # (a write's index update: 8-20 ms with 23 segments, 2-5 ms with one).
            _optimize(ix, self._writer(ix))
        return stats

    def segment_count(self) -> int:
        """Segments of the live generation (each costs every writer and every reopened
        snapshot one reader: about 0.5 ms, so a write's cost follows this number)."""
        return self._read(lambda snap: len(snap.leaves))

    def compact(
        self,
        *,
        at_least: int = COMPACT_AT,
        everything: bool = False,
        max_docs: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, int]:
        """Once the live generation has `at_least` segments, merge the small ones into one
        beside the biggest when that holds half the documents or more (merge_small: what
        writes added since a rebuild, seconds), else, or with `everything`, all of them
        (about 2 minutes at 100 000 enterprises).

        Background work (the worker's scheduled check, `flask search compact`), with the
        writer lock held: a request's sync meanwhile gives up after REQUEST_WRITER_WAIT and
        the outbox keeps its change for the next sync. Searches read the old segments until
        the merge commits. `max_docs`: do nothing when the merge would rewrite more documents
        (a web node's own upkeep after a response stays within a few seconds); `timeout`:
        the wait for the writer lock (IndexBusy after it)."""
        gen = self._current_gen()
        try:
            ix = _open_index(self.root / gen)
            segments = ix._segments()  # Whoosh internal; whoosh-reloaded is pinned
        except _STORAGE_ERRORS as exc:
            raise _unavailable(f"search index {gen} is unreadable", exc) from None
        before = len(segments)
        unchanged = {"before": before, "after": before}
        if before < max(2, at_least):
            return unchanged
        sizes = [seg.doc_count_all() for seg in segments]
        rewritten = sum(sizes) - (max(sizes) if 2 * max(sizes) >= sum(sizes) else 0)
        if max_docs is not None and (everything or rewritten > max_docs):
            return unchanged
        writer = self._writer(ix, timeout)
        _optimize(ix, writer, None if everything else merge_small)
        return {"before": before, "after": len(_open_index(self.root / gen)._segments())}

    def _swap(self, name: str) -> list[str]:
        current = self.root / "CURRENT"
        old: list[str] = []
        try:
            previous = current.read_text(encoding="utf-8").strip()
            if previous:
                old.append(previous)
        except OSError:
            previous = ""
        lock = None
        if previous and (self.root / previous).is_dir():
            # Wait for an apply() in flight on the old generation, so nothing commits there
            # after the swap unnoticed (apply re-checks CURRENT once it holds this lock).
            lock = FileStorage(str(self.root / previous)).lock("MAIN_WRITELOCK")
            if not try_for(lock.acquire, timeout=self.writer_timeout, delay=0.05):
                lock = None
        try:
            _write_atomic(current, name + "\n")
        finally:
            if lock is not None:
                lock.release()
        return old

    def _remove_generations(self, keep: str) -> None:
        for entry in self.root.iterdir():
            if entry.name.startswith("gen-") and entry.name != keep and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


def merge_small(writer: Any, segments: list[Any]) -> list[Any]:
    """A Whoosh merge policy (see merge_tiny) for compact(): keep the biggest segment when
    it holds at least half of the documents and merge the others; else merge them all."""
    from whoosh.reading import SegmentReader

    if len(segments) < 2:
        return segments
    biggest = max(segments, key=lambda seg: seg.doc_count_all())
    total = sum(seg.doc_count_all() for seg in segments)
    keep = [biggest] if 2 * biggest.doc_count_all() >= total else []
    merged = [seg for seg in segments if seg is not biggest or not keep]
    if len(merged) < 2:
        return segments
    for seg in merged:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)
        reader.close()
    return keep


def _optimize(ix: Any, writer: Any, policy: Callable[..., list[Any]] | None = None) -> None:
    """Commit `writer` merging every segment of `ix` into one (Whoosh's optimize), or as
    the merge policy `policy` chooses."""
    try:
        if policy is None:
            writer.commit(optimize=True)
        else:
            writer.commit(mergetype=policy)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.cancel()
        raise


def _chain(head: list[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from head
    yield from rest
