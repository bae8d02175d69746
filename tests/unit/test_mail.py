"""The compat32 message builder: what a receiver parsing with the default policy sees."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from techfin import mail

UNSUB = "http://127.0.0.1:8000/digests/unsubscribe/eyJ1IjoxMjM0NX0.cGYjQJuDOVnrWJ2Gb_uFv4QZQOA"
HEADERS = {"List-Unsubscribe": f"<{UNSUB}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
EXPECTED_HEADERS = {"content-type", "mime-version", "from", "to", "subject", "date",
                    "message-id", "list-unsubscribe", "list-unsubscribe-post"}  # fmt: skip


@pytest.fixture(scope="module")
def app_ctx():
    app = Flask(__name__)
    app.config["MAIL_FROM"] = "科技金融 techfin <noreply@techfin.local>"
    with app.app_context():
        yield


def _received(msg):  # noqa: ANN001, ANN202 - as the SMTP client writes it, as a MUA reads it
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF on the wire"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    return message_from_bytes(raw, policy=policy.default)


def _build(name: str, subject: str, text: str = "正文 text", html: str = "<p>正文</p>"):  # noqa: ANN202
    return mail.compose_message("a@x.cn", subject, text, html, to_name=name, headers=HEADERS)


def test_headers_and_both_parts_survive_the_round_trip(app_ctx):
    subject = (
        "12 条新的匹配：中山市科技支行 知识产权质押贷 石墨烯专利快贷 科技金融对接平台上的新机会"
    )
    text = "您好，\n- 知识产权质押贷 · 评分 85/100\n" * 40
    got = _received(_build("中山明辉 (集团) <有限公司>", subject, text, "<p>知识产权</p>"))
    assert {k.lower() for k in got} == EXPECTED_HEADERS
    assert got["Subject"] == subject
    assert got["List-Unsubscribe"] == f"<{UNSUB}>"  # one line, not refolded inside the URL
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [to] = got["To"].addresses
    assert (to.display_name, to.addr_spec) == ("中山明辉 (集团) <有限公司>", "a@x.cn")
    assert got["From"].addresses[0].addr_spec == "noreply@techfin.local"
    assert got["From"].addresses[0].display_name == "科技金融 techfin"
    assert got.get_body(("plain",)).get_content() == text
    assert got.get_body(("html",)).get_content() == "<p>知识产权</p>"
    assert got.get_content_type() == "multipart/alternative"


def test_a_long_subject_is_folded_into_short_encoded_words(app_ctx):
    msg = _build("深圳" * 40, "融资" * 60)
    assert all(len(word) <= 75 for word in msg["Subject"].split())
    got = _received(msg)
    assert got["Subject"] == "融资" * 60 and got["To"].addresses[0].display_name == "深圳" * 40


@pytest.mark.parametrize(
    "name",
    [
        "明辉\r\nBcc: victim@evil.example\r\nX-Injected: 1",
        "Evil Co: victim@evil.example, other@evil.example;",
        'Evil "Co" <victim@evil.example>, x@evil.example',
        "明辉: victim@evil.example, 第二 <other@evil.example>;",
        "=?utf-8?q?victim=40evil.example?= <victim@evil.example>",
        'back\\slash \\" quote',
    ],
)
def test_user_text_never_adds_a_recipient_or_a_header(app_ctx, name):
    got = _received(_build(name, name))
    assert {k.lower() for k in got} == EXPECTED_HEADERS
    assert [a.addr_spec for a in got["To"].addresses] == ["a@x.cn"]
    assert got["Bcc"] is None and got["X-Injected"] is None
    if "=?" not in name:
        assert got["To"].addresses[0].display_name == mail.header_safe(name)


@settings(max_examples=150, deadline=None)
@given(name=st.text(max_size=60), subject=st.text(max_size=120))
def test_any_name_or_subject_stays_inside_its_header(app_ctx, name, subject):
    got = _received(_build(name, subject))
    assert {k.lower() for k in got} == EXPECTED_HEADERS
    assert [a.addr_spec for a in got["To"].addresses] == ["a@x.cn"]
    assert got["List-Unsubscribe"] == f"<{UNSUB}>"


def test_an_address_with_specials_is_refused(app_ctx):
    with pytest.raises(ValueError):
        mail.compose_message("a@x.cn>, victim@evil.example", "s", "t", "<p>t</p>")
    with pytest.raises(ValueError):
        mail.format_address("", "a@x.cn\r\nBcc: victim@evil.example")


def test_a_header_with_a_line_break_cannot_be_written(app_ctx):
    msg = _build("n", "s")
    msg["X-Raw"] = "ok\r\nBcc: victim@evil.example"  # bypassing header_value
    with pytest.raises(ValueError):
        msg.as_bytes()


def test_international_address_takes_the_header_registry_path(app_ctx):
    msg = mail.compose_message("user@例子.中国", "主题", "t", "<p>t</p>", to_name="名")
    assert msg["To"].addresses[0].addr_spec == "user@例子.中国"
    assert msg.get_body(("plain",)).get_content().strip() == "t"
