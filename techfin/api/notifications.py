"""/api/v1/notifications — the caller's own notices (newest first) and marking one read."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import force_locale

from techfin.api.auth import caller
from techfin.api.core import errors, resource_blueprint
from techfin.api.schemas import NotificationOut, NotificationPage, NotificationQuery
from techfin.models import Notification, User
from techfin.services import notifications

bp = resource_blueprint("api_notifications", "notifications", "Notifications / 通知")


def _out(user: User, note: Notification) -> dict[str, Any]:
    """A notice with its title and body rendered in the caller's language."""
    with force_locale(user.locale or "zh_CN"):
        title, body = notifications.title(note), notifications.body(note)
    return {"id": note.id, "kind": note.kind, "title": title, "body": body, "link": note.link,
            "params": note.params or {}, "created_at": note.created_at,
            "read_at": note.read_at}  # fmt: skip


@bp.route("")
class Notifications(MethodView):
    @bp.arguments(NotificationQuery, location="query")
    @bp.response(200, NotificationPage)
    @errors(bp, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The caller's notices, newest first; `unread=1` for the unread ones only."""
        user = caller()
        page = notifications.page_for(user, unread=args["unread"], page=args["page"],
                                      per_page=args["per_page"])  # fmt: skip
        return {"items": [_out(user, n) for n in page.items], "page": page.page,
                "per_page": page.per_page, "total": page.total,
                "unread": notifications.unread_count(user)}  # fmt: skip


@bp.route("/<int:notification_id>/read")
class NotificationRead(MethodView):
    @bp.response(200, NotificationOut)
    @errors(bp, 404)
    def post(self, notification_id: int) -> dict[str, Any]:
        """Mark one of the caller's notices read (anyone else's: 404)."""
        user = caller()
        return _out(user, notifications.mark_read(user, notification_id))
