"""The operator console: verify and reject institutions, suspend accounts, the audit log."""

from __future__ import annotations

import re
from datetime import datetime

from techfin.extensions import db
from techfin.models import AuditEntry, Funder, User


def _rows(html: str, table_id: str) -> str:
    return html.split(f'id="{table_id}"')[1].split("</table>")[0] if table_id in html else ""


def test_verify_a_pending_institution(app, client, users, login, ids, body):
    login("op@x.cn")
    pending = _rows(body(client.get("/operator/institutions")), "institution-list")
    assert 'data-ref="F-002"' in pending and 'data-ref="F-001"' not in pending
    vc = ids("funder", "F-002")
    assert client.post(f"/operator/institutions/{vc}/verify").status_code == 302
    with app.app_context():
        assert db.session.get(Funder, vc).status == "verified"
    login("vc@x.cn")
    assert client.get("/dealflow/needs").status_code == 200


def test_reject_needs_a_reason_that_the_applicant_sees(app, client, users, login, ids, body):
    login("op@x.cn")
    vc = ids("funder", "F-002")
    resp = client.post(f"/operator/institutions/{vc}/reject", data={"reason": ""})
    assert resp.status_code == 200 and "is-invalid" in body(resp)
    with app.app_context():
        assert db.session.get(Funder, vc).status == "pending"
    reason = "营业执照与机构名称不符 <b>请重新提交</b>"
    assert (
        client.post(f"/operator/institutions/{vc}/reject", data={"reason": reason}).status_code
        == 302
    )
    with app.app_context():
        funder = db.session.get(Funder, vc)
        assert funder.status == "rejected" and funder.status_reason == reason
    login("vc@x.cn")
    text = body(client.get("/dashboard"))
    notice = text.split('id="unverified-notice"')[1].split("</div>")[0]
    assert "营业执照与机构名称不符 &lt;b&gt;请重新提交&lt;/b&gt;" in notice


def test_verification_can_be_revoked(app, client, users, login, ids):
    login("op@x.cn")
    bank = ids("funder", "F-001")
    client.post(f"/operator/institutions/{bank}/reject", data={"reason": "牌照已注销"})
    login("bank@x.cn")
    assert client.get("/dealflow/needs").status_code == 403


def test_suspend_and_reactivate(app, client, users, login, ids, body):
    target = ids("user", "e2@x.cn")
    login("op@x.cn")
    resp = client.post(f"/operator/users/{target}/suspend", data={"next": "/operator/users?q=e2"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/operator/users?q=e2")
    with app.app_context():
        assert not db.session.get(User, target).active
    refused = client.post("/auth/login", data={"email": "e2@x.cn", "password": "Lychee-Harbour-47"})
    assert refused.status_code == 200
    login("op@x.cn")
    assert "Suspended" in body(client.get("/operator/users?q=e2@x.cn&lang=en"))
    client.post(f"/operator/users/{target}/reactivate", data={"next": "//evil.example"})
    with app.app_context():
        assert db.session.get(User, target).active
    # The operator cannot suspend itself.
    me = ids("user", "op@x.cn")
    client.post(f"/operator/users/{me}/suspend")
    with app.app_context():
        assert db.session.get(User, me).active


def test_a_suspended_session_is_logged_out(app, client, users, login, ids):
    login("e2@x.cn")
    operator = app.test_client()
    with operator.session_transaction() as session, app.app_context():
        op = db.session.execute(db.select(User).filter_by(email="op@x.cn")).scalar_one()
        session["_user_id"] = op.get_id()
    operator.post(f"/operator/users/{ids('user', 'e2@x.cn')}/suspend")
    resp = client.get("/dashboard")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_user_list_filters(client, users, login, body):
    login("op@x.cn")
    text = _rows(body(client.get("/operator/users?role=bank")), "user-list")
    assert 'data-email="bank@x.cn"' in text and 'data-email="e1@x.cn"' not in text
    text = _rows(body(client.get("/operator/users?q=E1%40X")), "user-list")
    assert re.findall(r'data-email="([^"]+)"', text) == ["e1@x.cn"]
    text = _rows(body(client.get("/operator/users?q=%25")), "user-list")
    assert text == ""  # "%" is a literal, not a wildcard


def _audit(app, action: str, actor: str, object_type: str, at: datetime) -> None:
    with app.app_context():
        db.session.add(AuditEntry(at=at, actor=actor, action=action, object_type=object_type,
                                  object_ref="X-1"))  # fmt: skip
        db.session.commit()


def test_audit_log_filters_and_pages(app, client, users, login, body):
    for day in range(1, 31):
        _audit(app, "update", "alice@x.cn", "need", datetime(2026, 3, day, 12))
    _audit(app, "verify", "op@x.cn", "funder", datetime(2026, 4, 2, 8))
    _audit(app, "delete", "bob@x.cn", "patent", datetime(2026, 4, 3, 23, 59))
    login("op@x.cn")

    def refs(query: str) -> list[str]:
        return re.findall(
            r"<tr>\s*<td", _rows(body(client.get(f"/operator/audit?{query}")), "audit-list")
        )

    assert len(refs("action=update")) == 30
    assert len(refs("action=verify")) == 1
    assert len(refs("actor=BOB")) == 1
    assert len(refs("object_type=patent")) == 1
    assert len(refs("date_from=2026-03-10&date_to=2026-03-12&action=update")) == 3
    assert len(refs("date_from=2026-04-03&date_to=2026-04-03")) == 1  # the whole (UTC) day
    assert 'rel="next"' not in body(client.get("/operator/audit?action=update"))
    # 50 per page, newest first: 60 newer entries push alice's to page 2
    for day in range(60):
        _audit(app, "update", "carol@x.cn", "need", datetime(2026, 5, 1, 0, day))
    page1 = body(client.get("/operator/audit?action=update"))
    page2 = body(client.get("/operator/audit?action=update&page=2"))
    assert "carol@x.cn" in page1 and "alice@x.cn" in page2 and "alice@x.cn" not in page1
    assert 'href="/operator/audit?action=update&amp;page=2"' in page1


def test_bad_audit_filters_are_reported_not_fatal(client, users, login, body, invalid):
    login("op@x.cn")
    for query, field in [
        ("date_from=2026-13-45", "date_from"),
        ("date_to=yesterday", "date_to"),
        ("date_from=2026-05-02&date_to=2026-05-01", "date_to"),
        ("action=%3Cscript%3E", "action"),
        ("object_type=nonsense", "object_type"),
        ("actor=%00bad", "actor"),
    ]:
        resp = client.get(f"/operator/audit?{query}")
        assert resp.status_code == 200 and invalid(body(resp), field), query
    assert client.get("/operator/audit?date_to=9999-12-31&page=-1").status_code == 200


def test_reference_data_page_says_it_is_read_only(client, users, login, body):
    login("op@x.cn")
    text = body(client.get("/operator/reference?lang=en"))
    assert 'id="reference-readonly"' in text and "command line" in text
    assert "<form" not in text.split("<main")[1]
