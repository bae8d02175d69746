"""Audit trail: who did what, when (UTC) and from where."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from techfin.extensions import db
from techfin.models import AuditEntry, User
from techfin.models.base import utcnow


def _client_ip() -> str:
    if not has_request_context():
        return "cli"
    return (request.remote_addr or "")[:45]


def object_ref(obj: Any) -> str:
    """What names the record in an activity feed: its ref; a docking outcome has none, so it
    is named by its deal — the need's ref and the product ("N-001 · 知识产权质押贷") —
    otherwise the feed would read "created docking outcome" without saying which deal."""
    ref = getattr(obj, "ref", None)
    if ref:
        return str(ref)
    need, product = getattr(obj, "need", None), getattr(obj, "product", None)
    if need is not None and product is not None:
        return f"{need.ref} · {product.name}"
    return ""


def record(
    action: str,
    obj: Any = None,
    *,
    object_type: str = "",
    user: User | None = None,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction; it commits with the change it records."""
    if user is None and has_request_context() and getattr(current_user, "is_authenticated", False):
        user = current_user._get_current_object()  # type: ignore[attr-defined]
    entry = AuditEntry(
        at=utcnow(),
        user_id=user.id if user is not None else None,
        actor=actor if actor is not None else (user.email if user is not None else ""),
        action=action,
        object_type=object_type or (obj.__tablename__.rstrip("s") if obj is not None else ""),
        object_id=getattr(obj, "id", None),
        object_ref=object_ref(obj)[:64],
        ip=_client_ip(),
        detail=detail or {},
    )
    db.session.add(entry)
    return entry


def record_now(action: str, obj: Any = None, **kwargs: Any) -> AuditEntry:
    """record() committed at once: a refusal is worth a line though the request it answers
    changes nothing (an access denial, a dead credential)."""
    entry = record(action, obj, **kwargs)
    db.session.commit()
    return entry
