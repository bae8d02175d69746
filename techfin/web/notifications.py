"""Pages: the notification centre (every signed-in user) and the unread badge of the nav."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from techfin.errors import NotFound
from techfin.services import notifications
from techfin.web.util import acting_user, guard, safe_next

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
bp.before_request(guard(lambda user: True))


@bp.route("")
def centre():
    unread = request.args.get("unread") == "1"
    page = notifications.page_for(acting_user(), unread=unread, page=request.args.get("page", 1))
    return render_template("notifications/centre.html", page=page, unread=unread,
                           title_of=notifications.title, body_of=notifications.body)  # fmt: skip


@bp.route("/<id:notification_id>/read", methods=["POST"])
def read(notification_id: int):
    """Mark one read; "open" goes on to the page it is about."""
    try:
        note = notifications.mark_read(acting_user(), notification_id)
    except NotFound:
        abort(404)
    if request.form.get("open") and note.link:
        return redirect(safe_next(note.link, url_for(".centre")))
    return redirect(url_for(".centre"))


@bp.route("/read-all", methods=["POST"])
def read_all():
    count = notifications.mark_all_read(acting_user())
    flash(_("%(n)s notices marked read.", n=count), "success")
    return redirect(url_for(".centre"))


def init_app(app: Flask) -> None:
    def unread_notifications() -> int:
        if not getattr(current_user, "is_authenticated", False):
            return 0
        return notifications.unread_count(current_user._get_current_object())

    app.jinja_env.globals["unread_notifications"] = unread_notifications
