"""End-to-end journeys through the real pages, as an enterprise, an institution and an operator."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from tests.e2e.conftest import login, shot

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
PASSWORD = "journey-pass-2026"


def _set_code(page, field_id: str, code: str) -> None:  # noqa: ANN001
    """Set a tom-select picker's underlying input (the form posts the plain input's value)."""
    page.evaluate(
        """([id, code]) => {
            const el = document.getElementById(id);
            if (el.tomselect) { el.tomselect.destroy(); }
            el.value = code;
        }""",
        [field_id, code],
    )


def _register(page, account_type: str, org: str, email: str, **codes: str) -> None:  # noqa: ANN001
    page.goto("/auth/register")
    page.select_option("select[name=account_type]", account_type)
    page.fill("input[name=org_name]", org)
    for field, code in codes.items():
        _set_code(page, field, code)
    page.fill("input[name=name]", "测试 用户")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("#submit")
    page.wait_for_url("**/dashboard**")


def _flash_ok(page) -> None:  # noqa: ANN001
    # Waits (up to 10 s) for the page the POST redirected to: is_visible() would answer at
    # once, while the redirect may still be loading (two journeys failed that way once).
    from playwright.sync_api import expect

    expect(page.locator(".alert-success").first).to_be_visible(timeout=10_000)


def test_enterprise_registers_profiles_and_expresses_interest(page) -> None:  # noqa: ANN001
    email = f"ent-{uuid.uuid4().hex[:8]}@example.cn"
    _register(
        page, "enterprise", "中山旅程照明科技有限公司", email, industry="C38", region="442000"
    )
    assert page.locator("h1").first.is_visible()
    shot(page, "enterprise-dashboard")

    page.goto("/enterprise/profile")
    page.fill("input[name=employees]", "120")
    page.fill("input[name=revenue_cny]", "8000")
    page.fill("input[name=total_assets_cny]", "6000")
    page.check("input[name=high_tech]")
    page.click("#submit")
    _flash_ok(page)
    size = page.locator("#size-class strong").inner_text()
    assert size.strip() and "not yet known" not in size and "未" not in size, size
    shot(page, "enterprise-profile")

    page.goto("/enterprise/patents/new")
    page.fill("input[name=number]", "201710601862.3")
    page.fill("input[name=title]", "一种LED照明驱动电路")
    page.select_option("select[name=kind]", "invention")
    page.select_option("select[name=status]", "granted")
    page.fill("input[name=filed]", "2017-07-20")
    page.fill("input[name=granted]", "2019-05-10")
    page.fill("input[name=valuation_cny]", "1500")
    page.click("#submit")
    _flash_ok(page)
    assert page.get_by_text("201710601862.3").first.is_visible()

    page.goto("/enterprise/needs/new")
    page.select_option("select[name=kind]", "ip_pledge")
    page.fill("input[name=amount_cny]", "500")
    page.fill("input[name=term_months]", "12")
    page.fill("textarea[name=purpose]", "扩大LED驱动芯片产线")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/enterprise/needs/\d+$"))
    _flash_ok(page)
    need_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.locator("form[action$='/publish'] button").click()
    _flash_ok(page)

    page.goto(f"/needs/{need_id}/matches")
    assert page.locator("#model-note").is_visible()
    assert page.locator("h2").count() >= 2
    rows = page.locator("#eligible-matches tr.match-row")
    if rows.count():
        first = rows.first
        assert re.fullmatch(r"\d+", first.locator(".match-score").inner_text().strip())
        assert first.locator(".match-reasons li").count() >= 1
    else:
        assert page.locator("#no-matches").is_visible()
    # "Almost eligible" section: a table of what is missing, or its empty state.
    almost = page.locator("#almost-matches")
    if almost.count():
        assert almost.locator(".match-missing li").count() >= 1
    else:
        assert page.locator("h2.mt-4 + p.text-muted").is_visible()
    shot(page, "matches")
    if rows.count():
        with page.expect_navigation():
            rows.first.locator("button[type=submit]").click()
        # Mail cannot go out here (no SMTP), so the page confirms with a warning.
        assert page.locator(".alert-success, .alert-warning").first.is_visible()
        assert page.locator("#eligible-matches .badge.text-bg-success").count() >= 1


def test_institution_verified_then_moves_dealflow(page, browser, live_server) -> None:  # noqa: ANN001
    email = f"bank-{uuid.uuid4().hex[:8]}@example.cn"
    org = f"旅程测试银行{uuid.uuid4().hex[:4]}支行"
    _register(page, "bank", org, email)
    assert page.locator("#unverified-notice").is_visible()
    # The needs list answers 403 with the notice (fetched outside the page: a 403 navigation
    # would log a console error by design).
    resp = page.request.get("/dealflow/needs")
    assert resp.status == 403
    assert 'id="unverified-notice"' in resp.text() and "/dealflow/enterprises/" not in resp.text()

    # The operator verifies the institution in a second browser context.
    ctx = browser.new_context(
        base_url=live_server, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    errors: list[str] = []
    op = ctx.new_page()
    op.on("pageerror", lambda exc: errors.append(str(exc)))
    op.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        login(op, "operator@demo.techfin.cn")
        op.goto("/operator/institutions")
        row = op.locator("tr", has_text=org)
        assert row.count() == 1
        shot(op, "operator-console")
        with op.expect_navigation():
            row.locator("form[action$='/verify'] button").click()
        _flash_ok(op)
        assert op.locator("tr", has_text=org).locator("form[action$='/verify']").count() == 0
    finally:
        ctx.close()
    assert not errors, errors

    page.reload()
    assert page.locator("#unverified-notice").count() == 0
    page.goto("/dealflow/needs")
    assert page.locator("#unverified-notice").count() == 0
    assert page.locator("a[href^='/dealflow/enterprises/']").count() >= 1

    # The dealflow part with the verified demo bank, which has products.
    page.context.clear_cookies()
    login(page, "bank@demo.techfin.cn")
    page.goto("/dealflow/matches")
    rows = page.locator("tr.dealflow-row").filter(has=page.locator("option[value=meeting]"))
    assert rows.count() >= 1
    need, product = rows.first.get_attribute("data-need"), rows.first.get_attribute("data-product")
    shot(page, "dealflow")
    for stage in ("meeting", "approved"):
        row = page.locator(f"tr.dealflow-row[data-need='{need}'][data-product='{product}']")
        row.locator("select[name=stage]").select_option(stage)
        row.locator("input[name=note]").fill(f"e2e {stage}")
        with page.expect_navigation():
            row.locator(".move-form button[type=submit]").click()
        _flash_ok(page)
        row = page.locator(f"tr.dealflow-row[data-need='{need}'][data-product='{product}']")
        assert row.count() == 1
        # The stage column now shows the stage with its date; the next step moves on from it.
        assert row.locator(".pair-stage .small.text-muted").inner_text().strip()
        assert row.locator(f"select[name=stage] option[value={stage}]").count() == 0
        following = {"meeting": "approved", "approved": "funded"}[stage]
        assert row.locator(f"select[name=stage] option[value={following}]").count() == 1


def _ctx_page(browser, live_server):  # noqa: ANN001, ANN202
    ctx = browser.new_context(
        base_url=live_server, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return ctx, p, errors


def _kpi(page, key: str, recount: bool = False) -> float:  # noqa: ANN001
    """A key figure of the operator dashboard, which the task worker computes: `recount` asks
    for the figures again (after recording something), then the page offers the new ones."""
    page.goto("/operations/dashboard")
    if recount and page.locator("#dashboard-status button").count():
        # (absent while the first count is running; offered while a newer count is under
        # way, which may have read the records before the journey's latest)
        page.click("#dashboard-status button")
    if page.locator("#dashboard-status[data-poll]").count():
        page.locator("#dashboard-ready").wait_for(state="visible", timeout=60_000)
        page.click("#dashboard-ready")
    return float(page.locator(f"#kpis [data-kpi='{key}']").get_attribute("data-value"))


def test_operator_runs_docking_event_to_funded_outcome(
    page, browser, live_server, tmp_path
) -> None:  # noqa: ANN001
    import datetime as dt

    from openpyxl import load_workbook

    login(page, "operator@demo.techfin.cn")
    # counted afresh: other journeys of this server may have funded loans since the last count
    funded_before = _kpi(page, "funded", recount=True)
    amount_before = _kpi(page, "amount_funded")

    # An event under way today (Beijing time), whose day is the server's date.
    utc_now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    bj_now = utc_now + dt.timedelta(hours=8)
    # (Beijing's date: an event may not start on a day before today, services/events.py)
    starts = dt.datetime.combine(bj_now.date(), dt.time(0, 5))
    ends = bj_now + dt.timedelta(hours=3)
    title = f"中山科技金融银企对接会 {uuid.uuid4().hex[:4]}"
    page.goto("/events/new")
    page.fill("input[name=title]", title)
    page.select_option("select[name=kind]", "bank_meeting")
    page.fill("input[name=starts_at]", starts.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=ends_at]", ends.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=place]", "中山市火炬开发区")
    page.fill("input[name=capacity]", "50")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/events/\d+$"))
    _flash_ok(page)
    event_url = page.url

    contexts = []
    try:
        bank_ctx, bank, bank_errors = _ctx_page(browser, live_server)
        ent_ctx, ent, ent_errors = _ctx_page(browser, live_server)
        contexts = [bank_ctx, ent_ctx]
        login(bank, "bank@demo.techfin.cn")
        bank.goto(event_url)
        with bank.expect_navigation():
            bank.locator("#my-registration form[action$='/register'] button").click()
        _flash_ok(bank)
        bank_code = bank.locator("#checkin-code").inner_text().strip()

        login(ent, "enterprise@demo.techfin.cn")
        ent.goto(event_url)
        with ent.expect_navigation():
            ent.locator("#my-registration form[action$='/register'] button").click()
        _flash_ok(ent)
        ent_code = ent.locator("#checkin-code").inner_text().strip()
        assert ent_code and bank_code and ent_code != bank_code
        ent.goto(event_url + "/meetings/new")
        options = ent.locator("select[name=counterpart_id] option:not([value=''])")
        assert options.count() >= 1
        ent.select_option("select[name=counterpart_id]", options.first.get_attribute("value"))
        ent.click("#submit")
        _flash_ok(ent)
        assert ent.locator("#meeting-list tr[data-status=requested]").count() == 1
        assert not bank_errors and not ent_errors, bank_errors + ent_errors
    finally:
        for c in contexts:
            c.close()

    # The operator confirms and schedules the meeting, checks both in, records the result.
    page.goto(event_url)
    meeting = page.locator("#meeting-list tr[data-status=requested]")
    with page.expect_navigation():
        meeting.locator("form[action$='/confirm'] button").click()
    _flash_ok(page)
    with page.expect_navigation():
        page.locator("form[action$='/schedule'] button").click()
    page.wait_for_url("**/agenda")
    assert page.locator(".alert-success").first.is_visible()
    page.goto(event_url)
    assert page.locator("#meeting-list tr[data-status=confirmed]").count() == 1
    shot(page, "event")
    for code in (ent_code, bank_code):
        page.goto(event_url + "/checkin")
        page.fill("input[name=code]", code)
        page.click("#submit")
        _flash_ok(page)
    page.goto(event_url)
    assert page.locator("#registration-list tbody tr", has_text="—").count() == 0

    page.locator("#meeting-list a[href*='/result']").click()
    page.wait_for_url("**/result")
    page.select_option("select[name=result]", "funded")
    for name in ("need_id", "product_id"):
        value = page.locator(f"select[name={name}] option:not([value=''])").first.get_attribute(
            "value"
        )
        page.select_option(f"select[name={name}]", value)
    page.fill("input[name=amount_cny]", "300")
    # the demo bank's products are loans: a funded loan carries its terms (services/pipeline.py)
    page.fill("input[name=rate]", "4.35")
    page.fill("input[name=matures]", (date.today() + timedelta(days=400)).isoformat())
    page.select_option("select[name=repayment]", "bullet")
    page.click("#submit")
    _flash_ok(page)

    funded_after, amount_after = _kpi(page, "funded", recount=True), _kpi(page, "amount_funded")
    assert funded_after == funded_before + 1
    assert amount_after > amount_before
    shot(page, "dashboard")
    with page.expect_download() as info:
        page.locator("#kpis ~ p a", has_text="XLSX").click()
    path = tmp_path / "kpis.xlsx"
    info.value.save_as(path)
    book = load_workbook(path, read_only=True)
    try:
        assert sum(1 for _ in book.active.iter_rows(values_only=True)) >= 2
    finally:
        book.close()  # read-only workbooks keep the file open until closed


def _ui_text(page, *, labels: bool) -> dict[str, str]:  # noqa: ANN001
    """The nav (minus the 中文 switch and the account e-mail), the h1 and the form labels."""
    return page.evaluate(
        """(labels) => {
            const nav = document.querySelector('nav').cloneNode(true);
            nav.querySelectorAll('#lang-zh, a[href$="/auth/account"]').forEach(e => e.remove());
            const out = {nav: nav.innerText, h1: [...document.querySelectorAll('h1')].map(e => e.innerText).join(' | ')};
            if (labels) {
                // Bilingual terms kept on purpose in parentheses, e.g. "Annual revenue (万元)".
                out.labels = [...document.querySelectorAll('label')]
                    .map(e => e.innerText.replace(/[(（][^)）]*[)）]/g, '')).join(' | ');
            }
            return out;
        }""",
        labels,
    )


def test_pages_in_english_then_back_to_chinese(page, browser, live_server) -> None:  # noqa: ANN001
    login(page, "enterprise@demo.techfin.cn")
    page.goto("/dashboard?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    pages = [
        "/dashboard",
        "/enterprise/profile",
        "/enterprise/needs",
        "/marketplace",
        "/search/?q=知识产权",
    ]
    for url in pages:
        page.goto(url)
        assert page.locator("html").get_attribute("lang") == "en"
        for part, text in _ui_text(page, labels=True).items():
            assert not CJK.search(text), f"{url} {part}: {text!r}"
        if url == "/marketplace":
            shot(page, "marketplace")
        if url.startswith("/search"):
            assert page.locator(".search-hit").count() >= 1
            shot(page, "search")
    page.click("#lang-zh")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert CJK.search(page.locator("#role-nav").inner_text())

    ctx, op, errors = _ctx_page(browser, live_server)
    try:
        login(op, "operator@demo.techfin.cn")
        assert CJK.search(op.locator("#role-nav").inner_text())
        for url in ["/operator/institutions?lang=en", "/operations/dashboard", "/dashboard"]:
            op.goto(url)
            for part, text in _ui_text(op, labels=True).items():
                assert not CJK.search(text), f"{url} {part}: {text!r}"
        op.click("#lang-zh")
        op.wait_for_load_state()
        assert CJK.search(op.locator("#role-nav").inner_text())
        assert CJK.search(op.locator("h1").first.inner_text())
    finally:
        ctx.close()
    assert not errors, errors


def test_event_dating_rules_are_said_at_the_fields(page) -> None:  # noqa: ANN001
    """An event dated in the past, or ending before it starts, is refused with the reason
    at its field, in the reader's language, and nothing is created."""
    login(page, "operator@demo.techfin.cn")
    page.goto("/events/new")
    page.fill("input[name=title]", "过期的对接会")
    page.select_option("select[name=kind]", "bank_meeting")
    page.fill("input[name=starts_at]", "2020-05-10T09:00")
    page.fill("input[name=ends_at]", "2020-05-10T12:00")
    page.fill("input[name=place]", "中山市火炬开发区")
    page.fill("input[name=capacity]", "50")
    page.click("#submit")
    page.wait_for_load_state()
    assert re.search(r"/events/new$", page.url)
    starts = page.locator("input[name=starts_at]")
    assert "is-invalid" in (starts.get_attribute("class") or "")
    message = page.locator("input[name=starts_at] ~ .invalid-feedback").inner_text()
    assert (
        message
        and re.search(r"[\u4e00-\u9fff]", message)
        and not re.search(r"[A-Za-z]{4}", message)
    )
    # ending before it starts: the end field says so
    later = (date.today() + timedelta(days=30)).isoformat()
    page.fill("input[name=starts_at]", f"{later}T15:00")
    page.fill("input[name=ends_at]", f"{later}T09:00")
    page.click("#submit")
    page.wait_for_load_state()
    assert re.search(r"/events/new$", page.url)
    assert "is-invalid" in (page.locator("input[name=ends_at]").get_attribute("class") or "")
    page.goto("/events")
    assert "过期的对接会" not in page.content()
