"""The application pages: apply with the consent shown first, every move through the
forms from every role (legal and illegal), pick-up from the dealflow, lists and the
operators' overdue list, refusals in plain words and on the matches page."""

from __future__ import annotations

import json
from datetime import date

import pytest

from techfin.extensions import db
from techfin.models import Application, DataAccess

ROLES = ("e1@x.cn", "e2@x.cn", "bank@x.cn", "vc@x.cn", "op@x.cn")


def _apply_page(client, login, need_id: int, product_id: int):
    login("e1@x.cn")
    page = client.get(f"/applications/apply?product_id={product_id}&need_id={need_id}")
    assert page.status_code == 200
    return page


def _submit(client, login, need_id: int, product_id: int) -> int:
    _apply_page(client, login, need_id, product_id)
    r = client.post("/applications/apply", data={"product_id": product_id, "need_id": need_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def _move(client, app_id: int, **data):
    return client.post(f"/applications/{app_id}/transition", data=data, follow_redirects=True)


def _status(app, app_id: int) -> str:
    with app.app_context():
        return db.session.get(Application, app_id).status


def test_apply_page_shows_what_is_shared_before_submitting(app, client, login, need_id, ids):
    page = _apply_page(client, login, need_id, ids("product", "P-001")).get_data(as_text=True)
    assert 'id="consent-box"' in page and "中国银行中山分行科技支行" in page
    for words in ("企业档案", "融资需求", "财务", "专利"):
        assert words in page, words
    with app.app_context():
        assert db.session.scalar(db.select(Application.id)) is None  # nothing sent yet
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    detail = client.get(f"/applications/{app_id}").get_data(as_text=True)
    assert "已提交" in detail and 'id="consent"' in detail and "撤回授权" in detail


def test_apply_page_shows_the_gaps_and_refuses(app, client, login, need_id, ids):
    from techfin.models import Need

    with app.app_context():
        db.session.get(Need, need_id).amount_cny = 50_000_000
        db.session.commit()
    page = _apply_page(client, login, need_id, ids("product", "P-001")).get_data(as_text=True)
    assert 'id="gaps"' in page and 'id="submit-application"' not in page
    r = client.post("/applications/apply", data={"product_id": ids("product", "P-001"),
                                                 "need_id": need_id})  # fmt: skip
    assert r.status_code == 200 and "alert-danger" in r.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(app, client, login, need_id, ids, role):
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    login(role)
    parties = {"e1@x.cn": 200, "bank@x.cn": 200, "op@x.cn": 200, "e2@x.cn": 404, "vc@x.cn": 403}
    assert client.get(f"/applications/{app_id}").status_code == parties[role]
    listing = client.get("/applications")
    assert listing.status_code == (403 if role == "vc@x.cn" else 200)
    if listing.status_code == 200:
        shown = f'href="/applications/{app_id}"' in listing.get_data(as_text=True)
        assert shown == (role in ("e1@x.cn", "bank@x.cn", "op@x.cn"))
    # the bank's (and the operators') moves are illegal for the enterprise and vice versa
    r = _move(client, app_id, to="accepted")
    if role in ("bank@x.cn", "op@x.cn"):
        assert _status(app, app_id) == "accepted"
    else:
        assert r.status_code in (200, 403, 404) and _status(app, app_id) == "submitted"


def test_every_move_through_the_forms(app, client, login, need_id, ids):
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    login("bank@x.cn")
    page = client.get(f"/applications/{app_id}").get_data(as_text=True)
    assert "受理" in page and 'id="shared-data"' in page and "PT-001" not in page
    assert "201710601862.3" in page  # the non-confidential patent, shared by consent
    assert "CANARY-7731" not in page  # never the confidential one
    with app.app_context():
        assert db.session.scalar(db.select(DataAccess.what)) == f"application {app_id}"
    # illegal from here: approve before accepting
    r = _move(client, app_id, to="approved", amount_cny="300", rate="4", term_months="12")
    assert "当前状态不允许" in r.get_data(as_text=True) and _status(app, app_id) == "submitted"
    _move(client, app_id, to="accepted", note="受理")
    r = _move(client, app_id, to="info_requested", note="")
    assert _status(app, app_id) == "accepted"  # the note is required
    _move(client, app_id, to="info_requested", note="请补充纳税证明")
    assert _status(app, app_id) == "info_requested"
    login("e1@x.cn")
    _move(client, app_id, to="accepted", note="已补充")
    assert _status(app, app_id) == "accepted"
    login("bank@x.cn")
    _move(client, app_id, to="approved", amount_cny="300", rate="3.9", term_months="12")
    assert _status(app, app_id) == "approved"
    r = _move(client, app_id, to="disbursed", amount_cny="300", rate="3.9", issued="2026-12-07",
              matures="2026-12-01", repayment="bullet")  # fmt: skip
    assert _status(app, app_id) == "approved"  # maturity before issue
    _move(client, app_id, to="disbursed", amount_cny="300", rate="3.9", issued="2026-12-07",
          matures="2027-12-06", repayment="bullet")  # fmt: skip
    with app.app_context():
        a = db.session.get(Application, app_id)
        assert (a.status, a.disbursed_amount_cny, a.repayment) == ("disbursed", 3_000_000, "bullet")
    login("e1@x.cn")
    page = client.get(f"/applications/{app_id}").get_data(as_text=True)
    assert 'id="moves"' not in page  # terminal: no move offered
    assert [w in page for w in ("已提交", "已受理", "需补充材料", "已审批", "已放款")] == [True] * 5


def test_decline_in_plain_words_and_on_the_matches_page(app, client, login, need_id, ids):
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    login("bank@x.cn")
    _move(client, app_id, to="declined", note="缺少抵押")
    assert _status(app, app_id) == "submitted"  # a reason code is required
    _move(client, app_id, to="declined", reason_code="insufficient_collateral", note="缺少抵押")
    assert _status(app, app_id) == "declined"
    login("e1@x.cn")
    page = client.get(f"/applications/{app_id}").get_data(as_text=True)
    assert "抵质押物不足" in page and "缺少抵押" in page and "可考虑增加抵质押物" in page
    matches = client.get(f"/needs/{need_id}/matches").get_data(as_text=True)
    assert "此前因以下原因被拒：抵质押物不足" in matches
    assert (
        f"/applications/apply?product_id={ids('product', 'P-001')}&amp;need_id={need_id}" in matches
    )
    product_page = client.get(f"/marketplace/products/{ids('product', 'P-001')}").get_data(
        as_text=True
    )
    assert 'id="apply-button"' in product_page
    login("bank@x.cn")  # the advice is for the enterprise
    assert "可考虑增加抵质押物" not in client.get(f"/applications/{app_id}").get_data(as_text=True)


def test_withdraw_and_revoke_consent_buttons(app, client, login, need_id, ids):
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    login("bank@x.cn")
    client.post(f"/applications/{app_id}/revoke-consent")
    assert _status(app, app_id) == "submitted"
    login("e1@x.cn")
    r = client.post(f"/applications/{app_id}/revoke-consent", follow_redirects=True)
    assert r.status_code == 200 and _status(app, app_id) == "withdrawn"
    assert "已撤回" in r.get_data(as_text=True)
    second = _submit(client, login, need_id, ids("product", "P-001"))
    _move(client, second, to="withdrawn", note="")
    assert _status(app, second) == "withdrawn"


def test_pickup_from_the_dealflow(app, client, login, need_id, ids):
    login("bank@x.cn")
    listing = client.get("/dealflow/needs").get_data(as_text=True)
    assert f'href="/applications/pickup/{need_id}"' in listing
    page = client.get(f"/applications/pickup/{need_id}")
    assert page.status_code == 200 and "知识产权质押贷" in page.get_data(as_text=True)
    r = client.post(f"/applications/pickup/{need_id}", data={"product_id": ids("product", "P-002")})
    assert r.status_code == 200 and "alert-danger" in r.get_data(as_text=True)
    r = client.post(f"/applications/pickup/{need_id}", data={"product_id": ids("product", "P-001")})
    assert r.status_code == 302
    with app.app_context():
        a = db.session.scalar(db.select(Application))
        app_id, origin = a.id, a.origin
    assert origin == "picked_up" and _status(app, app_id) == "picked_up"
    r = client.post(f"/applications/pickup/{need_id}", data={"product_id": ids("product", "P-001")})
    assert r.status_code == 200 and "抢单" in r.get_data(as_text=True)  # taken already
    login("e1@x.cn")
    page = client.get(f"/applications/{app_id}").get_data(as_text=True)
    assert "接受抢单" in page
    _move(client, app_id, to="submitted")
    with app.app_context():
        a = db.session.get(Application, app_id)
        assert a.status == "submitted" and a.first_response_due and a.consent_at


def test_queue_sorted_by_due_date_with_overdue_flagged(app, client, login, need_id, ids, on_day):
    from techfin.models import Enterprise, Need, Product
    from techfin.services import applications

    on_day(date(2026, 11, 2))
    with app.app_context():
        from techfin.services import accounts

        user, product = (
            accounts.find_user("e1@x.cn"),
            db.session.get(Product, ids("product", "P-001")),
        )
        ent = db.session.scalar(db.select(Enterprise).filter_by(ref="E-001"))
        second = Need(ref="N-APP2", enterprise_id=ent.id, kind="ip_pledge", amount_cny=2_000_000,
                      term_months=12, purpose="研发", status="published")  # fmt: skip
        db.session.add(second)
        db.session.commit()
        old = applications.apply(user, db.session.get(Need, need_id), product).id
        on_day(date(2026, 12, 1))
        new = applications.apply(user, second, product).id
    login("bank@x.cn")
    page = client.get("/applications").get_data(as_text=True)
    assert page.index(f'href="/applications/{old}"') < page.index(f'href="/applications/{new}"')
    assert "逾期" in page
    login("op@x.cn")
    ops = client.get("/applications?overdue=1").get_data(as_text=True)
    assert 'id="overdue-list"' in ops and f'href="/applications/{old}"' in ops
    assert (
        f'href="/applications/{new}"'
        not in ops.split('id="overdue-list"')[1].split("</section>")[0]
    )
    system = client.get("/operator/system").get_data(as_text=True)
    assert 'id="overdue-applications"' in system and "查看逾期列表" in system
    assert system.split('id="overdue-applications"')[1].split("</span>")[0].endswith(">1")


def test_english_labels(client, login, need_id, ids):
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    page = client.get(f"/applications/{app_id}?lang=en").get_data(as_text=True)
    assert "Submitted" in page and "Consent" in page


def test_apply_with_documents_through_the_page(app, client, login, need_id, ids, as_user):
    import io

    from techfin.services import documents

    pdf = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type "
           b"/Pages /Kids [] /Count 0 >>\nendobj\n%x\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")  # fmt: skip
    with app.app_context():
        doc = documents.upload(as_user("e1@x.cn"), io.BytesIO(pdf), "营业执照.pdf", "other").id
    page = _apply_page(client, login, need_id, ids("product", "P-001")).get_data(as_text=True)
    assert f'value="{doc}"' in page and "营业执照.pdf" in page
    r = client.post("/applications/apply", data={"product_id": ids("product", "P-001"),
                                                 "need_id": need_id, "document_ids": [doc]})  # fmt: skip
    assert r.status_code == 302
    with app.app_context():
        a = db.session.scalar(db.select(Application))
        assert a.document_ids == [doc] and "documents" in a.consent_scope
        app_id = a.id
    login("bank@x.cn")
    detail = client.get(f"/applications/{app_id}").get_data(as_text=True)
    assert 'id="attached-documents"' in detail and "营业执照.pdf" in detail


def _rows_for_bank(app, ids, count: int, start: int) -> None:
    """`count` applications to F-001's P-001, each from an enterprise of its own, written as
    rows: what is measured is what a list costs per row, not how the rows were made."""
    from datetime import datetime

    from techfin.models import Enterprise, Need

    with app.app_context():
        for i in range(start, start + count):
            ent = Enterprise(ref=f"E-Q{i:03d}", name=f"队列企业{i}", industry="C38",
                             region="442000")  # fmt: skip
            need = Need(ref=f"N-Q{i:03d}", enterprise=ent, kind="ip_pledge",
                        amount_cny=1_000_000, term_months=12, purpose="扩产", status="published")  # fmt: skip
            db.session.add(Application(
                need=need, product_id=ids("product", "P-001"), funder_id=ids("funder", "F-001"),
                enterprise=ent, status="submitted", origin="applied",
                submitted_at=datetime(2026, 11, 2, 2), first_response_due=date(2026, 11, 5),
                decision_due=date(2026, 11, 16), paused_days=0, reason_note="",
                escalated_for="", reminded_for="", document_ids=[], consent_scope=[],
            ))  # fmt: skip
        db.session.commit()


def test_queue_and_api_cost_the_same_statements_for_2_or_14_rows(app, client, login, users, ids):
    """The queue page, the operators' overdue list and GET /api/v1/applications load each
    page's enterprises, products, funders and histories in one query per relation: at
    region scale one query per row made the queue page 27 statements (bench/applications.py)."""
    from sqlalchemy import event

    from techfin.models import User
    from techfin.services import accounts

    with app.app_context():
        token = accounts.create_api_token(db.session.get(User, users["bank"]), "queue")
        engine = db.engine
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    def cost(url: str, **headers: str) -> tuple[int, str]:
        client.get(url, headers=headers)  # the session's user and org are loaded once
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            answer = client.get(url, headers=headers)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert answer.status_code == 200, url
        return len(statements), answer.get_data(as_text=True)

    bearer = {"Authorization": f"Bearer {token}"}
    _rows_for_bank(app, ids, 2, 0)
    login("bank@x.cn")
    queue_2, _ = cost("/applications")
    api_2, _ = cost("/api/v1/applications", **bearer)
    login("op@x.cn")
    ops_2, _ = cost("/applications?overdue=1")
    _rows_for_bank(app, ids, 12, 2)
    login("bank@x.cn")
    queue_14, page = cost("/applications")
    api_14, body = cost("/api/v1/applications", **bearer)
    login("op@x.cn")
    ops_14, ops = cost("/applications?overdue=1")
    assert page.count('class="table-danger"') == 14 and "队列企业13" in page
    assert json.loads(body)["total"] == 14
    assert ops.count("队列企业") == 14
    assert (queue_14, api_14, ops_14) == (queue_2, api_2, ops_2)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_approve_and_disburse_forms_render_in_both_languages(
    app, client, login, need_id, ids, lang
):
    """The rate label holds a percent sign: a bare one in a template string broke the
    Chinese page as soon as approving (then disbursing) was offered."""
    app_id = _submit(client, login, need_id, ids("product", "P-001"))
    login("bank@x.cn")
    assert _move(client, app_id, to="accepted").status_code == 200
    page = client.get(f"/applications/{app_id}?lang={lang}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (
        'value="approved"' in html
        and ("年利率（%）" if lang == "zh_CN" else "Annual rate (%)") in html
    )
    _move(client, app_id, to="approved", amount_cny="300", rate="4.1", term_months="12")
    page = client.get(f"/applications/{app_id}?lang={lang}")
    assert page.status_code == 200 and 'value="disbursed"' in page.get_data(as_text=True)
