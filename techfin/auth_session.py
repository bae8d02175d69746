"""Who is calling: browser sessions (Flask-Login) and API bearer tokens."""

from __future__ import annotations

from flask import Flask, Request

from techfin.extensions import db, login_manager
from techfin.models import ApiToken, User
from techfin.models.base import utcnow


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id carries the session version: a password change logs out every older session.
    try:
        raw_id, raw_version = user_id.split(":", 1)
        uid, version = int(raw_id), int(raw_version)
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


@login_manager.request_loader
def load_user_from_request(request: Request) -> User | None:
    if not request.path.startswith("/api/"):
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = db.session.execute(
        db.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token.strip()))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    db.session.commit()
    return row.user
