"""The deal pipeline: every docking step of a (need, product) pair, from every channel
(pages, API, import, events, applications), goes through `advance`, and the pipeline's
rules live here only.

The state machine, by the stage's rank:

    recommended → contacted → meeting → approved → funded | declined | withdrawn

- A pair moves forward only: a step's stage ranks above the current one, and its date is
  not before the current stage's date.
  Skipping ranks is allowed: a loan arranged off the platform is recorded (or imported
  from a bank's books) as `funded` with no history before it.
- `funded`, `declined` and `withdrawn` end the deal. Only an operator reopens it, with a
  reason (`reopen`); the ended step stays as history, and the pair continues from the
  stage before it.
- A `funded` step carries its terms (see `funded_problems`), whatever the channel.

The import (services/interchange.py) cannot call `advance` per record and keep a bulk
import fast, so it applies the same functions (`fold`, `step_problems`, `funded_problems`)
to the stored rows it has already read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.localtime import beijing_today
from techfin.models import Need, Outcome, Product, User
from techfin.models.base import utcnow
from techfin.services import access, audit
from techfin.services.catalog import _FORBIDDEN, _load
from techfin.services.interchange import _outcome_values
from techfin.services.records import OutcomeRecord

__all__ = [
    "RANK",
    "TERMINAL",
    "PairState",
    "advance",
    "current_states",
    "fold",
    "funded_problems",
    "next_stages",
    "reopen",
    "step_problems",
]

RANK: dict[str, int] = {
    "recommended": 0, "contacted": 1, "meeting": 2, "approved": 3,
    "funded": 4, "declined": 4, "withdrawn": 4,
}  # fmt: skip
TERMINAL = frozenset({"funded", "declined", "withdrawn"})
LOAN_KINDS = ("loan", "ip_pledge")
LOAN_TERMS = ("amount_cny", "rate", "issued", "matures", "repayment")
# Other kinds need the amount and the day it took effect (`issued`: a loan's issue date, an
# investment's closing, a guarantee's or policy's start): the attribution and pool reports
# date a deal by it. An equity investment has no interest rate, maturity or repayment
# method, so those are refused on it: with them it would read as a loan in the
# risk-reserve reports. A guarantee or an insurance policy may carry its fee rate and term.
BASIC_TERMS = ("amount_cny", "issued")
NOT_EQUITY = ("rate", "matures", "repayment")

MSG_TERMINAL = ("This deal has ended (funded, declined or withdrawn); only an operator can "
                "reopen it / 该对接已结束（已放款、已拒绝或已撤回），仅运营人员可重新开启")  # fmt: skip
MSG_ORDER = "This step does not follow the current stage / 该阶段不能接在当前阶段之后"
MSG_BACKDATED = "The date is before the current stage's date / 日期早于当前阶段的日期"
MSG_REQUIRED = "Required for a funded step / 放款时必填"
MSG_NOT_EQUITY = "Not for an equity investment / 股权投资不适用"
MSG_DRAFT = "The need is not published / 需求尚未发布"


@dataclass(frozen=True)
class PairState:
    """Where a pair stands: its current stage (None: no step yet) and the date no new step
    may precede (the latest step's, a reopened one included)."""

    stage: str | None = None
    since: date | None = None


def fold(steps: Iterable[tuple[str, date, bool]]) -> PairState:
    """A pair's state from its steps (stage, date, reopened) in (date, id) order."""
    stage, since = None, None
    for step_stage, day, reopened in steps:
        since = day if since is None or day > since else since
        if not reopened:
            stage = step_stage
    return PairState(stage, since)


def next_stages(stage: str | None) -> tuple[str, ...]:
    """The stages a pair at `stage` may move to (the dealflow page offers these)."""
    if stage in TERMINAL:
        return ()
    rank = RANK[stage] if stage is not None else -1
    return tuple(s for s in RANK if RANK[s] > rank)


def step_problems(state: PairState, stage: str, day: date) -> dict[str, list[str]]:
    """Why `stage` on `day` may not follow `state` ({} when it may)."""
    if state.stage in TERMINAL:
        return {"stage": [MSG_TERMINAL]}
    if stage not in next_stages(state.stage):
        return {"stage": [MSG_ORDER]}
    if state.since is not None and day < state.since:
        return {"date": [f"{MSG_BACKDATED} ({state.since.isoformat()})"]}
    return {}


def funded_problems(
    stage: str, kinds: Iterable[str | None], values: dict[str, Any]
) -> dict[str, list[str]]:
    """Missing or out-of-place terms of a funded step. `kinds` are the need's and the
    product's: a loan kind on either side makes it a loan (the reports read it as one)."""
    if stage != "funded":
        return {}
    kind_set = set(kinds)
    loan = bool(kind_set & set(LOAN_KINDS))
    needed = LOAN_TERMS if loan else BASIC_TERMS
    out = {k: [MSG_REQUIRED] for k in needed if values.get(k) in (None, "")}
    if not loan and "equity" in kind_set:
        out.update({k: [MSG_NOT_EQUITY] for k in NOT_EQUITY if values.get(k) not in (None, "")})
    return out


def current_states(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], PairState]:
    """The state of each (need_id, product_id) pair that has steps, in one query."""
    pairs = set(pairs)
    if not pairs:
        return {}
    needs = {n for n, _ in pairs}
    products = {p for _, p in pairs}
    rows = db.session.execute(
        select(Outcome.need_id, Outcome.product_id, Outcome.stage, Outcome.date,
               Outcome.reopened_at)
        .where(Outcome.need_id.in_(needs), Outcome.product_id.in_(products))
        .order_by(Outcome.date, Outcome.id)
    )  # fmt: skip
    steps: dict[tuple[int, int], list[tuple[str, date, bool]]] = {}
    for need_id, product_id, stage, day, reopened_at in rows:
        if (need_id, product_id) in pairs:
            steps.setdefault((need_id, product_id), []).append(
                (stage, day, reopened_at is not None)
            )
    return {pair: fold(s) for pair, s in steps.items()}


def _state(need: Need, product: Product) -> PairState:
    return current_states([(need.id, product.id)]).get((need.id, product.id), PairState())


def advance(
    user: User, need: Need, product: Product, data: dict[str, Any], *, commit: bool = True
) -> Outcome:
    """A docking step. The enterprise may express interest or withdraw; the institution owning
    the product moves the rest of the pipeline; operators may record anything. The step
    must follow the pair's current stage (module docstring); with commit=False the caller
    commits it with its own changes (an event's meeting result)."""
    payload = {"date": beijing_today().isoformat(), **data, "need_ref": need.ref,
               "product_ref": product.ref}  # fmt: skip
    clean = _load(OutcomeRecord, payload)
    stage = clean["stage"]
    allowed = (
        user.is_operator
        or (access.can_edit_need(user, need) and stage in ("contacted", "withdrawn"))
        or (access.can_edit_product(user, product) and access.can_view_need(user, need))
    )
    if not allowed:
        raise Forbidden(_FORBIDDEN)
    if need.status == "draft":
        raise Conflict("draft", {"need_ref": [MSG_DRAFT]})
    # Two steps of one need at once (two tabs, an API client and a page) must not both pass
    # the check below against the same state: the need's row is locked until the commit
    # (PostgreSQL; SQLite writes one transaction at a time anyway).
    db.session.execute(select(Need.id).where(Need.id == need.id).with_for_update())
    problems = step_problems(_state(need, product), stage, clean["date"])
    if problems:
        raise Conflict("transition", problems)
    problems = funded_problems(stage, (need.kind, product.kind), clean)
    if problems:
        raise DomainError("funded", problems)
    key = (need.id, product.id, stage, clean["date"])
    existing = db.session.execute(
        db.select(Outcome).filter_by(need_id=key[0], product_id=key[1], stage=key[2], date=key[3])
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict("exists", {"stage": ["Already recorded for this date / 当日已记录该阶段"]})
    outcome = Outcome(need=need, product=product, stage=stage, date=clean["date"],
                      created_by_id=user.id, **_outcome_values(clean))  # fmt: skip
    db.session.add(outcome)
    db.session.flush()
    audit.record("create", outcome, object_type="outcome", user=user, detail={"stage": stage})
    if commit:
        db.session.commit()
    return outcome


def reopen(user: User, need: Need, product: Product, reason: str) -> Outcome:
    """An operator reopens an ended deal, saying why: the ending step is kept (marked
    reopened, audited with the reason) and the pair continues from the stage before it."""
    if not user.is_operator:
        raise Forbidden("Only an operator may reopen a deal / 仅运营人员可重新开启对接")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise DomainError(
            "reason", {"reason": ["Give a reason for reopening / 请填写重新开启的原因"]}
        )
    if len(reason) > 2000:
        raise DomainError("reason", {"reason": ["At most 2000 characters / 最多 2000 字"]})
    ending = db.session.execute(
        select(Outcome)
        .where(Outcome.need_id == need.id, Outcome.product_id == product.id,
               Outcome.reopened_at.is_(None))
        .order_by(Outcome.date.desc(), Outcome.id.desc())
        .limit(1)
    ).scalar_one_or_none()  # fmt: skip
    if ending is None:
        raise NotFound("no steps", {"need_ref": ["No docking steps for this pair / 该对接无记录"]})
    if _state(need, product).stage not in TERMINAL:
        raise Conflict("open", {"stage": [
            "The deal has not ended: nothing to reopen / 该对接尚未结束，无需重新开启"]})  # fmt: skip
    ending.reopened_at = utcnow()
    ending.reopen_reason = reason
    audit.record("reopen", ending, object_type="outcome", user=user,
                 detail={"stage": ending.stage, "reason": reason})  # fmt: skip
    db.session.commit()
    return ending
