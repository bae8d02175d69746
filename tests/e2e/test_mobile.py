"""Screen widths (issue #14, 17): at 375 px no page is wider than the phone's screen (tables
scroll inside their wrapper, names keep whole characters together); at 1366 px the menu bar is
one line; long drop-downs get a search box."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import login
from tests.e2e.test_accessibility import EMAIL, _operator_creates_event_and_pool

PHONE = {
    "enterprise": ["/dashboard", "/enterprise/needs", "/enterprise/patents", "/matches",
                   "/applications", "/marketplace", "/events", "/notifications",
                   "/enterprise/sharing", "/search/?q=科技"],
    "bank": ["/dashboard", "/dealflow/needs", "/dealflow/matches", "/institution/products",
             "/institution/team", "/applications", "/recommendations"],
    "operator": ["/dashboard", "/operations/dashboard", "/dealflow/matches", "/operator/users",
                 "/operator/audit", "/operator/institutions", "/digests/log", "/applications",
                 "/operations/pools", "/events"],
}  # fmt: skip


def _context(browser, live_server, width: int, lang: str = "zh-CN"):  # noqa: ANN001, ANN202
    return browser.new_context(base_url=live_server, locale=lang,
                               viewport={"width": width, "height": 800})  # fmt: skip


def _overflow(page) -> int:  # noqa: ANN001
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("role", list(PHONE))
def test_no_page_is_wider_than_a_phone(browser, live_server, role) -> None:  # noqa: ANN001
    context = _context(browser, live_server, 375)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page, EMAIL[role])
        if role == "operator":
            _operator_creates_event_and_pool(page)
        paths = list(PHONE[role])
        if role == "operator":
            # the detail pages of the event and pool just made
            for listing in ("/events", "/operations/pools"):
                page.goto(listing)
                paths.append(page.locator("main table a").first.get_attribute("href"))
        wide = {}
        for path in paths:
            page.goto(path)
            assert page.evaluate("document.documentElement.clientWidth") == 375
            if _overflow(page) > 0:
                wide[path] = page.evaluate("document.documentElement.scrollWidth")
        assert not wide, f"pages wider than 375 px: {wide}"
        # Names in a squeezed table keep several characters per line (not one per line).
        page.goto("/dealflow/matches" if role != "enterprise" else "/matches")
        narrow = page.evaluate(
            """() => [...document.querySelectorAll('main table tbody td:first-child a')]
                .filter(a => a.textContent.trim().length >= 4)
                .filter(a => a.getBoundingClientRect().width < 3.5 * parseFloat(getComputedStyle(a).fontSize))
                .map(a => a.textContent.trim())"""
        )
        assert not narrow, f"names squeezed to a character or two per line: {narrow[:5]}"
    finally:
        context.close()
    assert not errors, errors


def _nav_rows(page) -> int:  # noqa: ANN001
    """How many lines the menu bar's items take (visible top-level items only)."""
    return page.evaluate(
        """() => new Set([...document.querySelectorAll('.navbar .navbar-nav > li, .navbar-brand')]
            .filter(e => e.offsetParent !== null)
            .map(e => Math.round(e.getBoundingClientRect().top))).size"""
    )


@pytest.mark.parametrize("role", ["enterprise", "bank", "investor", "operator"])
def test_menu_bar_is_one_line_at_1366(browser, live_server, role) -> None:  # noqa: ANN001
    context = _context(browser, live_server, 1366)
    page = context.new_page()
    try:
        login(page, EMAIL[role])
        # Chinese: every menu item in the bar, in one line, inside the page.
        page.goto("/dashboard?lang=zh_CN")
        assert (
            page.locator("#role-nav").is_visible()
            and not page.locator(".navbar-toggler").is_visible()
        )
        assert _nav_rows(page) == 1, "the menu bar wraps at 1366 px"
        assert _overflow(page) <= 0
        right = page.evaluate(
            "document.querySelector('#nav-account').getBoundingClientRect().right"
        )
        assert right <= page.evaluate(
            "document.querySelector('.navbar .container').getBoundingClientRect().right"
        )
        # A menu opens and lists its pages.
        page.locator("#role-nav .dropdown-toggle").first.click()
        assert page.locator("#role-nav .dropdown-menu.show a").first.is_visible()
        # English, about twice as wide: folded behind the menu button at 1366 px, one line at 1440.
        page.goto("/dashboard?lang=en")
        assert page.locator(".navbar-toggler").is_visible() and _nav_rows(page) == 1
        assert _overflow(page) <= 0
        page.set_viewport_size({"width": 1440, "height": 800})
        page.goto("/dashboard")
        assert page.locator("#role-nav").is_visible() and _nav_rows(page) == 1
        assert _overflow(page) <= 0
        page.goto("/dashboard?lang=zh_CN")
    finally:
        context.close()


def test_long_drop_downs_have_a_search_box(browser, live_server) -> None:  # noqa: ANN001
    context = _context(browser, live_server, 375)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page, "operator@demo.techfin.cn")
        # The recommendation form lists the published needs (the pool's member form finds
        # enterprises by search instead: a region has 100 000 of them).
        page.goto("/recommendations/new")
        select = page.locator("select[name=need_id]")
        count = select.locator("option").count()
        assert count >= 25, f"the demo's need list has only {count} entries"
        page.wait_for_selector("select[name=need_id][data-searchable]", state="attached")
        control = page.locator("#need_id-ts-control")
        # The label still names the list, for the control and for the hidden <select>.
        assert control.get_attribute("aria-labelledby") == select.get_attribute("aria-labelledby")
        name = select.locator("option").nth(count - 1).inner_text().split("·")[1].strip()
        page.locator("#need_id-ts-control").locator("xpath=..").click()
        # tom-select moves the focus into its input as it opens: type once it is there
        page.wait_for_function(
            "document.activeElement && document.activeElement.id === 'need_id-ts-control'"
        )
        # ... and once its list is open: a key pressed while it opens was lost (CI flake:
        # "-0001-1" typed for "N-0001-1").
        page.wait_for_selector(".ts-wrapper.focus.dropdown-active .ts-dropdown", state="visible")
        control.press_sequentially(name, delay=30)  # keystroke by keystroke, as a person types
        assert control.input_value() == name
        page.wait_for_function(
            "n => document.querySelectorAll('.ts-dropdown .option').length < n", arg=count - 1
        )
        page.keyboard.press("Enter")  # the first (and only) match
        assert select.input_value() == select.locator("option").nth(count - 1).get_attribute(
            "value"
        )
        page.locator("#need_id-ts-control").locator("xpath=..").click()
        page.keyboard.type("不存在的企业名称XYZ")
        assert page.locator(".ts-dropdown .no-results").inner_text() == "没有匹配的条目"
        assert _overflow(page) <= 0
        assert re.search(r"/recommendations/new$", page.url)
    finally:
        context.close()
    assert not errors, errors


def test_dashboard_charts_load_when_scrolled_to(browser, live_server) -> None:  # noqa: ANN001
    """On a phone the chart library is fetched only once a chart comes near the screen, and
    then every chart is drawn (the funnel as bars)."""
    context = _context(browser, live_server, 375)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "echarts" in r.url else None)
    try:
        login(page, "operator@demo.techfin.cn")
        page.goto("/operations/dashboard")
        page.wait_for_load_state("networkidle")
        assert not fetched, "the chart library was fetched before any chart was in view"
        assert page.locator("[data-chart] svg").count() == 0
        page.locator("#section-funnel [data-chart]").scroll_into_view_if_needed()
        page.wait_for_selector("#section-funnel [data-chart] svg")
        assert len(fetched) == 1 and "/echarts.common.min.js?v=" in fetched[0]
        # The funnel's stages are drawn as bars, with their counts as labels.
        assert page.locator("#section-funnel [data-chart] svg path").count() >= 1
        for section in page.locator("section [data-chart]").all():
            section.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-chart]')].every(e => e.querySelector('svg'))"
        )
        assert _overflow(page) <= 0
    finally:
        context.close()
    assert not errors, errors


def test_a_needs_matches_read_as_cards_on_a_phone(browser, live_server) -> None:  # noqa: ANN001
    """At 375 px the ranked and the almost-eligible tables stack: one card per match, each
    value under its column's name, nothing scrolled sideways; at 1366 px they are tables."""
    stacked = """() => [...document.querySelectorAll('main table.table-stack')].map(t => ({
        id: t.id, rows: t.tBodies[0].rows.length,
        display: getComputedStyle(t.tBodies[0].rows[0]).display,
        head: t.tHead.getBoundingClientRect().height,
        fits: t.scrollWidth <= t.parentElement.clientWidth,
        labels: [...t.querySelectorAll('td[data-label]')].map(td =>
            getComputedStyle(td, '::before').content === JSON.stringify(td.dataset.label)),
    }))"""
    for width, lang in ((375, "zh-CN"), (375, "en"), (1366, "zh-CN")):
        context = _context(browser, live_server, width, lang)
        page = context.new_page()
        try:
            login(page, EMAIL["enterprise"])
            page.goto("/matches?lang=" + lang[:2])  # the session's language from here on
            links = [
                a.get_attribute("href") for a in page.locator("main a[href$='/matches']").all()
            ]
            seen: dict[str, dict] = {}
            for href in links:
                page.goto(href)
                seen |= {t["id"]: t for t in page.evaluate(stacked)}
                if {"eligible-matches", "almost-matches"} <= set(seen):
                    break
            assert {"eligible-matches", "almost-matches"} <= set(seen), (links, list(seen))
            for table in seen.values():
                assert table["rows"] >= 1 and table["labels"], table
                if width == 375:
                    assert table["display"] == "block" and table["fits"], table
                    assert all(table["labels"]), table  # each value under its column's name
                    assert table["head"] <= 1, table  # the header row is for screen readers
                else:
                    assert table["display"] == "table-row" and table["head"] > 10, table
                    assert not any(table["labels"]), table
            assert _overflow(page) == 0
        finally:
            context.close()
