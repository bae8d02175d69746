"""Digests: the right content, exactly once, through a real SMTP server."""

from __future__ import annotations

import re
import smtplib
import threading
from datetime import datetime, timedelta

import pytest

from techfin.extensions import db
from techfin.models import User
from techfin.models.digests import DigestDelivery, DigestSubscription
from techfin.services import digests

NOW = datetime(2026, 11, 26, 3, 0)  # a Thursday, 11:00 in Beijing


def _items(user, sub, since, until):  # noqa: ANN001, ANN202 - a fixed source of matches
    return [{"ref": f"P-{user.id}", "title": f"产品 {user.id}", "score": 0.8,
             "reasons": ["同在中山市", "金额在产品区间内"], "path": "/x", "change": "新产品"}]  # fmt: skip


@pytest.fixture
def subscribers(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    ids = [make_user(f"u{i}@x.cn", "bank") for i in range(5)]
    return ids


@pytest.fixture
def operators(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    return [make_user(f"op{i}@x.cn", "operator") for i in range(2)]


def _send(app, **kw):
    with app.app_context():
        return digests.send_due("weekly", now=kw.pop("now", NOW), items_for=_items, **kw)


def test_weekly_by_default_and_sent_once(app, subscribers, smtp_server):
    report = _send(app)
    assert report.sent == 5 and len(smtp_server.messages) == 5
    again = _send(app)  # a rerun: already sent, not "taken by another run"
    assert again.sent == 0 and (again.already, again.skipped) == (5, 0)
    assert "5 already sent earlier, 0 being sent by another run" in again.summary()
    assert len(smtp_server.messages) == 5
    msg = smtp_server.messages[0]
    assert (
        msg["List-Unsubscribe"].startswith("<http")
        and "/digests/unsubscribe/" in msg["List-Unsubscribe"]
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(("plain",)).get_content()
    assert "同在中山市" in text and "80/100" in text
    # Issue #14 item 13: the window in Beijing days (not "2026-11-15 16:00 – …" in UTC),
    # the operators' own subject, a List-Id, and ids of the sending domain.
    assert "2026-11-16 – 2026-11-22" in text and "16:00" not in text
    assert msg["List-Id"] == "techfin weekly digest <weekly.digest.techfin.local>"
    assert msg["Message-ID"].endswith("@techfin.local>")


@pytest.mark.app_config(MAIL_FROM="科技金融 <digest@fin.example.cn>")
def test_ids_follow_the_sending_domain(app, subscribers, smtp_server):
    assert _send(app).sent == 5
    msg = smtp_server.messages[0]
    assert msg["Message-ID"].endswith("@fin.example.cn>")
    assert msg["List-Id"].endswith("<weekly.digest.fin.example.cn>")


def test_a_quiet_week_sends_the_operators_no_summary(app, operators, smtp_server):
    with app.app_context():
        report = digests.send_due("weekly", now=NOW)  # the real platform summary: nothing new
    assert report.sent == 0 and report.empty == 2 and smtp_server.messages == []


def test_operators_summary_has_its_own_subject_and_no_dangling_dots(
    app, sample_data, operators, smtp_server
):
    later = digests.utcnow() + timedelta(days=7)  # the sample's needs fall in last week
    with app.app_context():
        report = digests.send_due("weekly", now=later)
    assert report.sent == 2
    msg = smtp_server.messages[0]
    start, end = digests.window_for("weekly", later)
    from techfin.i18n import window_text

    assert str(msg["Subject"]) == f"techfin 平台周报（{window_text(start, end)}）"
    text = msg.get_body(("plain",)).get_content()
    assert "平台动态" in text and "新增融资需求" in text
    assert not re.search(r"·\s*$", text, re.M)  # no "·" left dangling at a line's end


def test_window_is_the_last_complete_week():
    start, end = digests.window_for("weekly", NOW)
    # Monday 2026-11-23 00:00 Beijing = 2026-11-22 16:00 UTC
    assert end == datetime(2026, 11, 22, 16, 0) and start == end - timedelta(days=7)
    d_start, d_end = digests.window_for("daily", NOW)
    assert d_end == datetime(2026, 11, 25, 16, 0) and d_start == d_end - timedelta(days=1)


@pytest.mark.parametrize("batch", [2, 200])
def test_two_concurrent_runs_deliver_exactly_one_each(app, subscribers, smtp_server, batch):
    app.config["DIGEST_BATCH_SIZE"] = batch
    results = []

    def run() -> None:
        with app.app_context():
            results.append(digests.send_due("weekly", now=NOW, items_for=_items))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in results) == 5
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(f"u{i}@x.cn" for i in range(5))


def test_a_crash_midway_then_a_rerun_delivers_the_rest_once(app, subscribers, smtp_server):
    app.config["DIGEST_LEASE_SECONDS"] = 60
    sent = {"n": 0}

    def crashing_connect():
        conn = smtplib.SMTP("127.0.0.1", smtp_server.port)
        real = conn.send_message

        def send_message(msg, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
            if sent["n"] == 2:
                raise KeyboardInterrupt("worker killed")  # dies with the third digest claimed
            sent["n"] += 1
            return real(msg, *a, **kw)

        conn.send_message = send_message
        return conn

    with pytest.raises(KeyboardInterrupt):
        _send(app, connect=crashing_connect)
    assert len(smtp_server.messages) == 2
    # Straight away: the interrupted claim is still leased, the untouched ones go out.
    assert _send(app).sent == 2
    # After the lease the interrupted one is taken over; nobody gets a second copy.
    assert _send(app, now=NOW + timedelta(seconds=61)).sent == 1
    recipients = [m["To"] for m in smtp_server.messages]
    assert sorted(recipients) == sorted(set(recipients)) and len(recipients) == 5


def test_temporary_failure_is_retried_then_delivered_once(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("only@x.cn", "operator")
    smtp_server.script = ["451 4.3.0 try again later"]
    first = _send(app)
    assert first.retry == 1 and smtp_server.messages == []
    with app.app_context():
        row = db.session.execute(db.select(DigestDelivery)).scalar_one()
        assert row.status == "retry" and "451" in row.last_error
    assert _send(app).sent == 1
    assert len(smtp_server.messages) == 1
    assert _send(app).sent == 0 and len(smtp_server.messages) == 1


def test_permanent_failure_stops_sending_until_settings_are_saved(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("gone@x.cn", "operator")
    smtp_server.script = ["550 5.1.1 no such mailbox"]
    assert _send(app).failed == 1
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="gone@x.cn")).scalar_one()
        assert digests.subscription(user).bounced_at is not None
    later = _send(app, now=NOW + timedelta(days=7))
    assert later.sent == 0 and smtp_server.messages == []
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="gone@x.cn")).scalar_one()
        digests.update_subscription(user, {"period": "weekly"})
    assert _send(app, now=NOW + timedelta(days=7)).sent == 1


def test_smtp_down_marks_nothing_sent_and_the_next_run_delivers(app, make_user, smtp_server):
    make_user("a@x.cn", "operator")
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there
    assert _send(app).retry == 1
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count())
                .select_from(DigestDelivery)
                .where(DigestDelivery.status == "sent")
            )
            == 0
        )
    app.config.update(SMTP_PORT=smtp_server.port)
    assert _send(app).sent == 1 and len(smtp_server.messages) == 1


def test_nothing_new_sends_nothing(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("a@x.cn", "operator")
    with app.app_context():
        report = digests.send_due("weekly", now=NOW, items_for=lambda *a: [])
    assert report.empty == 1 and smtp_server.messages == []


def test_unsubscribe_link_works_without_login_and_rejects_tampering(app, make_user, client):
    make_user("a@x.cn", "operator")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@x.cn")).scalar_one()
        token = digests.unsubscribe_token(user)
    assert client.get(f"/digests/unsubscribe/{token}").status_code == 200
    bad = client.post(f"/digests/unsubscribe/{token[:-2]}xx")
    assert bad.status_code == 400
    assert client.post(f"/digests/unsubscribe/{token}").status_code == 200
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@x.cn")).scalar_one()
        assert digests.subscription(user).period == "off"


def test_unsubscribe_post_needs_no_csrf_token(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user("a@x.cn", "operator")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@x.cn")).scalar_one()
        token = digests.unsubscribe_token(user)
    assert app.test_client().post(f"/digests/unsubscribe/{token}").status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "明辉\r\nBcc: victim@evil.example\r\nX-Injected: 1",
        "Evil Co: victim@evil.example, other@evil.example;\r\nBcc: victim@evil.example",
        '明辉科技 "CEO" <victim@evil.example>, 第二: other@evil.example;',
    ],
)
def test_crlf_in_a_name_does_not_add_a_header(app, make_user, smtp_server, name):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("a@x.cn", "operator")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@x.cn")).scalar_one()
        user.name = name
        db.session.commit()
    _send(app)
    msg = smtp_server.messages[0]  # parsed with the default policy, as a mail client would
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert msg.envelope_rcpt == ["a@x.cn"]
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@x.cn"]
    assert msg["To"].addresses[0].display_name == " ".join(name.replace("\r\n", " ").split())


def test_an_address_that_cannot_be_a_header_fails_alone(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("a@x.cn", "operator")
    make_user("b@x.cn", "operator")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="a@x.cn")).scalar_one()
        user.email = "a@x.cn>, victim@evil.example"  # bypassing the forms' validation
        db.session.commit()
    report = _send(app)
    assert (report.failed, report.sent) == (1, 1)
    assert [m.envelope_rcpt for m in smtp_server.messages] == [["b@x.cn"]]


def test_both_languages(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("zh@x.cn", "bank")
    make_user("en@x.cn", "bank")
    with app.app_context():
        db.session.execute(db.update(User).filter_by(email="zh@x.cn").values(locale="zh_CN"))
        db.session.execute(db.update(User).filter_by(email="en@x.cn").values(locale="en"))
        db.session.commit()
    assert _send(app).sent == 2
    by_rcpt = {m.envelope_rcpt[0]: m for m in smtp_server.messages}
    zh, en = by_rcpt["zh@x.cn"], by_rcpt["en@x.cn"]
    assert zh["Subject"] == "techfin 为您找到 1 个新匹配"
    assert en["Subject"] == "1 new match for you on techfin"
    assert "您好" in zh.get_body(("plain",)).get_content()
    assert "您好" in zh.get_body(("html",)).get_content()
    assert "Hello" in en.get_body(("plain",)).get_content()
    assert "score 80/100" in en.get_body(("html",)).get_content()
    for msg in (zh, en):
        html = msg.get_body(("html",)).get_content()
        assert "/digests/settings" in html and "/digests/unsubscribe/" in html


def test_a_long_digest_shows_the_best_20_and_links_to_the_rest(app, make_user, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("en@x.cn", "bank")
    with app.app_context():
        db.session.execute(db.update(User).filter_by(email="en@x.cn").values(locale="en"))
        db.session.commit()

    def many(user, sub, since, until):  # noqa: ANN001, ANN202
        return [{**_items(user, sub, since, until)[0], "ref": f"P-{k}", "title": f"Loan {k:02d}"}
                for k in range(25)]  # fmt: skip

    with app.app_context():
        assert digests.send_due("weekly", now=NOW, items_for=many).sent == 1
    (msg,) = smtp_server.messages
    assert msg["Subject"] == "25 new matches for you on techfin"
    text, html = (msg.get_body((k,)).get_content() for k in ("plain", "html"))
    for body in (text, html):
        assert "Loan 19" in body and "Loan 20" not in body
    assert "…and 5 more: http" in text and text.split("…and 5 more: ")[1].split()[0].endswith(
        "/matches"
    )
    assert '/matches">…and 5 more</a>' in html


@pytest.mark.parametrize("async_marks", [False, True])  # True has an effect on PostgreSQL
def test_batches_claim_and_send_each_digest_once(app, subscribers, smtp_server, async_marks):
    app.config.update(DIGEST_BATCH_SIZE=2, DIGEST_ASYNC_MARKS=async_marks)
    assert _send(app).sent == 5
    assert _send(app).already == 5
    assert sorted(m.envelope_rcpt[0] for m in smtp_server.messages) == [
        f"u{i}@x.cn" for i in range(5)
    ]
    with app.app_context():
        statuses = db.session.execute(db.select(DigestDelivery.status)).scalars().all()
    assert statuses == ["sent"] * 5


def test_claims_of_a_run_that_died_go_out_once_after_the_lease(app, subscribers, smtp_server):
    """A run killed outright after committing its batch's claims cannot give them back:
    the rows stay `claimed`, and only after the lease another run sends them, once."""
    app.config["DIGEST_LEASE_SECONDS"] = 60
    start, end = digests.window_for("weekly", NOW)
    with app.app_context():
        for uid in subscribers:
            db.session.add(DigestDelivery(user_id=uid, period="weekly", window_start=start,
                                          window_end=end, status="claimed", attempts=1,
                                          run_id="dead", claimed_at=NOW, items=[]))  # fmt: skip
        db.session.commit()
    early = _send(app, now=NOW + timedelta(seconds=30))
    assert (early.sent, early.skipped) == (0, 5) and smtp_server.messages == []
    late = _send(app, now=NOW + timedelta(seconds=61))
    assert late.sent == 5 and len(smtp_server.messages) == 5
    assert _send(app, now=NOW + timedelta(seconds=200)).sent == 0
    with app.app_context():
        rows = db.session.execute(db.select(DigestDelivery)).scalars().all()
        assert {(r.status, r.attempts) for r in rows} == {("sent", 2)}


def test_one_connection_for_many_messages_and_a_new_one_after_a_failure(
    app, subscribers, smtp_server
):
    opened = []

    def connect():
        opened.append(smtplib.SMTP("127.0.0.1", smtp_server.port))
        return opened[-1]

    assert _send(app, connect=connect).sent == 5 and len(opened) == 1
    smtp_server.script = ["250 OK", "451 4.3.0 try again later"]  # the 2nd message fails
    opened.clear()
    report = _send(app, now=NOW + timedelta(days=7), connect=connect)
    assert (report.sent, report.retry, len(opened)) == (4, 1, 2)
    opened.clear()
    app.config["DIGEST_MESSAGES_PER_CONNECTION"] = 2
    assert _send(app, now=NOW + timedelta(days=14), connect=connect).sent == 5
    assert len(opened) == 3


def test_dry_run_claims_nothing(app, subscribers, smtp_server):
    report = _send(app, dry_run=True)
    assert sorted(report.would_send) == [(f"u{i}@x.cn", 1) for i in range(5)]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(DigestDelivery)) == 0
    assert smtp_server.messages == []


def test_settings_page_and_validation(app, make_user, client, auth):
    make_user("a@x.cn", "enterprise")
    auth.login("a@x.cn")
    assert client.get("/digests/settings").status_code == 200
    resp = client.post(
        "/digests/settings", data={"period": "daily", "min_score": "170", "locale": "en"}
    )
    assert resp.status_code == 200  # re-rendered with the field message
    # The page reads scores 0–100 like the matching pages and the digests (issue #14); the
    # subscription keeps the 0–1 scale of the scores.
    resp = client.post(
        "/digests/settings", data={"period": "daily", "min_score": "50", "locale": "en"}
    )
    assert resp.status_code == 302
    with app.app_context():
        sub = db.session.execute(db.select(DigestSubscription)).scalar_one()
        assert (sub.period, sub.min_score, sub.locale) == ("daily", 0.5, "en")
    html = client.get("/digests/settings").get_data(as_text=True)
    assert re.search(r'name="min_score"[^>]*value="50"|value="50"[^>]*name="min_score"', html)


def test_settings_page_narrows_the_digest_to_chosen_needs(
    app, sample_data, make_user, client, auth
):
    from techfin.models import Need

    make_user("e1@x.cn", "enterprise", "E-001")
    make_user("op@x.cn", "operator")
    with app.app_context():
        own = db.session.execute(db.select(Need.id).filter_by(ref="N-001")).scalar_one()
        other = db.session.execute(db.select(Need.id).filter_by(ref="N-002")).scalar_one()
    auth.login("e1@x.cn")
    html = client.get("/digests/settings").get_data(as_text=True)
    assert f'value="{own}"' in html and "N-001" in html and "N-002" not in html
    form = {"period": "weekly", "min_score": "0", "locale": "zh_CN"}
    resp = client.post("/digests/settings", data={**form, "scope_ids": [str(other)]})
    assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)
    assert (
        client.post("/digests/settings", data={**form, "scope_ids": [str(own)]}).status_code == 302
    )
    with app.app_context():
        assert db.session.execute(db.select(DigestSubscription)).scalar_one().scope_ids == [own]
    html = client.get("/digests/settings").get_data(as_text=True)
    assert re.search(rf'<input checked[^>]*name="scope_ids"[^>]*value="{own}"', html)
    auth.login("op@x.cn")  # the operators' summary has nothing to narrow
    assert 'name="scope_ids"' not in client.get("/digests/settings").get_data(as_text=True)


def test_real_matches_reach_the_right_people_and_nothing_older(
    app, sample_data, make_user, smtp_server
):
    """End to end: persisted matches → the enterprise's digest; a later match only in the next."""
    from techfin.models import Funder
    from techfin.services import catalog, matching

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("e1@x.cn", "enterprise", "E-001")
    make_user("e2@x.cn", "enterprise", "E-002")
    make_user("op@x.cn", "operator")
    with app.app_context():
        matching.refresh_all()
        first = digests.send_due("weekly", now=digests.utcnow() + timedelta(days=7))
    by_rcpt = {m["To"].addresses[0].addr_spec: m for m in smtp_server.messages}
    e1_text = by_rcpt["e1@x.cn"].get_body(("plain",)).get_content()
    assert "知识产权质押贷" in e1_text  # P-001 fits E-001's IP-pledge need N-001
    assert "e2@x.cn" not in by_rcpt  # E-002's only need is a draft: nothing to say
    assert "新增融资需求" in by_rcpt["op@x.cn"].get_body(("plain",)).get_content()
    assert first.sent == 2
    with app.app_context():
        op = db.session.execute(db.select(User).filter_by(email="op@x.cn")).scalar_one()
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        catalog.create_product(op, bank, {"ref": "P-NEW", "name": "石墨烯专利快贷", "kind": "ip_pledge",
                                          "min_amount_cny": 1000000, "max_amount_cny": 9000000,
                                          "requires_patent": True, "status": "active"})  # fmt: skip
        matching.refresh_all()
        # The new product "appears" next week: move its first sighting into the middle of
        # the week the second digest covers (ISO weeks in Beijing time: "now + 8 days" fell
        # outside it when the test ran late on a Saturday, UTC).
        from techfin.models import Product
        from techfin.models.matching import Match

        second = digests.utcnow() + timedelta(days=14)
        start, end = digests.window_for("weekly", second)
        seen = start + (end - start) / 2
        new_id = db.session.execute(db.select(Product.id).filter_by(ref="P-NEW")).scalar_one()
        for row in db.session.execute(db.select(Match).filter_by(product_id=new_id)).scalars():
            row.first_seen_at = seen
        db.session.get(Product, new_id).created_at = seen
        db.session.commit()
        smtp_server.messages.clear()
        digests.send_due("weekly", now=second)
    e1 = [m for m in smtp_server.messages if m["To"].addresses[0].addr_spec == "e1@x.cn"]
    text = e1[0].get_body(("plain",)).get_content()
    assert "石墨烯专利快贷" in text and "知识产权质押贷 ·" not in text
    assert "新产品" in text  # what changed: a new product, not just "a new match"


@pytest.mark.app_config(SERVER_NAME=None, EXTERNAL_URL="https://techfin.example.gov.cn")
def test_the_cron_command_sends_with_links_on_the_external_url(
    app, sample_data, make_user, runner, smtp_server
):
    """`flask digests send` as cron runs it: no request and no SERVER_NAME (the test app
    sets one, which once hid that building the links needed a request)."""
    from techfin.services import matching

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    make_user("op@x.cn", "operator")
    make_user("e1@x.cn", "enterprise", "E-001")
    make_user("bank@x.cn", "bank", "F-001")
    with app.app_context():
        matching.refresh_all()
        # Matches found this week go out in next week's digest: move them into last week.
        from techfin.models.matching import Match

        start, _end = digests.window_for("weekly", digests.utcnow())
        db.session.execute(db.update(Match).values(first_seen_at=start + timedelta(hours=1)))
        # …and the needs too, so the operators' platform summary has something to say.
        from techfin.models import Need

        db.session.execute(db.update(Need).values(created_at=start + timedelta(hours=1)))
        db.session.commit()
    result = runner.invoke(args=["digests", "send", "--period", "weekly"])
    assert result.exit_code == 0, result.output
    assert "3 sent" in result.output, result.output
    by_rcpt = {m.envelope_rcpt[0]: m for m in smtp_server.messages}
    assert set(by_rcpt) == {"op@x.cn", "e1@x.cn", "bank@x.cn"}
    site = "https://techfin.example.gov.cn"
    e1 = by_rcpt["e1@x.cn"].get_body(("plain",)).get_content()
    assert f"{site}/needs/" in e1 and f"{site}/digests/settings" in e1
    assert by_rcpt["e1@x.cn"]["List-Unsubscribe"].startswith(f"<{site}/digests/unsubscribe/")
    bank = by_rcpt["bank@x.cn"].get_body(("plain",)).get_content()
    assert f"{site}/dealflow/matches?product_id=" in bank
