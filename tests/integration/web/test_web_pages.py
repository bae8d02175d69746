"""Every page as each role: forms carry a CSRF token and nothing needs inline script or style
(the Content-Security-Policy allows neither)."""

from __future__ import annotations

import re

import pytest

ROLES = [None, "e1@x.cn", "bank@x.cn", "vc@x.cn", "op@x.cn"]


def _values(ids) -> dict[str, list]:  # noqa: ANN001
    return {
        "patent_id": [ids("patent", "PT-001")], "need_id": [ids("need", "N-001")],
        "enterprise_id": [ids("enterprise", "E-001")], "product_id": [ids("product", "P-001")],
        "funder_id": [ids("funder", "F-002")], "user_id": [ids("user", "e2@x.cn")],
        "token": ["not-a-valid-token"],
    }  # fmt: skip


def _csrf_exempt(app, path: str) -> bool:  # noqa: ANN001
    """Whether the view a form posts to was exempted from CSRF (e.g. one-click unsubscribe)."""
    from techfin.extensions import csrf

    endpoint, _args = app.url_map.bind("localhost").match(path, method="POST")
    view = app.view_functions[endpoint]
    return f"{view.__module__}.{view.__name__}" in csrf._exempt_views


@pytest.mark.parametrize("email", ROLES)
def test_forms_have_csrf_tokens_and_pages_no_inline_code(
    app, client, users, login, ids, page_urls, email
):
    app.config["WTF_CSRF_ENABLED"] = True  # GETs need no token; the forms then render one
    if email:
        login(email)
    checked = 0
    for url in page_urls(_values(ids)):
        resp = client.get(url)
        if resp.status_code != 200 or resp.mimetype != "text/html":
            continue
        html = resp.get_data(as_text=True)
        checked += 1
        for form in re.findall(r'<form[^>]*method="post".*?</form>', html, flags=re.S | re.I):
            action = re.search(r'action="([^"]*)"', form)
            target = (action.group(1) if action and action.group(1) else url).split("?")[0]
            if not _csrf_exempt(app, target):
                assert re.search(r'name="(\w+-)?csrf_token"', form), (url, form[:200])
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, (url, tag)
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), url
    assert checked >= 3


def test_csrf_is_enforced_on_workspace_forms(app, users, login):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    with app.app_context():
        from techfin.extensions import db
        from techfin.models import User

        user_id = db.session.execute(db.select(User).filter_by(email="e1@x.cn")).scalar_one()
        user_id = user_id.get_id()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
    resp = client.post("/enterprise/needs/new", data={"kind": "loan", "amount_cny": "5"})
    assert resp.status_code == 400
    page = client.get("/enterprise/needs/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/enterprise/needs/new", data={"kind": "loan", "amount_cny": "5",
                                                      "csrf_token": token})  # fmt: skip
    assert resp.status_code == 302


@pytest.mark.app_config(PLATFORM_COUNTS_TTL=60)
def test_the_landing_page_counts_the_catalogue_once_a_minute(app, client, sample_data):
    """Rule 5: an anonymous visit does not count 100 000 enterprises each time."""
    from sqlalchemy import event

    from techfin.extensions import db

    def counts_issued() -> int:
        seen: list[str] = []
        with app.app_context():
            engine = db.engine
        listener = lambda *a: seen.append(a[2]) if "count(" in a[2].lower() else None  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            html = client.get("/").get_data(as_text=True)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert 'id="stat-enterprises">' in html
        return len(seen)

    from techfin.services import workspace

    workspace._COUNTS.clear()
    assert counts_issued() == 4
    assert counts_issued() == 0  # the figures of a minute ago
