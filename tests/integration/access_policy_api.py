"""Expected status of every /api/v1 route for every role: the API's part of the access matrix.

How the statuses were worked out (the matrix test must set up the same):
- Data: tests/data/sample.jsonl, freshly imported for each request (a DELETE that succeeds
  must not change what the next request sees).
- Accounts (ROLE_ACCOUNTS): "enterprise" is a user of E-001; "verified_institution" a bank
  user of F-001 (verified); "unverified_institution" an investor of F-002 (not verified);
  "operator" a platform operator; "anonymous" sends no Authorization header. The others send
  `Authorization: Bearer <token>` made by accounts.create_api_token.
- Path ids (ROW_REFS): each <int:…_id> is the id of the sample row with that ref, e.g.
  need_id → N-001 (E-001's published need, which has docking outcomes), outcome_id → the
  "contacted" step of N-001 × P-001.
- Bodies: POST and PATCH send REQUEST_BODY, an empty JSON object. So an allowed POST answers
  422 (required fields missing) and an allowed PATCH 200 (nothing to change).

Why some statuses are what they are: E-001, F-001 and F-002 have accounts and N-001/P-001
have docking records, so deleting them is refused (409); the sample has no sharing rules, so
the verified bank sees no patents (404); a row the role may see but not change gives 403,
one it may not see 404. HEAD answers as GET; OPTIONS is answered without authentication.
"""

from __future__ import annotations

from collections.abc import Callable

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")

# role → (User.role, organisation ref or None)
ROLE_ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "enterprise": ("enterprise", "E-001"),
    "unverified_institution": ("investor", "F-002"),
    "verified_institution": ("bank", "F-001"),
    "operator": ("operator", None),
}

# URL variable → (record type, sample ref)
ROW_REFS: dict[str, tuple[str, str]] = {
    "enterprise_id": ("enterprise", "E-001"),
    "patent_id": ("patent", "PT-001"),
    "need_id": ("need", "N-001"),
    "funder_id": ("funder", "F-001"),
    "product_id": ("product", "P-001"),
    "outcome_id": ("outcome", "N-001/P-001/contacted/2026-09-05"),
}

REQUEST_BODY: dict = {}


def _s(anon: int, ent: int, unverified: int, verified: int, op: int) -> dict[str, int]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


ALL_OK = _s(200, 200, 200, 200, 200)
LIST = _s(401, 200, 200, 200, 200)

API_POLICY: dict[tuple[str, str], dict[str, int | tuple[int, ...]]] = {
    # The OpenAPI document and its browsable page are public.
    ("GET", "/api/v1/openapi.json"): ALL_OK,
    ("GET", "/api/v1/docs"): ALL_OK,
    # enterprises: operators register and delete; an enterprise edits itself; the verified
    # bank sees E-001 because it has a published need.
    ("GET", "/api/v1/enterprises"): LIST,
    ("POST", "/api/v1/enterprises"): _s(401, 403, 403, 403, 422),
    ("GET", "/api/v1/enterprises/<int:enterprise_id>"): _s(401, 200, 404, 200, 200),
    ("PATCH", "/api/v1/enterprises/<int:enterprise_id>"): _s(401, 200, 404, 403, 200),
    ("DELETE", "/api/v1/enterprises/<int:enterprise_id>"): _s(401, 403, 404, 403, 409),
    # patents: the enterprise's own; institutions only shared, never confidential ones.
    ("GET", "/api/v1/patents"): LIST,
    ("POST", "/api/v1/patents"): _s(401, 422, 403, 403, 422),
    ("GET", "/api/v1/patents/<int:patent_id>"): _s(401, 200, 404, 404, 200),
    ("PATCH", "/api/v1/patents/<int:patent_id>"): _s(401, 200, 404, 404, 200),
    ("DELETE", "/api/v1/patents/<int:patent_id>"): _s(401, 204, 404, 404, 204),
    # needs: verified institutions see published ones; unverified see none.
    ("GET", "/api/v1/needs"): LIST,
    ("POST", "/api/v1/needs"): _s(401, 422, 403, 403, 422),
    ("GET", "/api/v1/needs/<int:need_id>"): _s(401, 200, 404, 200, 200),
    ("PATCH", "/api/v1/needs/<int:need_id>"): _s(401, 200, 404, 403, 200),
    ("DELETE", "/api/v1/needs/<int:need_id>"): _s(401, 409, 404, 403, 409),
    # funders: verified ones are public to every account; staff edit their own profile.
    ("GET", "/api/v1/funders"): LIST,
    ("POST", "/api/v1/funders"): _s(401, 403, 403, 403, 422),
    ("GET", "/api/v1/funders/<int:funder_id>"): _s(401, 200, 200, 200, 200),
    ("PATCH", "/api/v1/funders/<int:funder_id>"): _s(401, 403, 403, 200, 200),
    ("DELETE", "/api/v1/funders/<int:funder_id>"): _s(401, 403, 403, 403, 409),
    # products: active products of verified institutions are public; the owner edits.
    ("GET", "/api/v1/products"): LIST,
    ("POST", "/api/v1/products"): _s(401, 403, 422, 422, 422),
    ("GET", "/api/v1/products/<int:product_id>"): _s(401, 200, 200, 200, 200),
    ("PATCH", "/api/v1/products/<int:product_id>"): _s(401, 403, 403, 200, 200),
    ("DELETE", "/api/v1/products/<int:product_id>"): _s(401, 403, 403, 409, 409),
    # outcomes: the need's enterprise and the product's institution see them; the
    # institution corrects them; only operators delete.
    ("GET", "/api/v1/outcomes"): LIST,
    ("POST", "/api/v1/outcomes"): _s(401, 422, 403, 422, 422),
    ("GET", "/api/v1/outcomes/<int:outcome_id>"): _s(401, 200, 404, 200, 200),
    ("PATCH", "/api/v1/outcomes/<int:outcome_id>"): _s(401, 403, 404, 200, 200),
    ("DELETE", "/api/v1/outcomes/<int:outcome_id>"): _s(401, 403, 404, 403, 204),
    # reopening an ended deal: operators only (an empty body: 422)
    ("POST", "/api/v1/outcomes/reopen"): _s(401, 403, 403, 403, 422),
    ("OPTIONS", "/api/v1/outcomes/reopen"): ALL_OK,
}

# Every rule also answers HEAD (as GET) and OPTIONS (the Allow header, no authentication).
for (_method, _rule), _statuses in list(API_POLICY.items()):
    if _method == "GET":
        API_POLICY[("HEAD", _rule)] = _statuses
        API_POLICY[("OPTIONS", _rule)] = ALL_OK


def api_url(rule: str, lookup: Callable[[str, str], int]) -> str:
    """The URL for a rule, with each <int:…_id> replaced by lookup(record type, sample ref)."""
    url = rule
    for name, (kind, ref) in ROW_REFS.items():
        placeholder = f"<int:{name}>"
        if placeholder in url:
            url = url.replace(placeholder, str(lookup(kind, ref)))
    return url
