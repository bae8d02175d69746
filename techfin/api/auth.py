"""Bearer-token authentication for /api/v1.

Session cookies are never consulted: a browser that is logged in gets nothing from the API
without a token, which is what makes exempting the API from CSRF safe.
"""

from __future__ import annotations

from datetime import timedelta

from flask import g, request

from techfin.errors import DomainError
from techfin.extensions import db
from techfin.models import ApiToken, User
from techfin.models.base import utcnow
from techfin.services import audit

MAX_TOKEN_LENGTH = 200
# Writing last_used_at on every request would make every read a write; a minute is precise
# enough to tell a live token from a forgotten one.
TOUCH_EVERY = timedelta(minutes=1)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def user_for_header(header: str) -> User | None:
    """The active user owning this `Authorization: Bearer …` token, or None."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.execute(
        db.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token))
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.revoked_at is not None or not row.user.active:
        # A known account knocking with a dead credential is worth an audit line; random
        # garbage is not (anyone could fill the table with it).
        reason = "revoked token" if row.revoked_at is not None else "suspended account"
        audit.record("denied", row.user, object_type="user", user=row.user,
                     detail={"reason": reason, "path": request.path[:200]})  # fmt: skip
        db.session.commit()
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row.user


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
