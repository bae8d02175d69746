"""Access matrix entries of documents and notifications, pages and API (format: see
access_policy_web.py).

SETUP stores a PNG for E-001 (the enterprise role's organisation) and shares it with F-001
(the verified institution), and gives the enterprise account one notice. So a download is
allowed to E-001, to F-001 through its grant and to operators; F-002 has no grant and gets
404, as for a missing document. A notice is only its owner's: everyone else's read is 404.
Empty POSTs: the upload form re-renders with its messages (422), the API asks for the file.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"
_VAR = re.compile(r"<[^>]+>")


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


def tiny_png() -> bytes:
    """A valid 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.extensions import db
    from techfin.models import Notification, User
    from techfin.services import accounts, documents, notifications

    owner = db.session.get(User, ctx.user_ids["enterprise"])
    doc = documents.upload(owner, io.BytesIO(tiny_png()), "营业执照.png", "other")
    documents.grant(owner, [doc], accounts.find_organization("F-001"), commit=True)
    notifications.notify([owner], "interest", {"enterprise": "E", "target": "T", "need": "N"},
                         "/matches", email=False)  # fmt: skip
    db.session.commit()
    ctx.document_id = doc.id
    ctx.notification_id = db.session.scalar(
        db.select(Notification.id).where(Notification.user_id == owner.id)
    )


# Keyed by GET: the harness falls back to it for the other methods (OPTIONS included).
URLS: dict[tuple[str, str], Any] = {
    ("GET", rule): (lambda m, rule=rule, attr=attr: _VAR.sub(str(getattr(m, attr)), rule))
    for rule, attr in (
        ("/documents/<id:document_id>", "document_id"),
        ("/enterprise/documents/<id:document_id>/delete", "document_id"),
        ("/api/v1/documents/<int:document_id>", "document_id"),
        ("/notifications/<id:notification_id>/read", "notification_id"),
        ("/api/v1/notifications/<int:notification_id>/read", "notification_id"),
    )
}

DOCUMENTS_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    # pages: the enterprise's own list and upload form
    ("GET", "/enterprise/documents"): _s(LOGIN, 200, 403, 403, 403),
    ("POST", "/enterprise/documents"): _s(LOGIN, 422, 403, 403, 403),
    ("POST", "/enterprise/documents/<id:document_id>/delete"): _s(LOGIN, 302, 403, 403, 403),
    # the download: owner, granted institution, operators; everyone else as if missing
    ("GET", "/documents/<id:document_id>"): _s(LOGIN, 200, 404, 200, 200),
    # API
    ("GET", "/api/v1/documents"): _s(401, 200, 403, 403, 403),
    ("POST", "/api/v1/documents"): _s(401, 422, 403, 403, 403),
    ("GET", "/api/v1/documents/<int:document_id>"): _s(401, 200, 404, 200, 200),
    ("DELETE", "/api/v1/documents/<int:document_id>"): _s(401, 204, 404, 404, 204),
}

NOTIFICATIONS_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/notifications"): _s(LOGIN, 200, 200, 200, 200),
    ("POST", "/notifications/<id:notification_id>/read"): _s(LOGIN, 302, 404, 404, 404),
    ("POST", "/notifications/read-all"): _s(LOGIN, 302, 302, 302, 302),
    ("GET", "/api/v1/notifications"): _s(401, 200, 200, 200, 200),
    ("POST", "/api/v1/notifications/<int:notification_id>/read"): _s(401, 200, 404, 404, 404),
}
