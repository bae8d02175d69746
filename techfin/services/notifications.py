"""Notices: in-app rows for the notification centre, and their emails through the queue.

`notify()` writes the notices (and one NotificationEmail row per recipient that gets
mail) in the caller's transaction, so a notice exists exactly when the change it reports
was committed. After that commit a wake-up goes on the task queue; a worker renders each
email in the recipient's own language and sends it through techfin.mail. A failed send
raises in the task, Huey retries it (EMAIL_RETRIES, EMAIL_RETRY_DELAY), each attempt is
recorded on the row, and after the last one the row is `failed` and the task failure is
listed on the operators' system page with a retry button. A lost wake-up is found by the
minute sweep. The actor never sees a mail error: it is not theirs.

A kind is registered once (`register`) with lazy-gettext title and body format strings;
they are rendered when shown, with `params`, in the reader's language.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.orm import Session

from techfin import mail
from techfin.errors import NotFound
from techfin.extensions import db
from techfin.models import Notification, NotificationEmail, User
from techfin.models.base import utcnow
from techfin.services.paging import Page, paginate

log = logging.getLogger(__name__)

NOT_FOUND = "Notification not found / 通知不存在"
_PENDING = "notification_emails"  # session.info: email rows written in this transaction

# Retries of the send task after the first attempt (Huey), so MAX_ATTEMPTS in all.
EMAIL_RETRIES = 4
EMAIL_RETRY_DELAY = 60
MAX_ATTEMPTS = EMAIL_RETRIES + 1


@dataclass(frozen=True)
class Kind:
    title: Any  # a lazy gettext string with %(name)s placeholders
    body: Any
    # An email template of its own (templates/email/<name>.txt/.html) and the function
    # that loads its context from the params at send time; None: the generic notice.
    email_template: str | None = None
    email_context: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None


KINDS: dict[str, Kind] = {}


def register(
    kind: str,
    title: Any,
    body: Any,
    *,
    email_template: str | None = None,
    email_context: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
) -> None:
    """Declare a kind of notice (at import time of the feature that sends it)."""
    KINDS[kind] = Kind(title, body, email_template, email_context)


class _Params(dict):
    """A missing placeholder renders empty instead of failing the page or the email."""

    def __missing__(self, key: str) -> str:
        return ""


def _render(template: Any, params: dict[str, Any]) -> str:
    text = str(template)
    try:
        return text % _Params(params or {})
    except (TypeError, ValueError):
        return text


def title(note: Notification | NotificationEmail) -> str:
    kind = KINDS.get(note.kind)
    return _render(kind.title, note.params) if kind else note.kind


def body(note: Notification | NotificationEmail) -> str:
    kind = KINDS.get(note.kind)
    return _render(kind.body, note.params) if kind else ""


# ------------------------------------------------------------------ writing


def notify(
    users: Iterable[User],
    kind: str,
    params: dict[str, Any],
    link: str,
    *,
    email: bool = True,
    also_email: Iterable[tuple[str, str, str]] = (),
) -> None:
    """Notices for `users` in the caller's transaction (the caller commits); with `email`,
    one queued email each (active users only). `also_email` adds addresses that are not
    accounts — (email, name, locale) — such as an institution's contact address."""
    if kind not in KINDS:
        raise ValueError(f"unregistered notification kind {kind!r}")
    params = dict(params or {})
    link = (link or "")[:500]
    seen_users: set[int] = set()
    seen_addresses: set[str] = set()
    emails: list[NotificationEmail] = []
    for user in users:
        if user is None or user.id in seen_users:
            continue
        seen_users.add(user.id)
        note = Notification(user_id=user.id, kind=kind, params=params, link=link)
        db.session.add(note)
        if email and user.active and user.email:
            seen_addresses.add(user.email.lower())
            emails.append(NotificationEmail(notification=note, user_id=user.id,
                                            to_email=user.email, to_name=user.name or "",
                                            locale=user.locale or "zh_CN", kind=kind,
                                            params=params, link=link))  # fmt: skip
    if email:
        for address, name, locale in also_email:
            if not address or address.lower() in seen_addresses:
                continue
            seen_addresses.add(address.lower())
            emails.append(NotificationEmail(to_email=address, to_name=name or "",
                                            locale=locale or "zh_CN", kind=kind,
                                            params=params, link=link))  # fmt: skip
    for row in emails:
        db.session.add(row)
    if emails:
        db.session.flush()
        db.session.info.setdefault(_PENDING, []).extend(r.id for r in emails)


def _wake_after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if not ids:
        return
    from techfin.tasks import jobs, wake

    wake(jobs.send_notification_emails, list(ids))


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def install_hooks() -> None:
    """The wake-up goes out only once the rows are committed (a worker must find them)."""
    for name, fn in (("after_commit", _wake_after_commit), ("after_rollback", _forget)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


# ------------------------------------------------------------------ sending (task side)


class MailNotSent(RuntimeError):
    """Some emails of a batch could not be sent; the task is retried for them."""


def _absolute(link: str) -> str:
    if link.startswith("/"):
        return current_app.config["EXTERNAL_URL"].rstrip("/") + link
    return link


def compose(row: NotificationEmail) -> Any:
    """The message for one row, in the recipient's language."""
    kind = KINDS.get(row.kind)
    link = _absolute(row.link)
    with force_locale(row.locale or "zh_CN"):
        subject = title(row)
        if kind is not None and kind.email_template and kind.email_context is not None:
            context = kind.email_context(row.params)
            if context is not None:
                return mail.build_message(row.to_email, subject, kind.email_template,
                                          to_name=row.to_name, link=link,
                                          recipient_name=row.to_name or row.to_email,
                                          locale=row.locale, **context)  # fmt: skip
        return mail.build_message(row.to_email, subject, "notification", to_name=row.to_name,
                                  recipient_name=row.to_name or row.to_email,
                                  title=subject, body=body(row), link=link)  # fmt: skip


def send_emails(ids: Iterable[int]) -> dict[str, int]:
    """Send the rows not yet sent; raises MailNotSent when any failed (so the queue retries
    them: rows already sent are skipped next time)."""
    wanted = sorted({int(i) for i in ids})
    sent = failed = 0
    if not wanted:
        return {"sent": 0, "failed": 0}
    rows = list(
        db.session.scalars(
            select(NotificationEmail)
            .where(NotificationEmail.id.in_(wanted), NotificationEmail.status != "sent")
            .order_by(NotificationEmail.id)
        )
    )
    errors: list[str] = []
    conn = None
    try:
        for row in rows:
            try:
                message = compose(row)
                if conn is None:
                    conn = mail.smtp_connection()
                mail.send(message, conn, to_addrs=[row.to_email])
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                # The connection may be broken: the next row opens a new one.
                if conn is not None:
                    with contextlib.suppress(Exception):  # closing a dead connection
                        conn.close()
                    conn = None
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                failed += 1
                errors.append(f"{row.id}: {row.last_error}")
                log.warning("notification email %s to %s failed (attempt %s): %s",
                            row.id, row.to_email, row.attempts, exc)  # fmt: skip
            else:
                row.attempts += 1
                row.status, row.sent_at, row.last_error = "sent", utcnow(), ""
                sent += 1
            db.session.commit()  # each outcome is kept, whatever happens to the next row
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):  # the messages are already accepted
                conn.quit()
    if errors:
        raise MailNotSent("; ".join(errors)[:2000])
    return {"sent": sent, "failed": failed}


def lost_email_ids(older_than: timedelta = timedelta(minutes=2), limit: int = 500) -> list[int]:
    """Rows the queue has lost: never attempted although their wake-up should have run long
    ago (the queue was down at commit), or still pending after the whole retry schedule
    (a broker restart dropped the scheduled retry). The sweep wakes the sender for them;
    each attempt counts, so a row that keeps failing ends as `failed`, never loops."""
    now = utcnow()
    retry_window = timedelta(seconds=MAX_ATTEMPTS * EMAIL_RETRY_DELAY) + timedelta(minutes=10)
    return list(
        db.session.scalars(
            select(NotificationEmail.id)
            .where(
                NotificationEmail.status == "pending",
                or_(
                    and_(NotificationEmail.attempts == 0,
                         NotificationEmail.created_at < now - older_than),
                    NotificationEmail.created_at < now - retry_window,
                ),
            )
            .order_by(NotificationEmail.id)
            .limit(limit)
        )
    )  # fmt: skip


# ------------------------------------------------------------------ reading


def unread_count(user: User) -> int:
    """The badge: one COUNT answered by the (user_id, read_at) index."""
    return int(
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def page_for(user: User, *, unread: bool = False, page: Any = 1, per_page: Any = 20) -> Page:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return paginate(stmt.order_by(Notification.id.desc()), page, per_page)


def mark_read(user: User, notification_id: int) -> Notification:
    """Only one's own notices; anyone else's id is as unknown as a missing one (404)."""
    note = (
        db.session.get(Notification, notification_id) if 0 < notification_id <= 2**31 - 1 else None
    )
    if note is None or note.user_id != user.id:
        raise NotFound(NOT_FOUND)
    if note.read_at is None:
        note.read_at = utcnow()
        db.session.commit()
    return note


def mark_all_read(user: User) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    return int(result.rowcount or 0)


def init_app(_app: Any) -> None:
    install_hooks()
