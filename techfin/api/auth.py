"""Bearer-token authentication for /api/v1.

Session cookies are never consulted: a browser that is logged in gets nothing from the API
without a token, which is what makes exempting the API from CSRF safe.
"""

from __future__ import annotations

from flask import g, request

from techfin.errors import DomainError
from techfin.models import User
from techfin.services import accounts

MAX_TOKEN_LENGTH = 200


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def user_for_header(header: str) -> User | None:
    """The active user owning this `Authorization: Bearer …` token, or None."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return accounts.user_for_token(token, request.path)


def authenticate() -> None:
    """before_request of every API blueprint: the caller is the token's user, or 401."""
    if request.method == "OPTIONS":
        return  # Flask answers it with the Allow header alone; no view and no data runs
    user = user_for_header(request.headers.get("Authorization", ""))
    if user is None:
        raise Unauthorized(
            "A valid bearer token is required / 需要有效的访问令牌",
            {"Authorization": ["Send 'Authorization: Bearer <token>' / 请提供访问令牌"]},
        )
    g.api_user = user
    # Services audit as Flask-Login's current_user when not told otherwise; pinning it here
    # makes that the token's user, never whoever a stray session cookie belongs to.
    g._login_user = user


def caller() -> User:
    """The authenticated API user of this request."""
    return g.api_user
