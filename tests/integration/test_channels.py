"""One rule, one place: each action tried with the same illegal input through every channel
that offers it — the page form (test client), the JSON API, import-data (the interchange
service) and a docking event's meeting result — must be refused with the same message and
leave the database as it was.

Data: tests/data/sample.jsonl. E-001 (enterprise e1@c.cn) has N-001, a published IP-pledge
loan need; F-001 (bank@c.cn) owns P-001, an IP-pledge loan product; the pair N-001 × P-001
was contacted on 2026-09-05 and funded on 2026-10-10. Each pipeline case docks a fresh
published need of E-001 with P-001, set to a starting state with pipeline.advance.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from techfin.extensions import db
from techfin.localtime import beijing_today
from techfin.services import pipeline

TODAY = beijing_today()  # the platform's day (techfin/localtime.py), not the server's
YESTERDAY = TODAY - timedelta(days=1)
LOAN_TERMS = {"amount_cny": 2_000_000, "rate": 4.35, "issued": TODAY.isoformat(),
              "matures": (TODAY + timedelta(days=365)).isoformat(), "repayment": "bullet"}  # fmt: skip
ACCOUNTS = {
    "e1@c.cn": ("enterprise", "E-001"),
    "bank@c.cn": ("bank", "F-001"),
    "op@c.cn": ("operator", None),
}


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def world(app, sample_data, make_user) -> dict[str, Any]:
    from techfin.models import Funder, Need, Product, User
    from techfin.services import accounts

    out: dict[str, Any] = {"tokens": {}}
    for email, (role, org) in ACCOUNTS.items():
        make_user(email, role, org)
    with app.app_context():
        for email in ACCOUNTS:
            out["tokens"][email] = accounts.create_api_token(accounts.find_user(email), "t")
            out[email] = db.session.execute(db.select(User.id).filter_by(email=email)).scalar_one()
        out["product_id"] = db.session.execute(
            db.select(Product.id).filter_by(ref="P-001")
        ).scalar_one()
        out["funder_id"] = db.session.execute(
            db.select(Funder.id).filter_by(ref="F-001")
        ).scalar_one()
        out["n001"] = db.session.execute(db.select(Need.id).filter_by(ref="N-001")).scalar_one()
    return out


@pytest.fixture
def login(app, client) -> Callable[[int], None]:
    from techfin.models import User

    def _login(user_id: int) -> None:
        with app.app_context():
            session_id = db.session.get(User, user_id).get_id()
        with client.session_transaction() as session:
            session.clear()
            session["_user_id"] = session_id
            session["_fresh"] = True

    return _login


@pytest.fixture
def api(client, world) -> Callable[..., Any]:
    def _call(method: str, path: str, email: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {world['tokens'][email]}"}
        return client.open(path, method=method, headers=headers, json=body)

    return _call


def _user(user_id: int) -> Any:
    from techfin.models import User

    return db.session.get(User, user_id)


def _text(resp: Any) -> str:
    """Everything a response says, unescaped (a page's flash messages, an API's JSON)."""
    if resp.is_json:
        return json.dumps(resp.get_json(), ensure_ascii=False)
    return html.unescape(resp.get_data(as_text=True))


def _page_side(message: str) -> str:
    """The part of a bilingual "English / 中文" message a zh_CN page shows."""
    return message.rpartition(" / ")[2]


def _outcomes() -> list[tuple]:
    from techfin.models import Outcome

    rows = db.session.execute(db.select(Outcome).order_by(Outcome.id)).scalars()
    return [(o.id, o.need_id, o.product_id, o.stage, o.date, o.amount_cny, o.rate, o.issued,
             o.matures, o.repayment, o.note, o.reopened_at) for o in rows]  # fmt: skip


def _new_need(app: Any, world: dict[str, Any], ref: str) -> int:
    from techfin.models import Enterprise
    from techfin.services import catalog

    with app.app_context():
        e1 = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        need = catalog.create_need(_user(world["e1@c.cn"]), e1, {
            "ref": ref, "kind": "ip_pledge", "amount_cny": 2_000_000, "term_months": 12,
            "purpose": "生产线扩建", "status": "published"})  # fmt: skip
        return need.id


def _set_state(app: Any, world: dict[str, Any], need_id: int, steps: list[dict]) -> None:
    from techfin.models import Need, Product

    with app.app_context():
        op = _user(world["op@c.cn"])
        need, product = db.session.get(Need, need_id), db.session.get(Product, world["product_id"])
        for step in steps:
            pipeline.advance(op, need, product, step)


@pytest.fixture
def meeting(app, world) -> Callable[[], int]:
    """A confirmed meeting of E-001 and F-001 at an event planned for tomorrow, moved to
    under way once the meeting is confirmed."""
    from techfin.models import Enterprise
    from techfin.services import events as svc

    def _make() -> int:
        with app.app_context():
            op, bank, e1 = (_user(world[k]) for k in ("op@c.cn", "bank@c.cn", "e1@c.cn"))
            start = datetime.now().replace(microsecond=0, second=0) + timedelta(days=1)
            event = svc.save_event(op, None, {
                "title": "银企对接会", "kind": "bank_meeting", "starts_at": start,
                "ends_at": start + timedelta(hours=2), "place": "中山", "capacity": 10,
                "slot_minutes": 20, "meeting_cap": 4})  # fmt: skip
            svc.register(bank, event)
            svc.register(e1, event)
            m = svc.request_meeting(e1, event, world["funder_id"])
            svc.answer_meeting(bank, m, True)
            assert db.session.get(Enterprise, m.enterprise_id).ref == "E-001"
            # The event gets under way: results are recorded only once it has started.
            from techfin.models.base import utcnow

            event.starts_at, event.ends_at = (
                utcnow() - timedelta(minutes=30),
                utcnow() + timedelta(hours=1),
            )
            db.session.commit()
            return m.id

    return _make


# ------------------------------------------------------------------ the deal pipeline

# Each case: starting steps, the illegal step (stage, date, terms), the expected message
# and the channels that can express it (the page has no date field; an event records a
# meeting on its day, then declined / approved / funded).
CASES: dict[str, dict[str, Any]] = {
    "funded_after_declined": {
        "start": [
            {"stage": "contacted", "date": YESTERDAY.isoformat()},
            {"stage": "declined", "date": YESTERDAY.isoformat()},
        ],
        "step": {"stage": "funded", **LOAN_TERMS},
        "message": pipeline.MSG_TERMINAL,
        "channels": ("page", "api", "import", "event"),
    },
    "moved_back_after_funded": {
        "start": [
            {"stage": "approved", "date": YESTERDAY.isoformat()},
            {
                "stage": "funded",
                "date": YESTERDAY.isoformat(),
                **LOAN_TERMS,
                "issued": YESTERDAY.isoformat(),
            },
        ],
        "step": {"stage": "meeting"},
        "message": pipeline.MSG_TERMINAL,
        "channels": ("page", "api", "import", "event"),
    },
    "stage_backwards": {
        "start": [{"stage": "approved", "date": YESTERDAY.isoformat()}],
        "step": {"stage": "contacted"},
        "message": pipeline.MSG_ORDER,
        "channels": ("page", "api", "import"),
    },
    "date_backwards": {
        "start": [{"stage": "contacted", "date": YESTERDAY.isoformat()}],
        "step": {"stage": "meeting", "date": "2019-03-01"},
        "message": pipeline.MSG_BACKDATED,
        "channels": ("api", "import"),
    },
    "funded_without_loan_terms": {
        "start": [{"stage": "approved", "date": YESTERDAY.isoformat()}],
        "step": {"stage": "funded", "amount_cny": 2_000_000},
        "message": pipeline.MSG_REQUIRED,
        "channels": ("page", "api", "import", "event"),
    },
    "matures_before_issued": {
        "start": [{"stage": "approved", "date": YESTERDAY.isoformat()}],
        "step": {"stage": "funded", **LOAN_TERMS, "matures": YESTERDAY.isoformat()},
        "message": "Maturity must be after the issue date / 到期日须晚于放款日",
        "channels": ("page", "api", "import"),
    },
    "funded_in_1999": {
        "start": [],
        "step": {"stage": "funded", "date": "1999-06-01", **LOAN_TERMS},
        "message": "Between 2000-01-01 and one year from today",
        "channels": ("api", "import"),
    },
    "rate_out_of_range": {
        "start": [{"stage": "approved", "date": YESTERDAY.isoformat()}],
        "step": {"stage": "funded", **LOAN_TERMS, "rate": 99.0},
        "message": "Annual rate above 0 and at most 36%",
        "channels": ("api", "import"),
    },
    "zero_amount": {
        "start": [{"stage": "approved", "date": YESTERDAY.isoformat()}],
        "step": {"stage": "funded", **LOAN_TERMS, "amount_cny": 0},
        "message": "Must be more than 0 / 金额须大于 0",
        "channels": ("api", "import"),
    },
}
PIPELINE_CASES = [(name, channel) for name, case in CASES.items() for channel in case["channels"]]


def _via_page(client, login, world, need_id: int, step: dict) -> str:
    login(world["bank@c.cn"])
    data = {"need_id": need_id, "product_id": world["product_id"], "stage": step["stage"],
            "back": "/dealflow/matches"}  # fmt: skip
    for key in ("rate", "issued", "matures", "repayment"):
        if key in step:
            data[key] = str(step[key])
    if "amount_cny" in step:
        data["amount_cny"] = str(step["amount_cny"] / 10_000)  # the page takes 万元
    resp = client.post("/dealflow/matches/move", data=data, follow_redirects=True)
    return _text(resp)


def _via_api(api, world, need_ref: str, step: dict) -> str:
    body = {"need_ref": need_ref, "product_ref": "P-001", **step}
    resp = api("POST", "/api/v1/outcomes", "bank@c.cn", body)
    assert resp.status_code in (409, 422), resp.get_json()
    return _text(resp)


def _via_import(app, need_ref: str, step: dict) -> str:
    from techfin.services.interchange import import_records

    record = {"type": "outcome", "need_ref": need_ref, "product_ref": "P-001",
              "date": TODAY.isoformat(), **step}  # fmt: skip
    with app.app_context():
        report = import_records([("line 1", record)])
        assert not report.committed
        return " ".join(str(e) for e in report.errors)


def _via_event(app, world, meeting_id: int, need_id: int, step: dict) -> str:
    from techfin.errors import DomainError
    from techfin.models import EventMeeting
    from techfin.services import events as svc

    result = {"meeting": "follow_up", "declined": "no_interest"}.get(step["stage"], step["stage"])
    with app.app_context():
        try:
            svc.record_result(
                _user(world["bank@c.cn"]), db.session.get(EventMeeting, meeting_id), result,
                need_id=need_id, product_id=world["product_id"],
                amount_cny=step.get("amount_cny"), rate=step.get("rate"),
                matures=date.fromisoformat(step["matures"]) if "matures" in step else None,
                repayment=step.get("repayment"),
            )  # fmt: skip
        except DomainError as err:
            return " ".join(str(m) for msgs in err.fields.values() for m in msgs) or err.message
    pytest.fail("the event result was accepted")


@pytest.mark.parametrize(("case", "channel"), PIPELINE_CASES)
def test_pipeline_refuses_the_same_step_on_every_channel(
    app, client, world, login, api, meeting, case: str, channel: str
) -> None:
    spec = CASES[case]
    ref = f"N-CH-{case}"[:60]
    need_id = _new_need(app, world, ref)
    _set_state(app, world, need_id, spec["start"])
    meeting_id = meeting() if channel == "event" else None
    with app.app_context():
        before = _outcomes()
    step = dict(spec["step"])
    if channel == "page":
        said = _via_page(client, login, world, need_id, step)
    elif channel == "api":
        said = _via_api(api, world, ref, step)
    elif channel == "import":
        said = _via_import(app, ref, step)
    else:
        assert meeting_id is not None
        said = _via_event(app, world, meeting_id, need_id, step)
    # Pages speak the reader's language only (zh_CN here); the API and import say both.
    expected = _page_side(spec["message"]) if channel == "page" else spec["message"]
    assert expected in said, said
    with app.app_context():
        assert _outcomes() == before


def test_the_same_steps_are_accepted_where_they_follow(app, world, api) -> None:
    """The rules refuse only what they should: a forward step passes on the API and import."""
    from techfin.services.interchange import import_records

    need_id = _new_need(app, world, "N-CH-OK")
    _set_state(app, world, need_id, [{"stage": "contacted", "date": YESTERDAY.isoformat()}])
    resp = api("POST", "/api/v1/outcomes", "bank@c.cn",
               {"need_ref": "N-CH-OK", "product_ref": "P-001", "stage": "meeting"})  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    with app.app_context():
        report = import_records([("l1", {"type": "outcome", "need_ref": "N-CH-OK",
                                         "product_ref": "P-001", "stage": "approved",
                                         "date": TODAY.isoformat()}),
                                 ("l2", {"type": "outcome", "need_ref": "N-CH-OK",
                                         "product_ref": "P-001", "stage": "funded",
                                         "date": TODAY.isoformat(), **LOAN_TERMS})])  # fmt: skip
        assert report.committed, [str(e) for e in report.errors]
        # the import checked the file's steps in date order: funded follows approved
        assert [s[3] for s in _outcomes() if s[1] == need_id] == [
            "contacted", "meeting", "approved", "funded"]  # fmt: skip


def test_a_funded_step_keeps_its_terms_on_patch_and_import(app, world, api) -> None:
    from techfin.models import Outcome
    from techfin.services.interchange import import_records

    with app.app_context():
        funded = db.session.execute(
            db.select(Outcome).filter_by(need_id=world["n001"], stage="funded")).scalar_one()  # fmt: skip
        funded_id = funded.id
        before = _outcomes()
    resp = api("PATCH", f"/api/v1/outcomes/{funded_id}", "bank@c.cn", {"rate": None})
    assert resp.status_code == 422 and pipeline.MSG_REQUIRED in _text(resp)
    resp = api("PATCH", f"/api/v1/outcomes/{funded_id}", "bank@c.cn", {"matures": "2026-10-01"})
    assert resp.status_code == 422 and "Maturity must be after the issue date" in _text(resp)
    record = {"type": "outcome", "need_ref": "N-001", "product_ref": "P-001", "stage": "funded",
              "date": "2026-10-10", "amount_cny": 5000000, "issued": "2026-10-10"}  # fmt: skip
    with app.app_context():
        report = import_records([("line 1", record)])
        assert not report.committed and pipeline.MSG_REQUIRED in str(report.errors[0])
        assert _outcomes() == before


# ------------------------------------------------------------------ reopen


def test_only_an_operator_reopens_an_ended_deal_with_a_reason(app, world, api) -> None:
    from techfin.models import AuditEntry, Outcome

    body = {"need_ref": "N-001", "product_ref": "P-001", "reason": "合同撤销，重新审批"}
    assert api("POST", "/api/v1/outcomes/reopen", "bank@c.cn", body).status_code == 403
    assert api("POST", "/api/v1/outcomes/reopen", "e1@c.cn", body).status_code == 403
    resp = api("POST", "/api/v1/outcomes/reopen", "op@c.cn", {**body, "reason": "  "})
    assert resp.status_code == 422 and "Give a reason for reopening" in _text(resp)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Outcome.id)).where(
            Outcome.reopened_at.is_not(None))) == 0  # fmt: skip
    resp = api("POST", "/api/v1/outcomes/reopen", "op@c.cn", body)
    assert resp.status_code == 200, resp.get_json()
    assert (
        resp.get_json()["stage"] == "funded" and resp.get_json()["reopen_reason"] == body["reason"]
    )
    # nothing left to reopen: the deal is open again
    again = api("POST", "/api/v1/outcomes/reopen", "op@c.cn", body)
    assert again.status_code == 409 and "nothing to reopen" in _text(again)
    with app.app_context():
        entry = db.session.execute(
            db.select(AuditEntry).filter_by(action="reopen")).scalar_one()  # fmt: skip
        assert entry.user_id == world["op@c.cn"] and entry.detail["reason"] == body["reason"]
    # The pair continues from "contacted", never before the ended step's date (2026-10-10).
    step = {"need_ref": "N-001", "product_ref": "P-001", "stage": "approved"}
    resp = api("POST", "/api/v1/outcomes", "bank@c.cn", {**step, "date": "2026-10-01"})
    assert resp.status_code == 409 and pipeline.MSG_BACKDATED in _text(resp)
    resp = api("POST", "/api/v1/outcomes", "bank@c.cn", {**step, "date": TODAY.isoformat()})
    assert resp.status_code == 201, resp.get_json()


def test_reopen_on_the_dealflow_page(app, client, world, login) -> None:
    from techfin.models import Outcome

    need_id = _new_need(app, world, "N-CH-RE")
    _set_state(app, world, need_id, [{"stage": "declined", "date": YESTERDAY.isoformat()}])
    data = {"need_id": need_id, "product_id": world["product_id"], "reason": "企业补充了担保",
            "back": "/dealflow/matches"}  # fmt: skip
    login(world["bank@c.cn"])
    assert client.post("/dealflow/matches/reopen", data=data).status_code == 403
    login(world["op@c.cn"])
    resp = client.post("/dealflow/matches/reopen", data={**data, "reason": ""},
                       follow_redirects=True)  # fmt: skip
    with app.app_context():
        declined = db.session.execute(db.select(Outcome).filter_by(need_id=need_id)).scalar_one()
        assert declined.reopened_at is None
    resp = client.post("/dealflow/matches/reopen", data=data, follow_redirects=True)
    assert resp.status_code == 200
    with app.app_context():
        declined = db.session.execute(db.select(Outcome).filter_by(need_id=need_id)).scalar_one()
        assert declined.reopened_at is not None and declined.reopen_reason == "企业补充了担保"
        state = pipeline.current_states([(need_id, world["product_id"])])[
            (need_id, world["product_id"])
        ]
        assert state.stage is None and state.since == YESTERDAY
        assert "contacted" in pipeline.next_stages(state.stage)


# ------------------------------------------------------------------ the meeting-result form


def test_meeting_result_form_lists_only_the_enterprises_visible_needs(
    app, client, world, login, meeting
) -> None:
    from techfin.models import EventMeeting, Need
    from techfin.services import catalog

    meeting_id = meeting()
    with app.app_context():
        from techfin.models import Enterprise

        e1 = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        e1_user = _user(world["e1@c.cn"])
        closed = catalog.create_need(e1_user, e1, {"ref": "N-CH-CLOSED", "kind": "loan",
                                                   "amount_cny": 100_000, "status": "published",
                                                   "purpose": "SECRET-CLOSED-PURPOSE"})  # fmt: skip
        catalog.set_need_status(e1_user, closed, "closed", "已从别处融资")
        draft = catalog.create_need(e1_user, e1, {"ref": "N-CH-DRAFT", "kind": "loan",
                                                  "amount_cny": 100_000,
                                                  "purpose": "SECRET-DRAFT-PURPOSE"})  # fmt: skip
        closed_id, draft_id = closed.id, draft.id
        event_id = db.session.get(EventMeeting, meeting_id).event_id
        # another enterprise's needs never belong to this meeting
        others = db.session.execute(db.select(Need.ref).where(Need.enterprise_id != e1.id))
        other_refs = list(others.scalars())
    login(world["bank@c.cn"])
    url = f"/events/{event_id}/meetings/{meeting_id}/result"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert "N-001" in page
    assert "SECRET-CLOSED-PURPOSE" not in page and "N-CH-CLOSED" not in page
    assert "SECRET-DRAFT-PURPOSE" not in page and "N-CH-DRAFT" not in page
    assert not [ref for ref in other_refs if ref in page]
    with app.app_context():
        before = _outcomes()
    for need_id in (closed_id, draft_id):
        resp = client.post(url, data={"result": "follow_up", "need_id": need_id,
                                      "product_id": world["product_id"]})  # fmt: skip
        assert resp.status_code == 200 and "SECRET" not in resp.get_data(as_text=True)
    with app.app_context():
        assert _outcomes() == before


# ------------------------------------------------------------------ needs, products, institutions


def _need_row(need_id: int) -> tuple:
    from techfin.models import Need

    n = db.session.get(Need, need_id)
    return (n.status, n.amount_cny, n.purpose, n.created, n.closed_reason)


def test_a_published_need_is_never_deleted_or_taken_back(app, client, world, login, api) -> None:
    msg = "Only drafts can be deleted: close it instead / 仅草稿可删除，请改为关闭"
    n001 = world["n001"]
    with app.app_context():
        before = _need_row(n001)
    login(world["e1@c.cn"])
    page = client.post(f"/enterprise/needs/{n001}/delete", follow_redirects=True)
    resp = api("DELETE", f"/api/v1/needs/{n001}", "e1@c.cn")
    assert _page_side(msg) in _text(page) and resp.status_code == 409 and msg in _text(resp)
    resp = api("PATCH", f"/api/v1/needs/{n001}", "e1@c.cn", {"status": "draft"})
    assert resp.status_code == 409 and "只能关闭，不能撤回" in _text(resp)
    from techfin.models import Need
    from techfin.services.interchange import import_records, need_record

    with app.app_context():
        record = need_record(db.session.get(Need, n001))
        report = import_records([("l1", {**record, "status": "draft"})])
        assert not report.committed and "只能关闭，不能撤回" in str(report.errors[0])
        assert _need_row(n001) == before


def test_a_closed_need_is_reopened_alone_and_dates_stay_real(app, world, api) -> None:
    from techfin.models import Need
    from techfin.services.interchange import import_records

    need_id = _new_need(app, world, "N-CH-CL")
    with app.app_context():
        from techfin.services import catalog

        catalog.set_need_status(_user(world["e1@c.cn"]), db.session.get(Need, need_id), "closed",
                                "暂缓")  # fmt: skip
        before = _need_row(need_id)
    resp = api("PATCH", f"/api/v1/needs/{need_id}", "e1@c.cn",
               {"status": "published", "amount_cny": 9_000_000})  # fmt: skip
    assert resp.status_code == 409 and "publish it again first" in _text(resp)
    created = "Between 2000-01-01 and today"
    resp = api("PATCH", f"/api/v1/needs/{need_id}", "e1@c.cn", {"created": "1999-01-01"})
    assert resp.status_code in (409, 422) and created in _text(resp)
    resp = api("POST", "/api/v1/needs", "e1@c.cn",
               {"kind": "loan", "amount_cny": 1_000_000, "created": "1999-01-01"})  # fmt: skip
    assert resp.status_code == 422 and created in _text(resp)
    with app.app_context():
        report = import_records([("l1", {"type": "need", "ref": "N-CH-1999",
                                         "enterprise_ref": "E-001", "kind": "loan",
                                         "amount_cny": 1_000_000, "created": "1999-01-01"})])  # fmt: skip
        assert not report.committed and created in str(report.errors[0])
        assert _need_row(need_id) == before
        assert db.session.execute(db.select(Need).filter_by(ref="N-CH-1999")).first() is None
    # publishing it again alone is allowed (as the page's button)
    resp = api("PATCH", f"/api/v1/needs/{need_id}", "e1@c.cn", {"status": "published"})
    assert resp.status_code == 200 and resp.get_json()["closed_reason"] == ""


@pytest.mark.parametrize("channel", ["page", "api", "import"])
def test_founding_date_in_the_future_is_refused(app, client, world, login, api, channel) -> None:
    from techfin.models import Enterprise
    from techfin.services.interchange import enterprise_record, import_records

    with app.app_context():
        e1 = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        before, e1_id = enterprise_record(e1), e1.id
    if channel == "page":
        login(world["e1@c.cn"])
        form = {"name": before["name"], "industry": before["industry"],
                "region": before["region"], "founded": "2099-01-01"}  # fmt: skip
        resp = client.post("/enterprise/profile", data=form)
        assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)
    elif channel == "api":
        resp = api("PATCH", f"/api/v1/enterprises/{e1_id}", "e1@c.cn", {"founded": "2099-01-01"})
        assert resp.status_code == 422 and "至今天之间" in _text(resp)
    else:
        with app.app_context():
            report = import_records([("l1", {**before, "founded": "2099-01-01"})])
            assert not report.committed and "至今天之间" in str(report.errors[0])
    with app.app_context():
        assert enterprise_record(db.session.get(Enterprise, e1_id)) == before


def test_a_retired_product_stays_retired(app, client, world, login, api) -> None:
    from techfin.models import Product
    from techfin.services import lifecycle

    msg = "A retired product cannot be changed / 已下架的产品不能修改"
    pid = world["product_id"]
    with app.app_context():
        lifecycle.set_product_status(_user(world["bank@c.cn"]), db.session.get(Product, pid),
                                     "retired")  # fmt: skip
    login(world["bank@c.cn"])
    page = client.post(f"/institution/products/{pid}/status", data={"status": "active"},
                       follow_redirects=True)  # fmt: skip
    resp = api("PATCH", f"/api/v1/products/{pid}", "bank@c.cn", {"status": "active"})
    assert _page_side(msg) in _text(page) and resp.status_code == 409 and msg in _text(resp)
    resp = api("PATCH", f"/api/v1/products/{pid}", "bank@c.cn", {"name": "新名字"})
    assert resp.status_code == 409 and msg in _text(resp)
    # …and import, the third channel, refuses the same (an unchanged record still passes).
    from techfin.services.interchange import import_records, product_record

    with app.app_context():
        record = product_record(db.session.get(Product, pid))
        report = import_records([("l1", {**record, "status": "active"})])
        assert not report.committed and msg in str(report.errors[0])
        assert import_records([("l1", record)]).committed
        assert db.session.get(Product, pid).status == "retired"


def test_an_institution_cannot_change_its_kind_or_serve_region_99(app, world, api) -> None:
    from techfin.models import Funder, Product
    from techfin.services.interchange import funder_record, import_records

    fid, pid = world["funder_id"], world["product_id"]
    resp = api("PATCH", f"/api/v1/funders/{fid}", "bank@c.cn", {"kind": "vc"})
    assert resp.status_code == 422 and "仅运营人员可修改机构类型" in _text(resp)
    region = "地区代码无效"
    resp = api("PATCH", f"/api/v1/funders/{fid}", "bank@c.cn", {"regions": ["99"]})
    assert resp.status_code == 422 and region in _text(resp)
    resp = api("PATCH", f"/api/v1/products/{pid}", "bank@c.cn", {"regions": ["99"]})
    assert resp.status_code == 422 and region in _text(resp)
    with app.app_context():
        funder = db.session.get(Funder, fid)
        before = funder_record(funder)
        report = import_records([("l1", {**before, "regions": ["99"]})])
        assert not report.committed and region in str(report.errors[0])
        funder = db.session.get(Funder, fid)
        assert funder_record(funder) == before and funder.kind == "bank"
        assert "99" not in (db.session.get(Product, pid).regions or [])
    # an operator may change the kind
    assert (
        api("PATCH", f"/api/v1/funders/{fid}", "op@c.cn", {"kind": "guarantee"}).status_code == 200
    )


def test_a_reopened_ending_no_longer_counts_anywhere(app, world) -> None:
    """The ended step an operator reopened stays as history, but is no longer a funding: not
    in the enterprise's funded needs, the dashboard, the model's labels or the pool."""
    from techfin.models import Enterprise, Need, Product
    from techfin.services import dashboard, workspace
    from techfin.services.matching.snapshot import load_outcomes

    with app.app_context():
        need = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one()
        product = db.session.execute(db.select(Product).filter_by(ref="P-001")).scalar_one()
        ent = db.session.get(Enterprise, need.enterprise_id)
        month = dashboard.period(date(2026, 10, 1), date(2026, 10, 31))

        def funded() -> tuple:
            labels = [o for o in load_outcomes() if o["stage"] == "funded"
                      and (o["need_id"], o["product_id"]) == (need.id, product.id)]  # fmt: skip
            steps = [s for s in dashboard._steps(month) if s.stage == "funded"]
            return need.id in workspace.funded_need_ids(ent), len(labels), len(steps)

        assert funded() == (True, 1, 1)
        pipeline.reopen(_user(world["op@c.cn"]), need, product, "合同撤销，重新审批")
        assert funded() == (False, 0, 0)
