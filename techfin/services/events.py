"""Docking events (对接活动): registration, 1:1 meetings, scheduling, check-in, results and
attribution of financing to the event where a pair met.

Times are naive UTC in the database; operators type Beijing time (UTC+8, no DST).
`schedule()` is a pure function (no Flask, no database) so it can be property-tested.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.localtime import beijing_today, from_beijing, to_beijing
from techfin.models import (
    EVENT_KINDS,
    MEETING_RESULTS,
    DockingEvent,
    Enterprise,
    EventMeeting,
    EventRegistration,
    Funder,
    Need,
    Outcome,
    Product,
    User,
)
from techfin.models.base import utcnow
from techfin.money import Wan
from techfin.services import access, audit, pipeline
from techfin.services.reports import Table

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
ATTRIBUTION_WINDOWS = (30, 90, 180)
PROGRESS_RESULTS = ("follow_up", "term_sheet", "approved", "funded")
# Dating rules (one place for the pages and any other caller):
# - an event cannot be created, or moved, to a day before today (Beijing) or to an end in
#   the past; an event may be entered on its own day (a meeting held this morning);
# - sign-up closes when the event is over (an online week is joined while it runs);
# - check-in opens CHECKIN_OPENS_BEFORE the start and closes at the end: the desk can open
#   early on the morning of the event, never days before;
# - a meeting's result can be recorded once the event has started.
CHECKIN_OPENS_BEFORE = timedelta(hours=3)
# 1:1 meetings happen on the event's days, between its daily start and end times (a
# three-month "online week" is not 6 000 round-the-clock slots), and never more than this:
MAX_SLOTS = 240


# An event's times are typed and shown in Beijing time and stored as UTC.
to_utc = from_beijing
to_local = to_beijing


# ------------------------------------------------------------------ the scheduler (pure)


@dataclass(frozen=True)
class MeetingRequest:
    """A confirmed meeting to place: `party` and `host` may not be in two places at once;
    `host` (the institution) has a cap on its meetings. `slot` is a placement to keep."""

    id: Hashable
    party: Hashable
    host: Hashable
    slot: int | None = None


def schedule(
    requests: Iterable[MeetingRequest],
    slots: int,
    cap: int,
    busy: dict[Hashable, set[int]] | None = None,
) -> dict[Hashable, int]:
    """Slot index for every meeting that fits; the others are left out.

    Kept placements first (when still valid), then the rest in order, each in the earliest
    slot where neither side is busy, while the host is under its cap. Never double-books.
    """
    taken: dict[Hashable, set[int]] = defaultdict(set)
    for who, used in (busy or {}).items():
        taken[who] |= set(used)
    count: Counter[Hashable] = Counter()
    placed: dict[Hashable, int] = {}
    pending = []
    items = list(requests)
    for r in items:
        keep = r.slot
        if (keep is not None and 0 <= keep < slots and keep not in taken[r.party]
                and keep not in taken[r.host] and count[r.host] < cap):  # fmt: skip
            placed[r.id] = keep
            taken[r.party].add(keep)
            taken[r.host].add(keep)
            count[r.host] += 1
        else:
            pending.append(r)
    for r in pending:
        if count[r.host] >= cap:
            continue
        free = next((s for s in range(slots) if s not in taken[r.party] and s not in taken[r.host]),
                    None)  # fmt: skip
        if free is None:
            continue
        placed[r.id] = free
        taken[r.party].add(free)
        taken[r.host].add(free)
        count[r.host] += 1
    return placed


# ------------------------------------------------------------------ events


def _require_operator(user: User) -> None:
    if not user.is_operator:
        raise Forbidden(_("Only operators manage docking events."))


def visible_events(user: User) -> list[DockingEvent]:
    return list(db.session.execute(
        select(DockingEvent).order_by(DockingEvent.starts_at.desc())).scalars())  # fmt: skip


def get_event(event_id: int) -> DockingEvent:
    event = db.session.get(DockingEvent, event_id)
    if event is None:
        raise NotFound(_("No such event."))
    return event


def _daily_window(event: DockingEvent) -> tuple[int, int]:
    """(days, slots per day).

    A one-day event (or one ending before its start time of day) runs start → end. An event
    over several days meets each day between the start's and the end's time of day (Beijing).
    """
    step = max(1, event.slot_minutes)
    start, end = to_local(event.starts_at), to_local(event.ends_at)
    days = (end.date() - start.date()).days + 1
    daily = end - end.replace(hour=start.hour, minute=start.minute, second=start.second)
    daily_minutes = int(daily.total_seconds() // 60)
    if days <= 1 or daily_minutes <= 0:
        minutes = int((event.ends_at - event.starts_at).total_seconds() // 60)
        return 1, max(0, minutes // step)
    return days, daily_minutes // step


def slot_count(event: DockingEvent) -> int:
    """How many meeting slots the event has: its days × the slots of a day, at most MAX_SLOTS."""
    days, per_day = _daily_window(event)
    return min(MAX_SLOTS, days * per_day)


def slot_start(event: DockingEvent, slot: int) -> datetime:
    """The start (UTC) of a slot: slots fill the first day, then the next day's window."""
    days, per_day = _daily_window(event)
    if days <= 1 or per_day <= 0:
        return event.starts_at + timedelta(minutes=slot * event.slot_minutes)
    day, index = divmod(slot, per_day)
    return event.starts_at + timedelta(days=day, minutes=index * event.slot_minutes)


def event_day(event: DockingEvent) -> date:
    return to_local(event.starts_at).date()


def save_event(user: User, event: DockingEvent | None, data: dict[str, Any]) -> DockingEvent:
    """Create or change an event; starts_at / ends_at are Beijing time."""
    _require_operator(user)
    errors: dict[str, list] = {}
    if data.get("kind") not in EVENT_KINDS:
        errors["kind"] = [_("Choose the kind of event.")]
    starts, ends = data.get("starts_at"), data.get("ends_at")
    if not isinstance(starts, datetime) or not isinstance(ends, datetime) or ends <= starts:
        errors["ends_at"] = [_("The end must be after the start.")]
    elif event is None or to_utc(starts) != event.starts_at or to_utc(ends) != event.ends_at:
        # A past date is a typo (or a copy of last year's event): nobody could sign up.
        # (An event that took place keeps its dates when its other details are edited.)
        today = to_local(utcnow()).date()
        if starts.date() < today:
            errors["starts_at"] = [_("The event cannot start before today.")]
        elif to_utc(ends) <= utcnow():
            errors["ends_at"] = [_("The event would be over already.")]
    capacity = data.get("capacity")
    taken = len(event.registrations) if event is not None else 0
    if not isinstance(capacity, int) or capacity < max(1, taken):
        errors["capacity"] = [_("At least %(n)s: that many have registered.", n=max(1, taken))]
    if not (data.get("title") or "").strip():
        errors["title"] = [_("This field is required.")]
    if errors:
        raise DomainError("invalid", errors)
    creating = event is None
    if event is None:
        event = DockingEvent(created_by_id=user.id)
        db.session.add(event)
    event.title = data["title"].strip()[:200]
    event.kind = data["kind"]
    event.starts_at, event.ends_at = to_utc(starts), to_utc(ends)
    event.place = (data.get("place") or "").strip()[:300]
    event.link = (data.get("link") or "").strip()[:500]
    event.capacity = capacity
    event.slot_minutes = int(data.get("slot_minutes") or 20)
    event.meeting_cap = int(data.get("meeting_cap") or 8)
    event.description = (data.get("description") or "").strip()[:5000]
    db.session.flush()
    audit.record("create" if creating else "update", event, object_type="event")
    db.session.commit()
    return event


# ------------------------------------------------------------------ registration


def participant_org(user: User) -> Enterprise | Funder | None:
    """The organisation a user takes part for: an enterprise, or a verified institution."""
    org = user.organization
    if user.is_enterprise and isinstance(org, Enterprise):
        return org
    if access.is_verified_institution(user):
        return org
    return None


def registration(event: DockingEvent, org_id: int | None) -> EventRegistration | None:
    return next((r for r in event.registrations if r.organization_id == org_id), None)


def _new_code(event: DockingEvent) -> str:
    used = {r.code for r in event.registrations}
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(6))
        if code not in used:
            return code


def signup_open(event: DockingEvent) -> bool:
    """Sign-up runs until the event is over (see the dating rules at the top)."""
    return event.ends_at > utcnow()


def register(user: User, event: DockingEvent) -> EventRegistration:
    org = participant_org(user)
    if org is None:
        raise Forbidden(_("Enterprises and verified institutions register for events."))
    if registration(event, org.id) is not None:
        raise Conflict("registered", {"event": [_("You are already registered.")]})
    if event.ends_at <= utcnow():
        raise Conflict("past", {"event": [_("The event is over.")]})
    if len(event.registrations) >= event.capacity:
        raise Conflict("full", {"event": [_("The event is full.")]})
    reg = EventRegistration(event=event, organization_id=org.id, user_id=user.id,
                            code=_new_code(event))  # fmt: skip
    db.session.add(reg)
    db.session.flush()
    audit.record("register", event, object_type="event", user=user, detail={"org": org.ref})
    db.session.commit()
    return reg


def unregister(user: User, event: DockingEvent) -> None:
    org = participant_org(user)
    reg = registration(event, org.id if org else None)
    if reg is None:
        raise NotFound(_("You are not registered."))
    for m in _org_meetings(event, org.id):
        if m.result is None:
            m.status, m.slot = "cancelled", None
    audit.record("unregister", event, object_type="event", user=user, detail={"org": org.ref})
    db.session.delete(reg)
    db.session.commit()


def checkin_open(event: DockingEvent, now: datetime | None = None) -> bool:
    """Check-in runs from CHECKIN_OPENS_BEFORE the start until the end of the event."""
    now = now or utcnow()
    return event.starts_at - CHECKIN_OPENS_BEFORE <= now < event.ends_at


def check_in(user: User, event: DockingEvent, code: str) -> EventRegistration:
    _require_operator(user)
    if not checkin_open(event):
        opens = to_local(event.starts_at - CHECKIN_OPENS_BEFORE).strftime("%Y-%m-%d %H:%M")
        message = (_("Check-in opens at %(time)s (Beijing time).", time=opens)
                   if utcnow() < event.starts_at else _("The event is over."))  # fmt: skip
        raise Conflict("checkin closed", {"code": [message]})
    wanted = (code or "").strip().upper().replace(" ", "")
    reg = next((r for r in event.registrations if r.code == wanted), None)
    if reg is None:
        raise DomainError("code", {"code": [_("No participant of this event has this code.")]})
    if reg.checked_in_at is None:
        reg.checked_in_at = utcnow()
        audit.record("check_in", event, object_type="event", user=user,
                     detail={"org": reg.organization.ref})  # fmt: skip
        db.session.commit()
    return reg


# ------------------------------------------------------------------ meetings


def _org_meetings(event: DockingEvent, org_id: int) -> list[EventMeeting]:
    return [m for m in event.meetings if org_id in (m.enterprise_id, m.funder_id)]


def my_meetings(user: User, event: DockingEvent) -> list[EventMeeting]:
    if user.is_operator:
        return list(event.meetings)
    org = participant_org(user)
    return _org_meetings(event, org.id) if org else []


def counterparts(user: User, event: DockingEvent) -> list[Any]:
    """Registered organisations of the other side, best suggestions first (persisted matches
    when there are any, then institutions with a product of a kind the enterprise asks for)."""
    org = participant_org(user)
    if org is None or registration(event, org.id) is None:
        return []
    others = [r.organization for r in event.registrations if r.organization_id != org.id]
    want = Funder if isinstance(org, Enterprise) else Enterprise
    others = [o for o in others if isinstance(o, want)]
    scores = _suggestion_scores(org, others)
    return sorted(others, key=lambda o: (-scores.get(o.id, 0.0), o.name))


def _suggestion_scores(org: Any, others: list[Any]) -> dict[int, float]:
    """Best match score per counterpart (1 + score for persisted matches, 0.5 for a kind fit)."""
    if not others:
        return {}
    enterprise_side = isinstance(org, Enterprise)
    ids = [o.id for o in others]
    scores: dict[int, float] = {}
    try:
        from techfin.models import Match
    except ImportError:  # pragma: no cover - before the matching feature
        Match = None  # noqa: N806
    if Match is not None:
        query = select(Match.funder_id, Need.enterprise_id, Match.score).join(
            Need, Match.need_id == Need.id).where(Match.active.is_(True))  # fmt: skip
        if enterprise_side:
            query = query.where(Need.enterprise_id == org.id, Match.funder_id.in_(ids))
        else:
            query = query.where(Match.funder_id == org.id, Need.enterprise_id.in_(ids))
        for funder_id, enterprise_id, score in db.session.execute(query):
            key = funder_id if enterprise_side else enterprise_id
            scores[key] = max(scores.get(key, 0.0), 1.0 + float(score or 0))
    kinds = db.session.execute(
        select(Need.enterprise_id, Need.kind).where(Need.status == "published")).all()  # fmt: skip
    offered = db.session.execute(
        select(Product.funder_id, Product.kind).where(Product.status == "active")).all()  # fmt: skip
    asked = defaultdict(set)
    for enterprise_id, kind in kinds:
        asked[enterprise_id].add(kind)
    sells = defaultdict(set)
    for funder_id, kind in offered:
        sells[funder_id].add(kind)
    for other in others:
        ent_id, fund_id = (org.id, other.id) if enterprise_side else (other.id, org.id)
        if asked[ent_id] & sells[fund_id]:
            scores.setdefault(other.id, 0.5)
    return scores


def request_meeting(
    user: User,
    event: DockingEvent,
    counterpart_id: int | None,
    need_id: int | None = None,
    product_id: int | None = None,
    note: str = "",
) -> EventMeeting:
    org = participant_org(user)
    if org is None or registration(event, org.id) is None:
        raise Forbidden(_("Register for the event first."))
    other = next((o for o in counterparts(user, event) if o.id == counterpart_id), None)
    if other is None:
        raise DomainError("counterpart", {"counterpart_id": [
            _("Choose a registered participant of the other side.")]})  # fmt: skip
    enterprise, funder = (org, other) if isinstance(org, Enterprise) else (other, org)
    if any(m.enterprise_id == enterprise.id and m.funder_id == funder.id for m in event.meetings):
        raise Conflict("exists", {"counterpart_id": [_("A meeting with them is already on file.")]})
    need, product = _pair(enterprise, funder, need_id, product_id)
    meeting = EventMeeting(event=event, enterprise_id=enterprise.id, funder_id=funder.id,
                           need_id=need.id if need else None,
                           product_id=product.id if product else None,
                           requested_by_org_id=org.id, note=(note or "").strip()[:1000])  # fmt: skip
    db.session.add(meeting)
    db.session.flush()
    audit.record("meeting_request", meeting, object_type="meeting", user=user)
    db.session.commit()
    return meeting


def _pair(
    enterprise: Enterprise, funder: Funder, need_id: int | None, product_id: int | None
) -> tuple[Need | None, Product | None]:
    need = db.session.get(Need, need_id) if need_id else None
    product = db.session.get(Product, product_id) if product_id else None
    errors: dict[str, list] = {}
    if need_id and (need is None or need.enterprise_id != enterprise.id or need.status == "draft"):
        errors["need_id"] = [_("Choose a published need of the enterprise.")]
    if product_id and (product is None or product.funder_id != funder.id):
        errors["product_id"] = [_("Choose a product of the institution.")]
    if errors:
        raise DomainError("invalid", errors)
    return need, product


def get_meeting(user: User, event: DockingEvent, meeting_id: int) -> EventMeeting:
    meeting = db.session.get(EventMeeting, meeting_id)
    if meeting is None or meeting.event_id != event.id:
        raise NotFound(_("No such meeting."))
    org = participant_org(user)
    if not user.is_operator and (org is None or org.id not in (meeting.enterprise_id,
                                                                 meeting.funder_id)):  # fmt: skip
        raise NotFound(_("No such meeting."))
    return meeting


def answer_meeting(user: User, meeting: EventMeeting, confirm: bool) -> EventMeeting:
    """The counterpart (not the requester) or an operator confirms or declines."""
    org = participant_org(user)
    is_counterpart = org is not None and org.id in (meeting.enterprise_id, meeting.funder_id) \
        and org.id != meeting.requested_by_org_id  # fmt: skip
    if not (user.is_operator or is_counterpart):
        raise Forbidden(_("The other side or an operator confirms a meeting."))
    if meeting.status != "requested":
        raise Conflict("answered", {"status": [_("This request was already answered.")]})
    meeting.status = "confirmed" if confirm else "declined"
    audit.record("meeting_" + meeting.status, meeting, object_type="meeting", user=user)
    db.session.commit()
    return meeting


def run_schedule(user: User, event: DockingEvent) -> tuple[int, int]:
    """Place every confirmed meeting in a slot; (scheduled, left out)."""
    _require_operator(user)
    confirmed = [m for m in event.meetings if m.status == "confirmed"]
    placed = schedule(
        [MeetingRequest(m.id, ("e", m.enterprise_id), ("f", m.funder_id), m.slot)
         for m in confirmed],
        slot_count(event), event.meeting_cap,
    )  # fmt: skip
    for m in confirmed:
        m.slot = placed.get(m.id)
    audit.record("schedule", event, object_type="event", user=user,
                 detail={"scheduled": len(placed), "left_out": len(confirmed) - len(placed)})  # fmt: skip
    db.session.commit()
    return len(placed), len(confirmed) - len(placed)


# ------------------------------------------------------------------ results → outcomes


def result_choices(user: User, meeting: EventMeeting) -> tuple[list[Need], list[Product]]:
    """The needs and products a meeting's result may name: the meeting's enterprise's needs
    the user may see (an institution: published ones only; never a draft), and the meeting's
    institution's products that are not retired."""
    needs = db.session.execute(
        select(Need)
        .where(Need.enterprise_id == meeting.enterprise_id, Need.status != "draft",
               access.need_filter(user))
        .order_by(Need.created_at.desc(), Need.id.desc())
    ).scalars()  # fmt: skip
    products = db.session.execute(
        select(Product)
        .where(Product.funder_id == meeting.funder_id, Product.status != "retired")
        .order_by(Product.name, Product.id)
    ).scalars()  # fmt: skip
    return list(needs), list(products)


def _result_pair(
    user: User, meeting: EventMeeting, need_id: int | None, product_id: int | None
) -> tuple[Need, Product]:
    """The need and product of a result, among result_choices only."""
    needs, products = result_choices(user, meeting)
    need = next((n for n in needs if n.id == need_id), None)
    product = next((p for p in products if p.id == product_id), None)
    errors: dict[str, list] = {}
    if need is None:
        errors["need_id"] = [_("Choose a published need of the enterprise.")]
    if product is None:
        errors["product_id"] = [_("Choose a product of the institution.")]
    if errors:
        raise DomainError("invalid", errors)
    assert need is not None and product is not None
    return need, product


def _step(user: User, need: Need, product: Product, stage: str, day: date, **values: Any) -> None:
    """One docking step through the pipeline (its rules: no step after an ended deal, none
    backwards), committed with the meeting's result."""
    data = {"stage": stage, "date": day.isoformat()}
    for key, value in values.items():
        if value not in (None, ""):
            data[key] = value.isoformat() if isinstance(value, date) else value
    try:
        pipeline.advance(user, need, product, data, commit=False)
    except DomainError as err:
        # The form has no stage or date field: the pipeline's refusal is the result's.
        fields: dict[str, list] = {}
        for key, messages in err.fields.items():
            target = "result" if key in ("stage", "date", "need_ref", "product_ref") else key
            fields.setdefault(target, []).extend(messages)
        err.fields = fields
        raise


def result_open(meeting: EventMeeting) -> bool:
    """A meeting has a result once its event has started."""
    return meeting.event.starts_at <= utcnow()


def can_record_result(user: User, meeting: EventMeeting) -> bool:
    return user.is_operator or (
        access.is_verified_institution(user) and access.org_id(user) == meeting.funder_id
    )


def record_result(
    user: User,
    meeting: EventMeeting,
    result: str,
    *,
    need_id: int | None,
    product_id: int | None,
    amount_cny: int | None = None,
    note: str = "",
    rate: float | None = None,
    matures: date | None = None,
    repayment: str | None = None,
) -> EventMeeting:
    """The result of a held meeting, written to the docking outcomes of the pair through the
    pipeline: a `meeting` step on the event day, then declined / approved / funded as the
    result says (a funded loan with its rate, maturity and repayment). A result the
    pipeline refuses (the deal has ended, or a step would go backwards) changes nothing."""
    if not can_record_result(user, meeting):
        raise Forbidden(_("The institution or an operator records the result."))
    errors: dict[str, list] = {}
    if not result_open(meeting):
        raise Conflict("not yet", {"result": [_("Results can be recorded once the event has started.")]})  # fmt: skip
    if result not in MEETING_RESULTS:
        errors["result"] = [_("Choose a result.")]
    if meeting.status != "confirmed":
        errors["result"] = [_("Only a confirmed meeting has a result.")]
    if result in ("approved", "funded") and not amount_cny:
        errors["amount_cny"] = [_("Enter the amount approved or funded.")]
    if not need_id:
        errors["need_id"] = [_("Choose the need discussed.")]
    if not product_id:
        errors["product_id"] = [_("Choose the product discussed.")]
    if errors:
        raise DomainError("invalid", errors)
    need, product = _result_pair(user, meeting, need_id, product_id)
    day = event_day(meeting.event)
    label = f"{meeting.event.title}: {result}"
    today = max(beijing_today(), day)
    state = pipeline.current_states([(need.id, product.id)]).get((need.id, product.id))
    past_meeting = (
        state is not None
        and state.stage not in pipeline.TERMINAL
        and pipeline.RANK.get(state.stage or "", -1) >= pipeline.RANK["meeting"]
    )
    try:
        if not past_meeting:  # a pair that met or was approved before stays where it is
            _step(user, need, product, "meeting", day, note=label)
        if result == "no_interest":
            _step(user, need, product, "declined", today, note=note or label)
        elif result == "approved":
            _step(user, need, product, "approved", today, amount_cny=amount_cny, note=note)
        elif result == "funded":
            _step(user, need, product, "funded", today, amount_cny=amount_cny, issued=today,
                  rate=rate, matures=matures, repayment=repayment, note=note)  # fmt: skip
    except DomainError:
        db.session.rollback()  # no half-recorded result: the meeting step goes too
        raise
    meeting.need_id, meeting.product_id = need.id, product.id
    meeting.result = result
    meeting.amount_cny = amount_cny if result in ("approved", "funded") else None
    meeting.note = (note or meeting.note or "").strip()[:2000]
    audit.record("meeting_result", meeting, object_type="meeting", user=user,
                 detail={"result": result, "amount_cny": amount_cny})  # fmt: skip
    db.session.commit()
    return meeting


# ------------------------------------------------------------------ agenda and calendar


def _uid(kind: str, row: EventMeeting | DockingEvent) -> str:
    """A UID no other deployment or rebuilt database produces: the row's id and creation
    time under a namespace drawn from this deployment's secret (RFC 5545 §3.8.4.7)."""
    secret = str(current_app.config.get("SECRET_KEY", ""))
    deployment = uuid.uuid5(
        uuid.NAMESPACE_URL, "techfin:" + hashlib.sha256(secret.encode()).hexdigest()
    )
    created = row.created_at.isoformat() if row.created_at else ""
    return f"{uuid.uuid5(deployment, f'{kind}/{row.id}/{created}')}"


def _sequence(row: EventMeeting | DockingEvent) -> int:
    """SEQUENCE grows with every change (seconds from creation to the last update), so a
    calendar replaces its copy when a time moves or a meeting is cancelled."""
    if not row.created_at or not row.updated_at:
        return 0
    return max(0, int((row.updated_at - row.created_at).total_seconds()))


def ics(user: User, event: DockingEvent) -> bytes:
    """The event and the user's meetings as an iCalendar file (RFC 5545, by `icalendar`).
    Meetings cancelled or declined stay in the file with STATUS:CANCELLED, so a calendar
    that imported them removes them."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//techfin//docking events//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    now = utcnow().replace(tzinfo=UTC)

    def vevent(row: EventMeeting | DockingEvent, uid: str, start: datetime, end: datetime,
               summary: str, where: str, text: str, status: str) -> None:  # fmt: skip
        item = icalendar.Event()
        item.add("uid", uid)
        item.add("dtstamp", now)
        item.add("dtstart", start.replace(tzinfo=UTC))
        item.add("dtend", end.replace(tzinfo=UTC))
        item.add("sequence", _sequence(row))
        item.add("status", status)
        item.add("summary", summary)
        if where:
            item.add("location", where)
        if text:
            item.add("description", text)
        cal.add_component(item)

    where = event.place or event.link
    vevent(event, _uid("event", event), event.starts_at, event.ends_at, event.title, where,
           event.description + (f"\n{event.link}" if event.link and event.place else ""),
           "CONFIRMED")  # fmt: skip
    for m in my_meetings(user, event):
        cancelled = m.status in ("cancelled", "declined")
        if not cancelled and (m.slot is None or m.status != "confirmed"):
            continue
        start = slot_start(event, m.slot) if m.slot is not None else event.starts_at
        summary = f"1:1 {m.enterprise.name} × {m.funder.name}"
        vevent(m, _uid("meeting", m), start, start + timedelta(minutes=event.slot_minutes),
               summary, where, event.title, "CANCELLED" if cancelled else "CONFIRMED")  # fmt: skip
    return cal.to_ical()


# ------------------------------------------------------------------ attribution


def _met(meeting: EventMeeting, checked_in: set[int]) -> bool:
    if meeting.status != "confirmed":
        return False
    both_there = meeting.enterprise_id in checked_in and meeting.funder_id in checked_in
    return meeting.result is not None or both_there


def _raw_label(group: str, value: Any) -> str:
    return "—" if value in (None, "") else str(value)


def attribution(
    user: User, event: DockingEvent, label: Any = _raw_label
) -> tuple[dict[str, int], Table]:
    """Pairs met at the event, pairs that progressed, and amounts funded between the pair's
    enterprise and institution within 30 / 90 / 180 days of the event."""
    _require_operator(user)
    checked_in = {r.organization_id for r in event.registrations if r.checked_in_at}
    met = [m for m in event.meetings if _met(m, checked_in)]
    day = event_day(event)
    horizon = day + timedelta(days=max(ATTRIBUTION_WINDOWS))
    rows, totals = [], {"met": len(met), "progressed": 0} | {f"d{n}": 0 for n in
                                                             ATTRIBUTION_WINDOWS}  # fmt: skip
    for m in met:
        later = db.session.execute(
            select(Outcome.stage, Outcome.date, Outcome.amount_cny)
            .join(Need, Outcome.need_id == Need.id).join(Product, Outcome.product_id == Product.id)
            .where(Need.enterprise_id == m.enterprise_id, Product.funder_id == m.funder_id,
                   Outcome.date >= day, Outcome.date <= horizon, Outcome.reopened_at.is_(None))
        ).all()  # fmt: skip
        progressed = m.result in PROGRESS_RESULTS or any(
            s in ("approved", "funded") for s, _d, _a in later
        )
        amounts = [sum(int(a or 0) for s, d, a in later
                       if s == "funded" and d <= day + timedelta(days=n))
                   for n in ATTRIBUTION_WINDOWS]  # fmt: skip
        totals["progressed"] += int(progressed)
        for n, amount in zip(ATTRIBUTION_WINDOWS, amounts, strict=True):
            totals[f"d{n}"] += amount
        rows.append([m.enterprise.name, m.funder.name, label("meeting_result", m.result),
                     _("Yes") if progressed else _("No"), *map(Wan, amounts)])  # fmt: skip
    columns = [str(_("Enterprise")), str(_("Institution")), str(_("Result at the event")),
               str(_("Progressed")), *[str(_("Funded within %(n)s days (万元)", n=n))
                                       for n in ATTRIBUTION_WINDOWS]]  # fmt: skip
    table = Table(f"event_{event.id}_attribution", str(_("Attribution: %(title)s",
                                                         title=event.title)), columns, rows,
                  [str(_("Total")), "", "", totals["progressed"],
                   *[Wan(totals[f"d{n}"]) for n in ATTRIBUTION_WINDOWS]])  # fmt: skip
    return totals, table


# ------------------------------------------------------------------ the event's lists

EVENT_LISTS = ("participants", "meetings")


def can_download_lists(user: User, event: DockingEvent) -> bool:
    """Operators and the event's organiser (who created it) download its lists."""
    return user.is_operator or (event.created_by_id is not None and event.created_by_id == user.id)


def event_list(user: User, event: DockingEvent, which: str, label: Any = _raw_label) -> Table:
    """The participants (sign-in sheet) or the meeting schedule of an event, as a report
    table (CSV / print-ready XLSX). Costs what the event holds, never the catalogue."""
    if not can_download_lists(user, event):
        raise Forbidden(_("Only operators and the event's organiser download its lists."))
    if which not in EVENT_LISTS:
        raise NotFound(_("No such list."))
    when = f"{to_local(event.starts_at):%Y-%m-%d %H:%M} – {to_local(event.ends_at):%Y-%m-%d %H:%M}"
    preamble = [f"{event.title} · {when}" + (f" · {event.place}" if event.place else "")]
    if which == "participants":
        regs = sorted(event.registrations, key=lambda r: (r.organization.type, r.organization.name))
        rows = [
            [n, r.organization.name, label("object_type", r.organization.type), r.code,
             to_local(r.created_at) if r.created_at else None,
             to_local(r.checked_in_at) if r.checked_in_at else None, ""]
            for n, r in enumerate(regs, start=1)
        ]  # fmt: skip
        columns = [str(_("No.")), str(_("Organisation")), str(_("Type")),
                   str(_("Check-in code")), str(_("Registered at")), str(_("Checked in at")),
                   str(_("Signature"))]  # fmt: skip
        title = str(_("Participants: %(title)s", title=event.title))
        return Table(f"event_{event.id}_participants", title, columns, rows, preamble=preamble)
    meetings = sorted(event.meetings, key=lambda m: (m.slot is None, m.slot or 0, m.id))
    rows = [
        [n, to_local(slot_start(event, m.slot)) if m.slot is not None else None,
         m.enterprise.name, m.funder.name, m.need.ref if m.need else "",
         m.product.name if m.product else "", label("meeting_status", m.status),
         label("meeting_result", m.result) if m.result else "",
         Wan(m.amount_cny) if m.amount_cny else None, m.note]
        for n, m in enumerate(meetings, start=1)
    ]  # fmt: skip
    columns = [str(_("No.")), str(_("Time")), str(_("Enterprise")), str(_("Institution")),
               str(_("Financing need")), str(_("Product")), str(_("Status")), str(_("Result")),
               str(_("Amount (万元)")), str(_("Note"))]  # fmt: skip
    title = str(_("Meeting schedule: %(title)s", title=event.title))
    return Table(f"event_{event.id}_meetings", title, columns, rows, preamble=preamble)
