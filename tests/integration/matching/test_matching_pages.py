"""The matching pages: a need's ranked matches, which model is in use, express interest."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import pytest

from techfin.extensions import db


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SMTP_PORT = _free_port()


def test_need_page_ranks_products_with_reasons_and_the_prior(client, users, login, get, ctx, page):
    login("e1@x.cn")
    with ctx():
        need_id = get("need", "N-001").id
    html = page(f"/needs/{need_id}/matches?lang=en")
    assert 'data-model-kind="prior"' in html and "Rule-based prior" in html
    assert "知识产权质押贷" in html and 'id="eligible-matches"' in html
    assert "match-reasons" in html
    # the sample already recorded steps for N-001 / P-001: its stage shows, no button
    assert "Funded" in html and "Express interest" not in html


def test_other_enterprises_and_institutions_cannot_open_a_need_page(client, users, login, get, ctx):
    with ctx():
        n1, n2 = get("need", "N-001").id, get("need", "N-002").id
    login("e2@x.cn")
    assert client.get(f"/needs/{n1}/matches").status_code == 404
    assert client.get(f"/needs/{n2}/matches").status_code == 200  # its own draft
    login("bank@x.cn")
    assert client.get(f"/needs/{n1}/matches").status_code == 403
    login("op@x.cn")
    assert client.get(f"/needs/{n1}/matches").status_code == 200


def test_overview_lists_open_needs_with_counts(client, users, login, page):
    login("e1@x.cn")
    html = page("/matches")
    assert re.search(r'class="match-count">1<', html), html


def _train(runner) -> str:
    result = runner.invoke(args=["matching", "train", "--force"])
    assert result.exit_code == 0, result.output
    return result.output


def test_after_training_the_page_says_learned(app, client, runner, demo, ctx, page):
    from techfin.models import Need, User
    from techfin.services import matching

    assert "saved model" in _train(runner)
    assert len(list(Path(app.config["MODEL_DIR"]).glob("model-*.skops"))) == 1
    with ctx():
        need_id = db.session.scalar(
            db.select(Need.id).where(Need.status == "published").order_by(Need.id).limit(1)
        )
        operator = User(email="op@demo.test", role="operator", name="op", password_hash="x")
        db.session.add(operator)
        db.session.commit()
        session_id = operator.get_id()
        matching._state().store.refresh()
        assert matching.model_info()["kind"] == "learned"
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_id, True
    html = page(f"/needs/{need_id}/matches?lang=en")
    assert 'data-model-kind="learned"' in html and "Learned model v" in html


@pytest.mark.app_config(MATCHING_MODEL_CHECK=0)  # look at the directory on every ranking
def test_a_corrupted_model_falls_back_to_the_prior(app, client, users, login, get, ctx, caplog):
    directory = Path(app.config["MODEL_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model-20990101T000000.000000Z.skops").write_bytes(b"PK\x03\x04 not a model")
    login("e1@x.cn")
    with ctx():
        need_id = get("need", "N-001").id
    with caplog.at_level(logging.ERROR, logger="techfin.services.matching"):
        resp = client.get(f"/needs/{need_id}/matches")
    assert resp.status_code == 200
    assert 'data-model-kind="prior"' in resp.get_data(as_text=True)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "prior" in errors[0].getMessage()


@pytest.mark.app_config(SMTP_HOST="127.0.0.1", SMTP_PORT=SMTP_PORT)
def test_express_interest_records_contacted_and_mails_the_institution(
    app, client, users, login, get, ctx, inbox
):
    from techfin.models import Outcome
    from techfin.services import catalog

    with ctx():
        need = catalog.create_need(get("user", "e1@x.cn"), get("enterprise", "E-001"), {
            "kind": "ip_pledge", "amount_cny": 3_000_000, "term_months": 12,
            "purpose": "研发投入", "status": "published"})  # fmt: skip
        need_id, product_id = need.id, get("product", "P-001").id
    login("e1@x.cn")
    html = client.get(f"/needs/{need_id}/matches").get_data(as_text=True)
    assert "表达意向" in html or "Express interest" in html
    resp = client.post(f"/needs/{need_id}/matches/interest", data={"product_id": product_id})
    assert resp.status_code == 302
    with ctx():
        stages = db.session.execute(
            db.select(Outcome.stage).where(Outcome.need_id == need_id,
                                           Outcome.product_id == product_id)
        ).scalars().all()  # fmt: skip
    assert stages == ["contacted"]
    recipients = sorted(a for m in inbox.messages for a in m.envelope_rcpt)
    assert recipients == ["bank@x.cn", "tech@boc.example.cn"]
    text = inbox.messages[0].get_body(("plain",)).get_content()
    assert "中山市明辉照明科技有限公司" in text and "/dealflow/matches" in text
    # a second click is refused, nothing doubles
    again = client.post(f"/needs/{need_id}/matches/interest", data={"product_id": product_id})
    assert again.status_code == 302 and len(inbox.messages) == 2


def test_a_mail_failure_keeps_the_interest(app, client, users, login, get, ctx):
    """SMTP down (nothing listens on port 1): the interest stands, the enterprise is told it
    went through, and the emails wait on their rows with the failure recorded for a retry."""
    from techfin.models import NotificationEmail, Outcome
    from techfin.services import catalog

    with ctx():
        need = catalog.create_need(get("user", "e1@x.cn"), get("enterprise", "E-001"), {
            "kind": "ip_pledge", "amount_cny": 3_000_000, "status": "published"})  # fmt: skip
        need_id, product_id = need.id, get("product", "P-001").id
    login("e1@x.cn")
    resp = client.post(f"/needs/{need_id}/matches/interest", data={"product_id": product_id},
                       follow_redirects=True)  # fmt: skip
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "alert-warning" not in html and "alert-danger" not in html
    with ctx():
        assert db.session.scalar(
            db.select(db.func.count(Outcome.id)).where(Outcome.need_id == need_id)
        ) == 1  # fmt: skip
        rows = db.session.scalars(db.select(NotificationEmail)).all()
        assert sorted(r.to_email for r in rows) == ["bank@x.cn", "tech@boc.example.cn"]
        assert all(r.status == "pending" and r.attempts == 1 for r in rows)
        assert all("ConnectionRefused" in r.last_error for r in rows)


def test_interest_needs_a_published_need_and_a_visible_product(client, users, login, get, ctx):
    with ctx():
        n2, p2 = get("need", "N-002").id, get("product", "P-002").id
    login("e2@x.cn")  # N-002 is a draft; P-002's institution is unverified
    resp = client.post(f"/needs/{n2}/matches/interest", data={"product_id": p2},
                       follow_redirects=True)  # fmt: skip
    assert resp.status_code == 200
    from techfin.models import Outcome

    with ctx():
        assert db.session.scalar(db.select(db.func.count(Outcome.id))) == 2  # the sample's
