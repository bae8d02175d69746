"""Access matrix entries: search and matches in the API, digest settings and unsubscribe.

Same format and sample data as access_policy_api.py / access_policy_web.py. SETUP builds
the search index so the search API answers 200 rather than "index unavailable".
"""

from __future__ import annotations

from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"

ROW_REFS: dict[str, tuple[str, str]] = {
    "need_id": ("need", "N-001"),
    "product_id": ("product", "P-001"),
}
URLS: dict[tuple[str, str], str] = {
    ("GET", "/digests/unsubscribe/<token>"): "/digests/unsubscribe/not-a-signed-token",
    ("POST", "/digests/unsubscribe/<token>"): "/digests/unsubscribe/not-a-signed-token",
}


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


DISCOVERY_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/v1/search"): _s(401, 200, 200, 200, 200),
    # N-001 is E-001's: only its enterprise and operators see its matches; the bank sees the
    # need itself (403), the unverified fund does not (404).
    ("GET", "/api/v1/needs/<int:need_id>/matches"): _s(401, 200, 404, 403, 200),
    # P-001 is F-001's: visible to all in the marketplace, its matches only to F-001.
    ("GET", "/api/v1/products/<int:product_id>/matches"): _s(401, 403, 403, 200, 200),
    ("GET", "/api/v1/me/digest"): _s(401, 200, 200, 200, 200),
    ("PUT", "/api/v1/me/digest"): _s(401, 200, 200, 200, 200),
    ("GET", "/digests/settings"): _s(LOGIN, 200, 200, 200, 200),
    # An empty POST re-validates the settings on record and saves them unchanged.
    ("POST", "/digests/settings"): _s(LOGIN, 302, 302, 302, 302),
    # The signed token is the credential: no login; a forged one is refused.
    ("GET", "/digests/unsubscribe/<token>"): _s(200, 200, 200, 200, 200),
    ("POST", "/digests/unsubscribe/<token>"): _s(400, 400, 400, 400, 400),
    ("GET", "/digests/log"): _s(LOGIN, 403, 403, 403, 200),
}


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.services import search_sync

    search_sync.reindex()
