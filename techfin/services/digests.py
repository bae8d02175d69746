"""Email digests of new matches, sent exactly once per (user, period, window).

A run (`flask digests send`, safe from cron every few minutes) works user by user:
1. claim the delivery row for the window in its own committed transaction — the unique
   (user, period, window_start) key lets exactly one run win, however many run at once;
2. compose and hand the message to the SMTP server;
3. mark it sent (or `retry` on a temporary failure, `failed` on a permanent one).
A run that dies between 1 and 3 leaves a `claimed` row; after DIGEST_LEASE_SECONDS another
run takes it over, so nothing is skipped. Only a crash in the instant between the server's
250 and step 3 can repeat a message: the ledger makes that window a single message wide.
"""

from __future__ import annotations

import secrets
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from techfin import mail
from techfin.errors import DomainError
from techfin.extensions import db
from techfin.models import User
from techfin.models.base import utcnow
from techfin.models.digests import PERIODS, DigestDelivery, DigestSubscription
from techfin.services import audit

LOCAL = ZoneInfo("Asia/Shanghai")
MAX_ATTEMPTS = 5
DEFAULT_LEASE = 15 * 60


# ------------------------------------------------------------------ subscriptions


def subscription(user: User) -> DigestSubscription:
    """The user's settings; new accounts get weekly digests until they say otherwise."""
    sub = db.session.execute(
        select(DigestSubscription).where(DigestSubscription.user_id == user.id)
    ).scalar_one_or_none()
    if sub is None:
        sub = DigestSubscription(user_id=user.id, period="weekly", min_score=0.0, scope_ids=[],
                                 locale=user.locale or "zh_CN", bounce_reason="")  # fmt: skip
    return sub


def update_subscription(user: User, data: dict[str, Any]) -> DigestSubscription:
    errors: dict[str, list[str]] = {}
    period = data.get("period", "weekly")
    if period not in PERIODS:
        errors["period"] = ["Choose off, daily or weekly / 请选择关闭、每日或每周"]
    try:
        min_score = float(data.get("min_score") or 0)
        if not 0 <= min_score <= 1:
            raise ValueError
    except (TypeError, ValueError):
        errors["min_score"] = ["A number from 0 to 1 / 请输入 0 到 1 之间的数"]
        min_score = 0.0
    locale = data.get("locale") or user.locale
    if locale not in ("zh_CN", "en"):
        errors["locale"] = ["zh_CN or en / 仅支持 zh_CN 或 en"]
    scope = data.get("scope_ids") or []
    if not isinstance(scope, list) or not all(isinstance(i, int) and i > 0 for i in scope):
        errors["scope_ids"] = ["A list of your need or product ids / 需求或产品编号列表"]
    if errors:
        raise DomainError("invalid digest settings", errors)
    sub = subscription(user)
    sub.period, sub.min_score, sub.locale, sub.scope_ids = period, min_score, locale, scope
    # Saving settings is how a user says the address works again after a bounce.
    sub.bounced_at, sub.bounce_reason = None, ""
    db.session.add(sub)
    audit.record("digest_settings", user, object_type="user", detail={"period": period})
    db.session.commit()
    return sub


# ------------------------------------------------------------------ unsubscribe


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="digest-unsubscribe")


def unsubscribe_token(user: User) -> str:
    return _signer().dumps({"u": user.id})


def unsubscribe(token: str) -> User:
    try:
        data = _signer().loads(token)
    except BadSignature as exc:
        raise DomainError("invalid link", {"token": ["This link is not valid / 链接无效"]}) from exc
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None:
        raise DomainError("invalid link", {"token": ["This link is not valid / 链接无效"]})
    sub = subscription(user)
    sub.period = "off"
    db.session.add(sub)
    audit.record("unsubscribe", user, user=user, object_type="user")
    db.session.commit()
    return user


# ------------------------------------------------------------------ windows


def window_for(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The latest complete day or ISO week (Beijing time) before `now`, as naive UTC."""
    local_now = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(LOCAL)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        end = midnight
        start = end - timedelta(days=1)
    else:
        end = midnight - timedelta(days=midnight.weekday())
        start = end - timedelta(days=7)

    def utc(dt: datetime) -> datetime:
        return dt.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    return utc(start), utc(end)


# ------------------------------------------------------------------ content

ItemSource = Callable[[User, DigestSubscription, datetime, datetime], list[dict[str, Any]]]


def new_match_items(
    user: User, sub: DigestSubscription, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Matches first seen in [since, until) that this user may see, best first; operators
    get the platform's figures for the period instead."""
    from techfin.services import matching

    if user.is_operator:
        return platform_summary(since, until, sub.locale)

    items = matching.new_matches_for_user(user, since, until, min_score=sub.min_score,
                                          scope_ids=sub.scope_ids or None)  # fmt: skip
    return sorted(items, key=lambda i: -float(i.get("score") or 0))


def platform_summary(since: datetime, until: datetime, locale: str) -> list[dict[str, Any]]:
    """The operators' weekly summary: what happened on the platform in [since, until)."""
    from techfin.models import Need, Outcome, Product

    def count(model: Any, *where: Any) -> int:
        return int(db.session.scalar(select(db.func.count()).select_from(model).where(*where)) or 0)

    funded = db.session.scalar(
        select(db.func.coalesce(db.func.sum(Outcome.amount_cny), 0)).where(
            Outcome.stage == "funded", Outcome.created_at >= since, Outcome.created_at < until
        )
    )
    with force_locale(locale):
        rows = [
            ("needs", _("New financing needs: %(n)s",
                        n=count(Need, Need.created_at >= since, Need.created_at < until))),
            ("products", _("New products: %(n)s",
                           n=count(Product, Product.created_at >= since, Product.created_at < until))),
            ("approved", _("Approvals recorded: %(n)s", n=count(
                Outcome, Outcome.stage == "approved", Outcome.created_at >= since,
                Outcome.created_at < until))),
            ("funded", _("Amount funded: %(wan)s 万元", wan=f"{int(funded or 0) / 10000:,.0f}")),
        ]  # fmt: skip
    return [{"ref": key, "title": str(text), "score": None, "reasons": [],
             "path": "/operations/dashboard", "change": None} for key, text in rows]  # fmt: skip


def _upcoming_events(user: User) -> list[dict[str, Any]]:
    try:
        from techfin.services import events
    except ImportError:
        return []
    finder = getattr(events, "upcoming_for_user", None)
    return list(finder(user, limit=5)) if finder else []


def compose(user: User, sub: DigestSubscription, delivery: DigestDelivery, items: list[dict]):  # noqa: ANN201
    token = unsubscribe_token(user)
    base = current_app.config["EXTERNAL_URL"].rstrip("/")
    unsub = base + url_for("digests.unsubscribe", token=token, _external=False)
    with force_locale(sub.locale):
        subject = _("%(n)s new matches for you on techfin", n=len(items))
        msg = mail.build_message(
            user.email, subject, "digest", to_name=user.name,
            headers={"List-Unsubscribe": f"<{unsub}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            user=user, items=items, events=_upcoming_events(user), period=delivery.period,
            window_start=delivery.window_start, window_end=delivery.window_end,
            unsubscribe_url=unsub, base_url=base,
        )  # fmt: skip
    return msg


# ------------------------------------------------------------------ sending


@dataclass
class RunReport:
    run_id: str
    sent: int = 0
    empty: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    would_send: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"run {self.run_id}: {self.sent} sent, {self.empty} with nothing new, "
                f"{self.retry} to retry, {self.failed} failed, {self.skipped} taken by another run")  # fmt: skip


def _due_user_ids(period: str) -> list[int]:
    """Active users whose (explicit or default weekly) period is this one and not bounced."""
    subs = {s.user_id: s for s in db.session.execute(select(DigestSubscription)).scalars()}
    ids = db.session.execute(select(User.id).where(User.active.is_(True)).order_by(User.id))
    due = []
    for uid in ids.scalars():
        sub = subs.get(uid)
        chosen = sub.period if sub is not None else "weekly"
        if chosen == period and (sub is None or sub.bounced_at is None):
            due.append(uid)
    return due


def _existing(user_id: int, period: str, start: datetime) -> DigestDelivery | None:
    return db.session.execute(
        select(DigestDelivery).filter_by(user_id=user_id, period=period, window_start=start)
    ).scalar_one_or_none()


def _can_take_over(row: DigestDelivery, now: datetime, lease: int) -> bool:
    """A retry still within its attempts, or a claim whose run died (its lease ran out)."""
    if row.status == "retry":
        return row.attempts < MAX_ATTEMPTS
    return row.status == "claimed" and (
        row.claimed_at is None or row.claimed_at <= now - timedelta(seconds=lease)
    )


def _claim(user: User, period: str, start: datetime, end: datetime, run_id: str,
           now: datetime, lease: int, *, status: str, items: list[dict]) -> DigestDelivery | None:  # fmt: skip
    """Insert the delivery row, or take over a retry / dead claim; None if another run has it.

    One commit per claim: the unique key (a new row) or the compare-and-set (a takeover)
    decides which of several concurrent runs sends.
    """
    summary = [{"ref": i.get("ref"), "score": i.get("score")} for i in items][:100]
    row = DigestDelivery(user_id=user.id, period=period, window_start=start, window_end=end,
                         status=status, attempts=1 if status == "claimed" else 0, last_error="",
                         run_id=run_id, claimed_at=now, item_count=len(items), items=summary)  # fmt: skip
    db.session.add(row)
    try:
        db.session.commit()
        return row
    except IntegrityError:
        db.session.rollback()
    existing = _existing(user.id, period, start)
    if existing is None or not _can_take_over(existing, now, lease):
        return None
    won = db.session.execute(
        update(DigestDelivery)
        .where(DigestDelivery.id == existing.id, DigestDelivery.status == existing.status,
               DigestDelivery.run_id == existing.run_id)
        .values(status=status, run_id=run_id, claimed_at=now, item_count=len(items),
                items=summary, attempts=DigestDelivery.attempts + (1 if status == "claimed" else 0))
    ).rowcount  # fmt: skip
    db.session.commit()
    if won != 1:
        return None
    db.session.refresh(existing)
    return existing


def _since(user: User, period: str, start: datetime) -> datetime:
    """From the end of the previous digest, so a missed run's matches are not skipped."""
    previous = db.session.scalar(
        select(db.func.max(DigestDelivery.window_end)).where(
            DigestDelivery.user_id == user.id, DigestDelivery.period == period,
            DigestDelivery.status.in_(("sent", "empty")), DigestDelivery.window_end <= start)
    )  # fmt: skip
    return previous if previous is not None else start


def _classify(exc: Exception) -> tuple[bool, str]:
    """(permanent, reason) for an SMTP failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return (all(c >= 500 for c in codes), f"recipient refused: {codes}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return (exc.smtp_code >= 500, f"{exc.smtp_code} {exc.smtp_error!r}"[:500])
    return (False, f"{type(exc).__name__}: {exc}"[:500])


def send_due(
    period: str | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    items_for: ItemSource | None = None,
    connect: Callable[[], smtplib.SMTP] | None = None,
) -> RunReport:
    """Compose and send every digest that is due; see the module docstring."""
    now = now or utcnow()
    items_for = items_for or new_match_items
    connect = connect or mail.smtp_connection
    lease = int(current_app.config.get("DIGEST_LEASE_SECONDS", DEFAULT_LEASE))
    report = RunReport(run_id=secrets.token_hex(8))
    conn: smtplib.SMTP | None = None
    try:
        for per in [period] if period else ["daily", "weekly"]:
            start, end = window_for(per, now)
            for uid in _due_user_ids(per):
                # One user at a time with an empty identity map: each commit below would
                # otherwise expire every user loaded so far (quadratic in subscribers).
                db.session.expunge_all()
                user = db.session.get(User, uid)
                sub = subscription(user)
                if dry_run:
                    since = _since(user, per, start)
                    report.would_send.append((user.email, len(items_for(user, sub, since, end))))
                    continue
                existing = _existing(user.id, per, start)
                if existing is not None and not _can_take_over(existing, now, lease):
                    report.skipped += 1
                    continue
                items = items_for(user, sub, _since(user, per, start), end)
                status = "claimed" if items else "empty"
                row = _claim(user, per, start, end, report.run_id, now, lease,
                             status=status, items=items)  # fmt: skip
                if row is None:
                    report.skipped += 1
                    continue
                if not items:
                    report.empty += 1
                    continue
                msg = compose(user, sub, row, items)
                try:
                    if conn is None:
                        conn = connect()
                    mail.send(msg, conn)
                except (smtplib.SMTPException, OSError) as exc:
                    conn = _drop(conn)
                    permanent, reason = _classify(exc)
                    row.last_error = reason
                    if permanent or row.attempts >= MAX_ATTEMPTS:
                        row.status = "failed"
                        report.failed += 1
                        if permanent:
                            sub.bounced_at, sub.bounce_reason = now, reason
                            db.session.add(sub)
                    else:
                        row.status = "retry"
                        report.retry += 1
                    db.session.commit()
                    continue
                row.status, row.sent_at, row.last_error = "sent", utcnow(), ""
                db.session.commit()
                report.sent += 1
    finally:
        _drop(conn)
    return report


def _drop(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
    return None


def delivery_log(limit: int = 200) -> list[DigestDelivery]:
    return list(
        db.session.execute(
            select(DigestDelivery).order_by(DigestDelivery.id.desc()).limit(limit)
        ).scalars()
    )
