"""Search library: plain dicts in, plain dicts out; never imports Flask or SQLAlchemy.

Engine: Whoosh (``whoosh-reloaded``) for storage, read through numpy; every Whoosh call is
in this package, behind :class:`SearchEngine`.

Document dict (unique key: ``(type, id)``)::

    type        enterprise | need | product | funder | patent | copyright | trademark
    id          int
    ref         display reference, returned as is
    title, body, org_name   searched (title counts 3×); body stored for highlights
    org_id      owner organisation
    visibility  public | institutions | owner | operator (anything else → operator)
    shared_with [funder org ids] also allowed to see an institutions/owner document
    confidential  truthy → never indexed (an upsert of it removes the indexed copy)
    kind, industry (e.g. C38 → also facet "section" C), region (6 digits → also facets
    "province" = 2 digits and "city" = 4 digits), stage, size, status   facets
    amount (int yuan), date (ISO date/datetime), version (str, compared by check())
    restricted  names among amount, kind, industry, region, stage, size, status whose value
                only a narrower audience may see (an enterprise's revenue and SME size)
    restricted_visibility, restricted_shared_with   that audience, coded like visibility
                and shared_with (missing → operators only)

A viewer outside the restricted audience sees the document but not those values: for it they
are absent, so a filter on one never matches the document, facets do not count it and a sort
by one puts it last (newest first, then id) — whatever the value, nothing comes back that
depends on it. Cost: one more vectorised mask per segment that restricts anything.

Who sees what (applied inside the query: hidden documents are never in items, total,
facets, highlights or suggestions):

    operator                 everything
    enterprise               public + its own org's (except operator-only) + shared with it
    institution, verified    public + institutions + its own + shared with it
    institution, unverified  public + its own
    anonymous / unknown role public only
"""

from techfin.search.analysis import segment
from techfin.search.engine import (
    DOC_TYPES,
    FACETS,
    Change,
    IndexBusy,
    InvalidDocument,
    SearchEngine,
    SearchError,
    SearchResult,
    SearchUnavailable,
    Viewer,
)
from techfin.search.names import OrgNameIndex, find_similar, normalize_org_name, split_org_name

__all__ = [
    "DOC_TYPES",
    "FACETS",
    "Change",
    "IndexBusy",
    "InvalidDocument",
    "OrgNameIndex",
    "SearchEngine",
    "SearchError",
    "SearchResult",
    "SearchUnavailable",
    "Viewer",
    "find_similar",
    "normalize_org_name",
    "segment",
    "split_org_name",
]
