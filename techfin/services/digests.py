"""Email digests of new matches, sent exactly once per (user, period, window).

A run (`flask digests send`, safe from cron every few minutes) works in batches of users
(DIGEST_BATCH_SIZE):
1. claim the batch's delivery rows for the window in one committed transaction — the unique
   (user, period, window_start) key (INSERT … ON CONFLICT DO NOTHING) or a compare-and-set
   takeover lets exactly one run win each row, however many run at once;
2. for each claimed row: compose and hand the message to the SMTP server (one connection
   for many messages);
3. right after the server's answer, mark that row sent (or `retry` on a temporary failure,
   `failed` on a permanent one) in its own commit.
A run stopped by an exception gives back the claims it never tried; one that dies outright
leaves `claimed` rows that another run takes over after DIGEST_LEASE_SECONDS, so nothing is
skipped. Only a crash in the instant between the server's 250 and step 3 can repeat a
message: marking each message on its own keeps that window a single message wide.
On PostgreSQL each mark waits for a WAL flush; DIGEST_ASYNC_MARKS skips that wait (see
`_deliver` for what it trades).
"""

from __future__ import annotations

import logging
import secrets
import smtplib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

from flask import current_app
from flask_babel import force_locale, get_translations, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import pass_context
from markupsafe import Markup
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.orm import selectinload, with_polymorphic

from techfin import mail
from techfin.errors import DomainError
from techfin.extensions import db
from techfin.i18n import window_text
from techfin.localtime import BEIJING
from techfin.models import Membership, Organization, User
from techfin.models.base import utcnow
from techfin.models.digests import PERIODS, DigestDelivery, DigestSubscription
from techfin.money import wan_text
from techfin.services import audit
from techfin.urls import site_path

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
DEFAULT_LEASE = 15 * 60
# Users per claim transaction. Bigger batches mean fewer commits but, after a hard crash,
# more claims that wait out the lease before another run sends them.
DEFAULT_BATCH = 200
# A digest is read, not searched: the best 20, then one link to the full ranked list.
ITEMS_SHOWN = 20


# ------------------------------------------------------------------ subscriptions


def subscription(user: User) -> DigestSubscription:
    """The user's settings; new accounts get weekly digests until they say otherwise."""
    sub = db.session.execute(
        select(DigestSubscription).where(DigestSubscription.user_id == user.id)
    ).scalar_one_or_none()
    return sub if sub is not None else _default_subscription(user)


def _default_subscription(user: User) -> DigestSubscription:
    return DigestSubscription(user_id=user.id, period="weekly", min_score=0.0, scope_ids=[],
                              locale=user.locale or "zh_CN", bounce_reason="")  # fmt: skip


def scope_options(user: User) -> list[tuple[int, str]]:
    """What a digest may be narrowed to: an enterprise's open needs, an institution's
    products (id, "ref · name"); nothing for operators, whose digest is the platform summary."""
    from techfin.models import Need, Product

    org = user.organization
    if org is None:
        return []
    if user.is_enterprise:
        stmt = (
            select(Need.id, Need.ref, Need.purpose)
            .where(Need.enterprise_id == org.id, Need.status != "closed")
            .order_by(Need.id)
        )
    elif user.is_institution:
        stmt = (select(Product.id, Product.ref, Product.name)
                .where(Product.funder_id == org.id, Product.status != "retired")
                .order_by(Product.id))  # fmt: skip
    else:
        return []
    return [(i, f"{ref} · {label or ''}"[:80]) for i, ref, label in db.session.execute(stmt)]


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
    elif scope and not set(scope) <= {i for i, _label in scope_options(user)}:
        errors["scope_ids"] = [
            "Only your own open needs or active products / 只能选择本机构的在办需求或在售产品"
        ]
    scope = sorted(set(scope)) if isinstance(scope, list) else []
    if errors:
        raise DomainError("Some digest settings are not valid / 部分邮件摘要设置无效", errors)
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
    local_now = now.replace(tzinfo=UTC).astimezone(BEIJING)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        end = midnight
        start = end - timedelta(days=1)
    else:
        end = midnight - timedelta(days=midnight.weekday())
        start = end - timedelta(days=7)

    def utc(dt: datetime) -> datetime:
        return dt.astimezone(UTC).replace(tzinfo=None)

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
    return _best_first(items)


def _best_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: -float(i.get("score") or 0))


def platform_summary(since: datetime, until: datetime, locale: str) -> list[dict[str, Any]]:
    """The operators' weekly summary: what happened on the platform in [since, until)."""
    from techfin.models import Need, Outcome, Product

    def count(model: Any, *where: Any) -> int:
        return int(db.session.scalar(select(db.func.count()).select_from(model).where(*where)) or 0)

    funded = db.session.scalar(
        select(db.func.coalesce(db.func.sum(Outcome.amount_cny), 0)).where(
            Outcome.stage == "funded",
            Outcome.reopened_at.is_(None),
            Outcome.created_at >= since,
            Outcome.created_at < until,
        )
    )
    figures = (
        count(Need, Need.created_at >= since, Need.created_at < until),
        count(Product, Product.created_at >= since, Product.created_at < until),
        count(Outcome, Outcome.stage == "approved", Outcome.created_at >= since,
              Outcome.created_at < until),
        int(funded or 0),
    )  # fmt: skip
    with force_locale(locale):
        rows = [
            ("needs", _("New financing needs: %(n)s", n=figures[0])),
            ("products", _("New products: %(n)s", n=figures[1])),
            ("approved", _("Approvals recorded: %(n)s", n=figures[2])),
            ("funded", _("Amount funded: %(wan)s 万元", wan=wan_text(figures[3]))),
        ]
    if not any(figures):  # a quiet week sends nothing, like an enterprise's empty digest
        return []
    return [{"ref": key, "title": str(text), "score": None, "reasons": [],
             "path": "/operations/dashboard", "change": None} for key, text in rows]  # fmt: skip


def _upcoming_events(user: User) -> list[dict[str, Any]]:
    try:
        from techfin.services import events
    except ImportError:
        return []
    finder = getattr(events, "upcoming_for_user", None)
    return list(finder(user, limit=5)) if finder else []


def _newstyle_gettext(translations: Any) -> Callable[..., str]:
    """The template `_()` bound to one locale's catalogue, as Jinja's newstyle gettext does
    it (escape-aware %-formatting); flask_babel's own looks the catalogue up on every call."""

    @pass_context
    def gettext(__context: Any, __string: str, **variables: Any) -> str:
        rv = translations.ugettext(__string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 - a catalogue string, as Jinja itself does
        return rv % variables

    return gettext


class DigestComposer:
    """Builds digest messages; made once per run so templates, URLs and catalogues are
    looked up once rather than per message."""

    _MARK = "0digesttoken0"

    def __init__(self) -> None:
        env = current_app.jinja_env
        self.text = env.get_template("email/digest.txt")
        self.html = env.get_template("email/digest.html")
        self.base = current_app.config["EXTERNAL_URL"].rstrip("/")
        self.settings_url = self.base + site_path("digests.settings")
        # Tokens are URL-safe, so the link is a fixed prefix + token + suffix.
        link = site_path("digests.unsubscribe", token=self._MARK)
        self.unsub_pre, _mark, self.unsub_post = (self.base + link).rpartition(self._MARK)
        self.signer = _signer()
        self.translators: dict[str, Callable[..., str]] = {}
        # "…and N more" leads to the whole ranked list: institutions' dealflow, enterprises'.
        self.all_url = {
            True: self.base + site_path("matching.dealflow"),
            False: self.base + site_path("matching.overview"),
        }

    def _gettext_for(self, locale: str) -> Callable[..., str]:
        if locale not in self.translators:
            with force_locale(locale):
                self.translators[locale] = _newstyle_gettext(get_translations())
        return self.translators[locale]

    def __call__(
        self, user: User, sub: DigestSubscription, delivery: DigestDelivery, items: list[dict]
    ) -> Message:
        unsub = self.unsub_pre + self.signer.dumps({"u": user.id}) + self.unsub_post
        context = {"user": user, "items": items, "events": _upcoming_events(user),
                   "period": delivery.period, "window_start": delivery.window_start,
                   "window_end": delivery.window_end, "unsubscribe_url": unsub,
                   "base_url": self.base, "settings_url": self.settings_url,
                   "gettext": self._gettext_for(sub.locale), "shown": ITEMS_SHOWN,
                   "all_url": self.all_url[user.is_institution]}  # fmt: skip
        with force_locale(sub.locale):
            if user.is_operator:
                subject = _(
                    "techfin platform summary, %(window)s",
                    window=window_text(delivery.window_start, delivery.window_end),
                )
            else:
                subject = ngettext(
                    "%(num)s new match for you on techfin",
                    "%(num)s new matches for you on techfin",
                    len(items),
                )
        return mail.compose_message(
            user.email, subject, self.text.render(context), self.html.render(context),
            to_name=user.name,
            headers={"List-Id": f"techfin {delivery.period} digest <{delivery.period}.digest."
                                f"{mail.sender_domain()}>",
                     "List-Unsubscribe": f"<{unsub}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )  # fmt: skip


def compose(user: User, sub: DigestSubscription, delivery: DigestDelivery, items: list[dict]):  # noqa: ANN201
    return DigestComposer()(user, sub, delivery, items)


# ------------------------------------------------------------------ sending


@dataclass
class RunReport:
    run_id: str
    sent: int = 0
    empty: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0
    already: int = 0  # sent (or found empty) by an earlier run for this window
    would_send: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"run {self.run_id}: {self.sent} sent, {self.empty} with nothing new, "
                f"{self.retry} to retry, {self.failed} failed, {self.already} already sent earlier, "
                f"{self.skipped} being sent by another run")  # fmt: skip


@dataclass
class _Digest:
    """One user's digest within a batch; `row` is a detached copy of its ledger row."""

    user: User
    sub: DigestSubscription
    items: list[dict]
    existing: DigestDelivery | None
    row: DigestDelivery | None = None
    inserted: bool = False

    @property
    def status(self) -> str:
        return "claimed" if self.items else "empty"


def _due_user_ids(period: str) -> list[int]:
    """Active users whose (explicit or default weekly) period is this one and not bounced."""
    chosen = db.func.coalesce(DigestSubscription.period, "weekly")
    stmt = (
        select(User.id)
        .outerjoin(DigestSubscription, DigestSubscription.user_id == User.id)
        .where(User.active.is_(True), chosen == period, DigestSubscription.bounced_at.is_(None))
        .order_by(User.id)
    )
    return list(db.session.execute(stmt).scalars())


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


def _summary(items: list[dict]) -> list[dict]:
    return [{"ref": i.get("ref"), "score": i.get("score")} for i in items][:100]


def _insert_new(digests: list[_Digest], values: list[dict[str, Any]]) -> set[int]:
    """Insert the new rows in one statement; the user ids whose row another run got first.

    ON CONFLICT DO NOTHING on the unique (user, period, window_start) key is what lets
    exactly one of several concurrent runs win each row.
    """
    name = db.session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - the project runs on SQLite and PostgreSQL only
        raise RuntimeError(f"digest claims need ON CONFLICT support, not {name}")
    table = DigestDelivery.__table__
    # Parameters given apart from the statement: compiled once, sent as multi-row INSERTs.
    stmt = insert(table).on_conflict_do_nothing().returning(table.c.user_id, table.c.id)
    won = dict(db.session.execute(stmt, values).all())
    lost = set()
    for d, v in zip(digests, values, strict=True):
        if d.user.id in won:
            d.row = DigestDelivery(id=won[d.user.id], **v)
            d.inserted = True
        else:
            lost.add(d.user.id)
    return lost


def _take_over(d: _Digest, values: dict[str, Any], existing: DigestDelivery) -> bool:
    """Compare-and-set on (status, run_id): of several runs only one changes the row."""
    attempts = existing.attempts + (1 if values["status"] == "claimed" else 0)
    won = db.session.execute(
        update(DigestDelivery)
        .where(DigestDelivery.id == existing.id, DigestDelivery.status == existing.status,
               DigestDelivery.run_id == existing.run_id)
        .values(status=values["status"], run_id=values["run_id"], claimed_at=values["claimed_at"],
                item_count=values["item_count"], items=values["items"], attempts=attempts)
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    if won == 1:
        d.row = DigestDelivery(id=existing.id, **{**values, "attempts": attempts})
    return won == 1


def _claim_batch(batch: list[_Digest], period: str, start: datetime, end: datetime,
                 run_id: str, now: datetime, lease: int) -> list[_Digest]:  # fmt: skip
    """Claim every row of the batch in one transaction; the digests this run won.

    A new row is inserted, a retry or a dead claim (lease run out) taken over. The claims
    are on disk before the first message goes out, so no message is ever sent unclaimed;
    a crash after this commit leaves `claimed` rows that `_release` hands back, or (if the
    process died outright) that the next run takes over once the lease ends.
    """

    def values(d: _Digest) -> dict[str, Any]:
        return {"user_id": d.user.id, "period": period, "window_start": start,
                "window_end": end, "status": d.status, "last_error": "", "run_id": run_id,
                "attempts": 1 if d.status == "claimed" else 0, "claimed_at": now,
                "item_count": len(d.items), "items": _summary(d.items)}  # fmt: skip

    fresh = [d for d in batch if d.existing is None]
    lost = _insert_new(fresh, [values(d) for d in fresh]) if fresh else set()
    for d in batch:
        if d.row is not None:
            continue
        existing = d.existing if d.user.id not in lost else _existing(d.user.id, period, start)
        if existing is not None and _can_take_over(existing, now, lease):
            _take_over(d, values(d), existing)
    db.session.commit()
    return [d for d in batch if d.row is not None]


def _release(unsent: list[_Digest], run_id: str) -> None:
    """Give back claims this run made but never handed to SMTP (it is stopping), so the
    next run sends them at once instead of after the lease."""
    try:
        db.session.rollback()
        inserted = [d.row.id for d in unsent if d.inserted and d.row is not None]
        taken = [d.row.id for d in unsent if not d.inserted and d.row is not None]
        mine = (DigestDelivery.run_id == run_id, DigestDelivery.status == "claimed")
        if inserted:
            db.session.execute(
                delete(DigestDelivery).where(DigestDelivery.id.in_(inserted), *mine)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
        if taken:
            db.session.execute(
                update(DigestDelivery).where(DigestDelivery.id.in_(taken), *mine)
                .values(status="retry", attempts=DigestDelivery.attempts - 1)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
        db.session.commit()
    except Exception:  # the lease still hands them to a later run
        log.exception("could not release %d unsent digest claims", len(unsent))


def _since_batch(user_ids: list[int], period: str, start: datetime) -> dict[int, datetime]:
    """From the end of each user's previous digest, so a missed run's matches are not
    skipped; users without one start at the window."""
    rows = db.session.execute(
        select(DigestDelivery.user_id, db.func.max(DigestDelivery.window_end))
        .where(DigestDelivery.user_id.in_(user_ids), DigestDelivery.period == period,
               DigestDelivery.status.in_(("sent", "empty")), DigestDelivery.window_end <= start)
        .group_by(DigestDelivery.user_id)
    )  # fmt: skip
    return {uid: end for uid, end in rows if end is not None}


def _classify(exc: Exception) -> tuple[bool, str]:
    """(permanent, reason) for an SMTP failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return (all(c >= 500 for c in codes), f"recipient refused: {codes}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return (exc.smtp_code >= 500, f"{exc.smtp_code} {exc.smtp_error!r}"[:500])
    if isinstance(exc, ValueError):  # an address that cannot be put in a header
        return (True, f"invalid address: {exc}"[:500])
    return (False, f"{type(exc).__name__}: {exc}"[:500])


class _Connection:
    """One SMTP connection for many messages: opened on first use, dropped on any failure
    (the next message reconnects) and renewed every `per_connection` messages, since some
    servers cap messages per session."""

    def __init__(self, connect: Callable[[], smtplib.SMTP], per_connection: int) -> None:
        self.connect, self.per_connection = connect, per_connection
        self.conn: smtplib.SMTP | None = None
        self.used = 0

    def send(self, msg: Message, to: str) -> None:
        if self.conn is None:
            self.conn, self.used = self.connect(), 0
        mail.send(msg, self.conn, to_addrs=[to])
        self.used += 1
        if self.used >= self.per_connection:
            self.close()

    def close(self) -> None:
        self.conn = _drop(self.conn)


def _batches(ids: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


class _DefaultItems:
    """new_match_items for a whole run: each batch's matches are looked up together
    (`prefetch`, a few queries per batch instead of several per user; institutions' once per
    run), and the operators' platform summary is computed once per window and language
    instead of once per operator.
    """

    def __init__(self) -> None:
        self.summaries: dict[tuple[datetime, datetime, str], list[dict[str, Any]]] = {}
        self.ready: dict[tuple[int, datetime, datetime], list[dict[str, Any]]] = {}
        self.cache: Any = None  # matching.NewMatchCache, made on first use

    def prefetch(self, wanted: list[tuple[User, DigestSubscription, datetime, datetime]]) -> None:
        """Look up the items of these (user, settings, since, until) in one go; the calls
        that follow for the same arguments are answered from memory."""
        from techfin.services import matching

        self.ready.clear()
        if self.cache is None:
            self.cache = matching.NewMatchCache()
        asked = [w for w in wanted if not w[0].is_operator]
        queries = [
            matching.NewMatchQuery(user, since, until, sub.min_score,
                                   tuple(sub.scope_ids) if sub.scope_ids else None)
            for user, sub, since, until in asked
        ]  # fmt: skip
        for (user, _sub, since, until), items in zip(
            asked, matching.new_matches_for_users(queries, self.cache), strict=True
        ):
            self.ready[(user.id, since, until)] = _best_first(items)

    def __call__(
        self, user: User, sub: DigestSubscription, since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        if not user.is_operator:
            found = self.ready.pop((user.id, since, until), None)
            return found if found is not None else new_match_items(user, sub, since, until)
        key = (since, until, sub.locale)
        if key not in self.summaries:
            self.summaries[key] = platform_summary(*key)
        return [dict(i) for i in self.summaries[key]]


def _default_items() -> ItemSource:
    return _DefaultItems()


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
    items_for = items_for or _default_items()
    cfg = current_app.config
    lease = int(cfg.get("DIGEST_LEASE_SECONDS", DEFAULT_LEASE))
    size = int(cfg.get("DIGEST_BATCH_SIZE", DEFAULT_BATCH))
    report = RunReport(run_id=secrets.token_hex(8))
    conn = _Connection(connect or mail.smtp_connection,
                       int(cfg.get("DIGEST_MESSAGES_PER_CONNECTION", 1000)))  # fmt: skip
    composer = DigestComposer() if not dry_run else None
    async_marks = bool(cfg.get("DIGEST_ASYNC_MARKS")) and (
        db.session.get_bind().dialect.name == "postgresql"
    )
    session = db.session()
    # The per-message commits would otherwise expire every user and setting of the batch,
    # and reading them again costs a query each.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        for per in [period] if period else ["daily", "weekly"]:
            start, end = window_for(per, now)
            for ids in _batches(_due_user_ids(per), size):
                batch = _prepare(ids, per, start, end, now, lease, items_for, report, dry_run)
                if dry_run or not batch:
                    continue
                won = _claim_batch(batch, per, start, end, report.run_id, now, lease)
                report.skipped += len(batch) - len(won)
                report.empty += sum(1 for d in won if d.status == "empty")
                to_send = [d for d in won if d.status == "claimed"]
                done = 0
                try:
                    for d in to_send:
                        done += 1  # counted before sending: a crash leaves this one claimed
                        _deliver(d, composer, conn, report, now, async_marks)
                except BaseException:
                    _release(to_send[done:], report.run_id)
                    raise
    finally:
        session.expire_on_commit = expire_on_commit
        conn.close()
    return report


def _prepare(ids: list[int], period: str, start: datetime, end: datetime, now: datetime,
             lease: int, items_for: ItemSource, report: RunReport,
             dry_run: bool) -> list[_Digest]:  # fmt: skip
    """Load a batch's users (with their organisation), settings, ledger rows and windows in
    a few queries, and the items of those whose digest this run may still send: in a few
    more queries for the whole batch when the item source has a `prefetch`."""
    # A fresh identity map per batch keeps memory flat however many subscribers there are.
    db.session.expunge_all()
    # Each user's organisation decides what they may see: loaded with the batch (subclass
    # columns included), not two or three lazy loads per user.
    org = with_polymorphic(Organization, "*")
    users = {u.id: u for u in db.session.execute(
        select(User).where(User.id.in_(ids)).options(
            selectinload(User.memberships).selectinload(Membership.organization.of_type(org)))
    ).scalars()}  # fmt: skip
    subs = {s.user_id: s for s in db.session.execute(
        select(DigestSubscription).where(DigestSubscription.user_id.in_(ids))).scalars()}  # fmt: skip
    rows = {r.user_id: r for r in db.session.execute(
        select(DigestDelivery).where(DigestDelivery.user_id.in_(ids), DigestDelivery.period == period,
                                     DigestDelivery.window_start == start)).scalars()}  # fmt: skip
    since = _since_batch(ids, period, start)
    # (user, settings, since, until) of each digest this run may still send, in id order.
    wanted = []
    for uid in ids:
        user = users.get(uid)
        if user is None:  # deleted since the run began
            continue
        existing = rows.get(uid)
        if not dry_run and existing is not None and not _can_take_over(existing, now, lease):
            if existing.status in ("sent", "empty", "failed"):
                report.already += 1
            else:
                report.skipped += 1
            continue
        wanted.append(
            (user, subs.get(uid) or _default_subscription(user), since.get(uid, start), end)
        )
    prefetch = getattr(items_for, "prefetch", None)
    if prefetch is not None:  # the whole batch's items in a few queries
        prefetch(wanted)
    batch = []
    for user, sub, user_since, until in wanted:
        items = items_for(user, sub, user_since, until)
        if dry_run:
            report.would_send.append((user.email, len(items)))
        else:
            batch.append(_Digest(user, sub, items, rows.get(user.id)))
    return batch


def _deliver(d: _Digest, composer: DigestComposer | None, conn: _Connection,
             report: RunReport, now: datetime, async_marks: bool) -> None:  # fmt: skip
    """Send one claimed digest and record the outcome in its own commit right after the
    server's answer: batching these would widen the crash-between window from one message
    to many."""
    assert d.row is not None and composer is not None
    try:
        msg = composer(d.user, d.sub, d.row, d.items)
        conn.send(msg, mail.header_safe(d.user.email))
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        conn.close()
        permanent, reason = _classify(exc)
        status = "failed" if permanent or d.row.attempts >= MAX_ATTEMPTS else "retry"
        _mark(d.row.id, status=status, last_error=reason)
        if permanent:
            d.sub.bounced_at, d.sub.bounce_reason = now, reason
            db.session.add(d.sub)
        db.session.commit()
        if status == "failed":
            report.failed += 1
        else:
            report.retry += 1
        return
    if async_marks:
        # PostgreSQL only: the commit returns before its WAL is flushed. The server still
        # writes it if this process dies, so the crash-between window stays one message;
        # only a crash of the database server itself can lose the last ~0.6 s of marks
        # (those digests would go out again after the lease). Opt-in: DIGEST_ASYNC_MARKS.
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.execute(_MARK_SENT, {"row_id": d.row.id, "sent_at": utcnow()})
    db.session.commit()
    report.sent += 1


# Built once: constructing the statement cost more than running it.
_MARK_SENT = (
    DigestDelivery.__table__.update()
    .where(DigestDelivery.__table__.c.id == bindparam("row_id"))
    .values(status="sent", sent_at=bindparam("sent_at"), last_error="")
)


def _mark(row_id: int, **values: Any) -> None:
    db.session.execute(
        update(DigestDelivery)
        .where(DigestDelivery.id == row_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


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
