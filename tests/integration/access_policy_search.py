"""Access matrix entries of the search page (see test_access_matrix.py for the format).

SETUP builds the index from the sample data, so every logged-in role gets a result page;
what each role may find is tested in test_search_integration.py and tests/unit/search.
"""

from __future__ import annotations

from typing import Any

LOGIN = "login"

SEARCH_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/search/"): {
        "anonymous": LOGIN,
        "enterprise": 200,
        "unverified_institution": 200,
        "verified_institution": 200,
        "operator": 200,
    },
}


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.services import search_sync

    search_sync.reindex()
