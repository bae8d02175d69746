"""Account management: the administrators' pages (/admin) and /api/v1/users.

See access_policy_web.py for the table format. The target is a member of F-001 (SETUP). On
the pages only the admin role gets in, and an empty POST re-renders the form with its
messages (200). Through the API operators and admins suspend and reactivate that member (PATCH
{"active": …}).
"""

from __future__ import annotations

from typing import Any

ROLES = (
    "anonymous", "enterprise", "unverified_institution", "verified_institution", "operator", "admin"
)  # fmt: skip
LOGIN = "login"

ROW_REFS: dict[str, tuple[str, str]] = {"user_id": ("user", "staff@f001.test")}


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    ctx.add_user("staff@f001.test", "bank", "F-001", org_role="member")


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any, admin: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op, admin), strict=True))


ADMIN = _s(LOGIN, 403, 403, 403, 403, 200)
STAFF_API = _s(401, 403, 403, 403, 200, 200)

ADMIN_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/admin/users/new"): ADMIN,
    ("POST", "/admin/users/new"): ADMIN,
    ("GET", "/admin/users/<id:user_id>"): ADMIN,
    ("POST", "/admin/users/<id:user_id>/role"): ADMIN,
    ("POST", "/admin/users/<id:user_id>/password"): ADMIN,
}

USERS_API_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/users/<int:user_id>"): STAFF_API,
}
# The body of API writes: "stay active", so an allowed PATCH answers 200 and changes nothing.
REQUEST_BODY: dict[str, Any] = {"active": True}
