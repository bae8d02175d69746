"""Login, forgotten and reset passwords say what is known, in the reader's language only."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import User

PASSWORD = "Lychee-Harbour-47"  # the web fixtures' password


def _suspend(app, email: str) -> None:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        user.active = False
        db.session.commit()


@pytest.mark.parametrize(
    ("lang", "suspended", "wrong"),
    [("zh_CN", "账户已停用，请联系管理员", "邮箱或密码错误"),
     ("en", "This account is suspended", "Wrong email or password")],
)  # fmt: skip
def test_suspension_is_told_only_after_the_right_password(
    app, client, users, body, lang, suspended, wrong
):
    _suspend(app, "e1@x.cn")
    client.get(f"/auth/login?lang={lang}")
    right = body(client.post("/auth/login", data={"email": "e1@x.cn", "password": PASSWORD}))
    assert suspended in right and wrong not in right
    assert " / " not in right.split(suspended)[1][:5]  # one language, not "English / 中文"
    bad = body(client.post("/auth/login", data={"email": "e1@x.cn", "password": "nope-nope"}))
    assert wrong in bad and suspended not in bad
    # and the suspended account is not logged in
    assert client.get("/dashboard").status_code == 302


def test_forgot_does_not_claim_a_mail_it_could_not_send(app, client, users, body, smtp_server):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_server.port)
    smtp_server.script = ["554 5.3.0 mailbox unavailable"]  # the mail fails
    page = body(client.post("/auth/forgot?lang=zh_CN", data={"email": "e1@x.cn"},
                            follow_redirects=True))  # fmt: skip
    assert "如果该邮箱已注册，我们正在向其发送" in page
    assert "链接已发送" not in page
    unknown = body(client.post("/auth/forgot", data={"email": "nobody@x.cn"},
                               follow_redirects=True))  # fmt: skip
    assert "如果该邮箱已注册，我们正在向其发送" in unknown  # the same answer: no enumeration


@pytest.mark.parametrize(
    ("lang", "text"), [("zh_CN", "链接无效"), ("en", "This link is not valid")]
)
def test_a_bad_reset_link_is_reported_when_opened(client, users, body, lang, text):
    page = body(client.get(f"/auth/reset/not-a-token?lang={lang}"))
    assert text in page and 'id="reset-link-problem"' in page
    assert 'name="password"' not in page  # nothing to type into
    assert "/auth/forgot" in page


def test_a_used_reset_link_is_reported_when_opened(app, client, users, body):
    from techfin.services import accounts

    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="e1@x.cn")).scalar_one()
        token = accounts.password_reset_token(user)
    form = body(client.get(f"/auth/reset/{token}?lang=zh_CN"))
    assert 'name="password"' in form and "reset-link-problem" not in form
    with app.app_context():
        accounts.reset_password(token, "Quartz-Lantern-Meadow-93")
    again = body(client.get(f"/auth/reset/{token}"))
    assert "链接已使用" in again and 'name="password"' not in again
