"""/api/v1/applications: the contract's shapes and status codes, every transition from
every role, the pipeline steps the transitions write, and pick-up."""

from __future__ import annotations

from datetime import date

import pytest

from techfin.extensions import db
from techfin.models import Application, ApplicationEvent, AuditEntry, Need, Outcome
from techfin.services.applications import clock

ROLES = ("enterprise", "enterprise2", "verified_institution", "unverified_institution", "operator")
DISBURSE = {"to": "disbursed", "amount_cny": 4_000_000, "rate": 3.9, "issued": "2026-12-07",
            "matures": "2027-12-06", "repayment": "bullet"}  # fmt: skip


@pytest.fixture
def need_id(app, tokens, lookup) -> int:
    """A second published need of E-001 (N-001 already has a funded docking in the sample)."""
    with app.app_context():
        need = Need(ref="N-APP", enterprise_id=lookup("enterprise", "E-001"), kind="ip_pledge",
                    amount_cny=3_000_000, term_months=12, purpose="扩产", status="published")  # fmt: skip
        db.session.add(need)
        db.session.commit()
        return need.id


def _apply(api, need_id: int, product_id: int, role: str = "enterprise"):
    return api("POST", "/api/v1/applications", role,
               json={"need_id": need_id, "product_id": product_id, "document_ids": []})  # fmt: skip


def _move(api, app_id: int, role: str, **body):
    return api("POST", f"/api/v1/applications/{app_id}/transitions", role, json=body)


def test_apply_contract(api, app, need_id, lookup):
    product_id = lookup("product", "P-001")
    r = _apply(api, need_id, product_id)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    today = clock.beijing_today()
    assert body["status"] == "submitted"
    assert body["first_response_due"] == clock.add_working_days(today, 3).isoformat()
    assert body["decision_due"] == clock.add_working_days(today, 10).isoformat()
    assert body["consent"]["scope"] == ["profile", "need", "financials", "patents"]
    assert body["consent"]["funder_id"] == lookup("funder", "F-001")
    assert body["allowed"] == ["withdrawn"]
    assert [(h["from"], h["to"]) for h in body["history"]] == [("", "submitted")]
    # the same pair again while open: 409
    again = _apply(api, need_id, product_id)
    assert again.status_code == 409
    with app.app_context():
        step = db.session.scalar(db.select(Outcome).where(Outcome.need_id == need_id,
                                                          Outcome.stage == "contacted"))  # fmt: skip
        assert step is not None and step.product_id == product_id


def test_apply_refusals(api, app, need_id, lookup):
    p1, p2 = lookup("product", "P-001"), lookup("product", "P-002")
    with app.app_context():
        db.session.get(Need, need_id).status = "draft"
        db.session.commit()
    r = _apply(api, need_id, p1)
    assert r.status_code == 422 and "need_id" in r.get_json()["error"]["fields"]
    with app.app_context():
        db.session.get(Need, need_id).status = "published"
        need = db.session.get(Need, need_id)
        need.amount_cny = 50_000_000  # above P-001's maximum
        db.session.commit()
    r = _apply(api, need_id, p1)
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"]["gaps"]  # the gaps, in words
    # an equity product for a pledge need: not eligible (kind) — and P-002's institution is
    # unverified, so it is not even visible: unknown id
    assert _apply(api, need_id, p2).status_code == 422
    with app.app_context():
        from techfin.models import Product

        db.session.get(Need, need_id).amount_cny = 3_000_000
        db.session.get(Product, p1).status = "paused"
        db.session.commit()
    r = _apply(api, need_id, p1)
    assert r.status_code == 422 and "product_id" in r.get_json()["error"]["fields"]
    # only enterprises apply; another enterprise's need is unknown to it
    assert _apply(api, need_id, p1, "verified_institution").status_code == 403
    assert _apply(api, need_id, p1, "enterprise2").status_code == 422
    assert (
        api("POST", "/api/v1/applications", "enterprise", json={"need_id": "x"}).status_code == 422
    )


def test_full_path_to_disbursement_feeds_the_pipeline(api, app, need_id, lookup):
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    # the enterprise cannot accept its own application; the bank can
    r = _move(api, app_id, "enterprise", to="accepted")
    assert r.status_code == 409 and r.get_json()["error"]["fields"]["allowed"] == ["withdrawn"]
    r = _move(api, app_id, "verified_institution", to="approved", amount_cny=1, rate=4,
              term_months=12)  # fmt: skip
    assert r.status_code == 409
    assert r.get_json()["error"]["fields"]["allowed"] == ["accepted", "declined"]
    assert _move(api, app_id, "verified_institution", to="accepted").status_code == 200
    r = _move(api, app_id, "verified_institution", to="info_requested")
    assert r.status_code == 422  # the note saying what is missing is required
    r = _move(api, app_id, "verified_institution", to="info_requested", note="请补充纳税证明")
    assert r.status_code == 200 and r.get_json()["status"] == "info_requested"
    r = _move(api, app_id, "enterprise", to="accepted", note="已上传")
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    r = _move(api, app_id, "verified_institution", to="approved", amount_cny=4_000_000, rate=3.9,
              term_months=12)  # fmt: skip
    assert r.status_code == 200 and r.get_json()["approved_amount_cny"] == 4_000_000
    r = _move(api, app_id, "verified_institution", to="disbursed", amount_cny=4_000_000)
    assert r.status_code == 422  # rate, issued, matures, repayment required
    assert set(r.get_json()["error"]["fields"]) >= {"rate", "issued", "matures", "repayment"}
    r = _move(api, app_id, "verified_institution", **DISBURSE)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "disbursed" and body["allowed"] == []
    assert [h["to"] for h in body["history"]] == [
        "submitted",
        "accepted",
        "info_requested",
        "accepted",
        "approved",
        "disbursed",
    ]
    # terminal: nothing moves it any more, for anyone
    for role in ("enterprise", "verified_institution", "operator"):
        r = _move(api, app_id, role, to="withdrawn")
        assert r.status_code == 409 and r.get_json()["error"]["fields"]["allowed"] == []
    with app.app_context():
        funded = db.session.scalar(db.select(Outcome).where(Outcome.need_id == need_id,
                                                            Outcome.stage == "funded"))  # fmt: skip
        assert (funded.amount_cny, funded.rate, funded.repayment) == (4_000_000, 3.9, "bullet")
        assert (funded.issued, funded.matures) == (date(2026, 12, 7), date(2027, 12, 6))
        stages = set(db.session.scalars(db.select(Outcome.stage).where(Outcome.need_id == need_id)))
        assert stages == {"contacted", "approved", "funded"}
        audited = db.session.scalars(db.select(AuditEntry.detail).where(
            AuditEntry.action == "application", AuditEntry.object_id == app_id)).all()  # fmt: skip
        assert [d["to"] for d in audited] == [h["to"] for h in body["history"]]


def test_decline_needs_a_coded_reason_and_a_note(api, app, need_id, lookup):
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    bank = "verified_institution"
    assert _move(api, app_id, bank, to="declined", note="x").status_code == 422
    assert _move(api, app_id, bank, to="declined", reason_code="credit_record").status_code == 422
    r = _move(api, app_id, bank, to="declined", reason_code="nope", note="x")
    assert r.status_code == 422
    r = _move(api, app_id, bank, to="declined", reason_code="credit_record", note="   ")
    assert r.status_code == 422
    r = _move(api, app_id, bank, to="declined", reason_code="credit_record", note="征信有逾期")
    assert r.status_code == 200
    assert r.get_json()["reason_code"] == "credit_record"
    with app.app_context():
        step = db.session.scalar(db.select(Outcome).where(Outcome.need_id == need_id,
                                                          Outcome.stage == "declined"))  # fmt: skip
        assert step.note.startswith("credit_record")
    assert _move(api, app_id, "enterprise", to="withdrawn").status_code == 409
    # declined is terminal: a new application for the pair may be made
    assert _apply(api, need_id, lookup("product", "P-001")).status_code == 201


@pytest.mark.parametrize("role", ROLES)
def test_visibility_by_role(api, need_id, lookup, role):
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    sees = role in ("enterprise", "verified_institution", "operator")
    r = api.get(f"/api/v1/applications/{app_id}", role)
    assert r.status_code == (200 if sees else 404)
    listed = api.get("/api/v1/applications?status=submitted", role).get_json()
    assert [a["id"] for a in listed["items"]] == ([app_id] if sees else [])
    assert listed["total"] == (1 if sees else 0)
    assert api.get("/api/v1/applications?status=approved", role).get_json()["total"] == 0
    assert api.get("/api/v1/applications?status=bogus", role).status_code == 422
    r = _move(api, app_id, role, to="withdrawn")
    assert r.status_code == {"enterprise": 200, "verified_institution": 409,
                             "operator": 409}.get(role, 404)  # fmt: skip


def test_operator_may_supervise_the_institution_side(api, need_id, lookup):
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    r = _move(api, app_id, "operator", to="accepted")
    assert r.status_code == 200
    assert r.get_json()["allowed"] == ["info_requested", "approved", "declined"]


def test_withdraw_and_revoke_consent(api, app, need_id, lookup):
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    url = f"/api/v1/applications/{app_id}/consent/revoke"
    assert api("POST", url, "verified_institution", json={}).status_code == 403
    assert api("POST", url, "enterprise").status_code == 400  # the body must be JSON
    r = api("POST", url, "enterprise", json={"note": "改投他行"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "withdrawn" and body["consent"]["revoked_at"]
    assert "改投他行" in body["history"][-1]["note"]
    assert api("POST", url, "enterprise", json={}).status_code == 409
    with app.app_context():
        assert db.session.scalar(db.select(Outcome.id).where(Outcome.need_id == need_id,
                                                             Outcome.stage == "withdrawn"))  # fmt: skip
    # applied again the same day: the pipeline's "contacted" of today is not written twice
    second = _apply(api, need_id, lookup("product", "P-001"))
    assert second.status_code == 201
    assert _move(api, second.get_json()["id"], "enterprise", to="withdrawn",
                 note="换产品").status_code == 200  # fmt: skip


def test_pickup_then_enterprise_accepts_or_declines(api, app, need_id, lookup):
    product_id = lookup("product", "P-001")
    url = f"/api/v1/needs/{need_id}/pickup"
    assert api("POST", url, "enterprise", json={"product_id": product_id}).status_code == 403
    assert api("POST", url, "unverified_institution",
               json={"product_id": product_id}).status_code == 403  # fmt: skip
    assert api("POST", url, "verified_institution",
               json={"product_id": lookup("product", "P-002")}).status_code == 422  # fmt: skip
    r = api("POST", url, "verified_institution", json={"product_id": product_id})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "picked_up" and body["origin"] == "picked_up"
    assert body["first_response_due"] is None and body["consent"]["at"] is None
    # nobody else may pick it up now, and the enterprise cannot apply for the same pair
    assert (
        api("POST", url, "verified_institution", json={"product_id": product_id}).status_code == 409
    )
    assert _apply(api, need_id, product_id).status_code == 409
    # the bank cannot accept on the enterprise's behalf
    assert _move(api, body["id"], "verified_institution", to="submitted").status_code == 409
    r = _move(api, body["id"], "enterprise", to="submitted")
    assert r.status_code == 200
    accepted = r.get_json()
    assert accepted["status"] == "submitted" and accepted["first_response_due"]
    assert accepted["consent"]["at"]
    # a second pick-up, declined by the enterprise
    _move(api, body["id"], "enterprise", to="withdrawn")
    again = api("POST", url, "verified_institution", json={"product_id": product_id}).get_json()
    r = _move(api, again["id"], "enterprise", to="withdrawn", note="暂不需要")
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"


def test_pickup_refused_when_someone_applied(api, need_id, lookup):
    _apply(api, need_id, lookup("product", "P-001"))
    r = api("POST", f"/api/v1/needs/{need_id}/pickup", "verified_institution",
            json={"product_id": lookup("product", "P-001")})  # fmt: skip
    assert r.status_code == 409


def test_refusal_reasons_reference(api):
    r = api.get("/api/v1/reference/refusal-reasons", "enterprise")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [i["code"] for i in items] == [
        "insufficient_revenue",
        "insufficient_collateral",
        "ip_value_low",
        "industry_outside_appetite",
        "region",
        "credit_record",
        "incomplete_materials",
        "other",
    ]
    assert all(i["label"]["zh_CN"] and i["label"]["en"] and i["advice"]["zh_CN"] for i in items)
    assert api.get("/api/v1/reference/refusal-reasons").status_code == 401


def test_history_rows_per_transition(api, app, need_id, lookup):
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    _move(api, app_id, "verified_institution", to="accepted", note="受理")
    with app.app_context():
        rows = db.session.scalars(db.select(ApplicationEvent).where(
            ApplicationEvent.application_id == app_id).order_by(ApplicationEvent.id)).all()  # fmt: skip
        assert [(r.from_status, r.to_status, r.note, r.actor) for r in rows] == [
            ("", "submitted", "", "e1@x.cn"),
            ("submitted", "accepted", "受理", "bank@x.cn"),
        ]
        assert db.session.get(Application, app_id).first_response_at is not None


# ------------------------------------------------------------------ every move × every role

BODIES = {
    "submitted": {}, "accepted": {}, "info_requested": {"note": "请补充"},
    "approved": {"amount_cny": 3_000_000, "rate": 4.0, "term_months": 12},
    "disbursed": {k: v for k, v in DISBURSE.items() if k != "to"},
    "declined": {"reason_code": "other", "note": "不符合"}, "withdrawn": {},
}  # fmt: skip
# status → the moves that lead there from a fresh application (by the service)
PATHS = {
    "picked_up": [], "submitted": [], "accepted": ["accepted"],
    "info_requested": ["accepted", "info_requested"], "approved": ["accepted", "approved"],
    "disbursed": ["accepted", "approved", "disbursed"], "declined": ["declined"],
    "withdrawn": ["withdrawn"],
}  # fmt: skip
SIDE = {"enterprise": "enterprise", "verified_institution": "institution",
        "operator": "institution"}  # fmt: skip


def _in_status(app, status: str, n: int) -> int:
    from techfin.models import Enterprise, Product
    from techfin.services import accounts, applications

    with app.app_context():
        ent = db.session.scalar(db.select(Enterprise).filter_by(ref="E-001"))
        need = Need(ref=f"N-M{n}", enterprise_id=ent.id, kind="ip_pledge", amount_cny=3_000_000,
                    term_months=12, purpose="m", status="published")  # fmt: skip
        db.session.add(need)
        db.session.commit()
        product = db.session.scalar(db.select(Product).filter_by(ref="P-001"))
        bank, e1 = accounts.find_user("bank@x.cn"), accounts.find_user("e1@x.cn")
        if status == "picked_up":
            return applications.pick_up(bank, need, product).id
        a = applications.apply(e1, need, product)
        for to in PATHS[status]:
            who = e1 if to == "withdrawn" else bank
            applications.transition(who, a, {"to": to, **BODIES[to]})
        return a.id


def test_every_move_from_every_status_for_every_role(api, app, tokens):
    from techfin.services.applications import MOVES

    n = 0
    for status in PATHS:
        n += 1
        app_id = _in_status(app, status, n)
        for role in ROLES:
            for to, body in BODIES.items():
                move = MOVES.get((status, to))
                legal = move is not None and SIDE.get(role) == move.side
                if legal:
                    continue  # made below on an application of its own
                r = _move(api, app_id, role, to=to, **body)
                party = role in SIDE
                assert r.status_code == (409 if party else 404), (status, role, to, r.get_json())
                if party:
                    allowed = r.get_json()["error"]["fields"]["allowed"]
                    assert allowed == [t for (s, t), m in MOVES.items()
                                       if s == status and m.side == SIDE[role]]  # fmt: skip
        with app.app_context():
            assert db.session.get(Application, app_id).status == status
    for (status, to), move in MOVES.items():
        for role in [r for r, side in SIDE.items() if side == move.side]:
            n += 1
            app_id = _in_status(app, status, n)
            r = _move(api, app_id, role, to=to, **BODIES[to])
            assert r.status_code == 200, (status, to, role, r.get_json())
            assert r.get_json()["status"] == to


# ------------------------------------------------------------------ documents and notices

PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
       b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n%x\ntrailer\n<< /Root 1 0 R >>\n"
       b"%%EOF\n")  # fmt: skip


def _upload(api, role: str = "enterprise") -> int:
    import io

    r = api("POST", "/api/v1/documents", role, content_type="multipart/form-data",
            data={"file": (io.BytesIO(PDF), "纳税证明.pdf"), "kind": "tax_certificate"})  # fmt: skip
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def _download(api, doc: int, role: str) -> int:
    r = api.get(f"/api/v1/documents/{doc}", role)
    r.get_data()  # a streamed file: read it whole, so the response closes it
    r.close()
    return r.status_code


def test_documents_are_granted_on_apply_and_revoked_on_withdrawal(api, need_id, lookup):
    doc = _upload(api)
    assert _download(api, doc, "verified_institution") == 404
    r = api("POST", "/api/v1/applications", "enterprise",
            json={"need_id": need_id, "product_id": lookup("product", "P-001"),
                  "document_ids": [doc]})  # fmt: skip
    assert r.status_code == 201
    body = r.get_json()
    assert body["document_ids"] == [doc] and "documents" in body["consent"]["scope"]
    assert _download(api, doc, "verified_institution") == 200
    assert _move(api, body["id"], "enterprise", to="withdrawn").status_code == 200
    assert _download(api, doc, "verified_institution") == 404


def test_someone_elses_document_is_refused(api, need_id, lookup):
    other = _upload(api, "enterprise2")
    r = api("POST", "/api/v1/applications", "enterprise",
            json={"need_id": need_id, "product_id": lookup("product", "P-001"),
                  "document_ids": [other]})  # fmt: skip
    assert r.status_code == 422 and "document_ids" in r.get_json()["error"]["fields"]
    assert api.get("/api/v1/applications", "enterprise").get_json()["total"] == 0


def _notices(api, role: str) -> list[dict]:
    return api.get("/api/v1/notifications", role).get_json()["items"]


def test_notices_on_every_status_change(api, app, need_id, lookup, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    app_id = _apply(api, need_id, lookup("product", "P-001")).get_json()["id"]
    # the institution hears of the new application (its member and its contact address)
    bank = _notices(api, "verified_institution")
    assert [n["kind"] for n in bank] == ["application_institution_submitted"]
    assert f"#{app_id}" in bank[0]["title"]
    assert _notices(api, "enterprise") == []  # not told of its own move
    rcpts = sorted(r for m in smtp_server.messages for r in m.envelope_rcpt)
    assert rcpts == ["bank@x.cn", "tech@boc.example.cn"]
    _move(api, app_id, "verified_institution", to="accepted")
    _move(api, app_id, "verified_institution", to="info_requested", note="请补充纳税证明。")
    _move(api, app_id, "enterprise", to="accepted", note="已上传。")
    _move(api, app_id, "verified_institution", to="declined", reason_code="credit_record",
          note="征信有逾期")  # fmt: skip
    kinds = [n["kind"] for n in _notices(api, "enterprise")]
    assert sorted(kinds) == ["application_accepted", "application_declined",
                             "application_info_requested"]  # fmt: skip
    asked = next(
        n for n in _notices(api, "enterprise") if n["kind"] == "application_info_requested"
    )
    assert "请补充纳税证明" in asked["body"] and asked["link"].endswith(f"/applications/{app_id}")
    assert asked["title"] == f"申请 #{app_id} 需补充材料"  # in the reader's language
    bank_kinds = [n["kind"] for n in _notices(api, "verified_institution")]
    assert "application_institution_accepted" in bank_kinds  # the enterprise answered
    e1_mail = [m for m in smtp_server.messages if m.envelope_rcpt == ["e1@x.cn"]]
    assert len(e1_mail) == 3


def test_pickup_notifies_the_enterprise(api, need_id, lookup):
    r = api("POST", f"/api/v1/needs/{need_id}/pickup", "verified_institution",
            json={"product_id": lookup("product", "P-001")})  # fmt: skip
    assert r.status_code == 201
    notes = _notices(api, "enterprise")
    assert [n["kind"] for n in notes] == ["application_picked_up"]
    assert "知识产权质押贷" in notes[0]["body"]
