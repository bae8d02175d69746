"""Access matrix entries of the matching pages (see test_access_matrix.py for the format).

N-001 (published, E-001's) has matches: P-001 (F-001's IP-pledge loan) is eligible for it.
Expressing interest or moving a stage with an empty body is refused by the form (302 back
with a message); what each role may see inside the pages is tested in
tests/integration/matching/.
"""

from __future__ import annotations

from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


MATCHING_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    # the enterprise's overview of its open needs and their match counts
    ("GET", "/matches"): _s(LOGIN, 200, 403, 403, 403),
    # one need's ranked products and funds: its enterprise and operators
    ("GET", "/needs/<id:need_id>/matches"): _s(LOGIN, 200, 403, 403, 200),
    ("POST", "/needs/<id:need_id>/matches/interest"): _s(LOGIN, 302, 403, 403, 403),
    # ranked dealflow: verified institutions and operators; the unverified are told why (403)
    ("GET", "/dealflow/matches"): _s(LOGIN, 403, 403, 200, 200),
    ("POST", "/dealflow/matches/move"): _s(LOGIN, 403, 403, 302, 302),
    # reopening an ended deal: operators only (an empty body is refused by the form: 302)
    ("POST", "/dealflow/matches/reopen"): _s(LOGIN, 403, 403, 403, 302),
}
