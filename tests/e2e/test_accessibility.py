"""Accessibility: axe-core (npm, injected by Playwright into Debian's chromium) on every role's
main pages, in Chinese and a few in English: no serious or critical violation (issue #14, 16).

The rules run are axe's defaults (WCAG 2.x A/AA and best practices); none is switched off,
so a colour, a missing label or an empty table header fails here with the offending nodes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import login

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

# (role, path); a path of "first:<page>:<css>" opens <page> and follows its first link matching
# <css>, for detail pages whose ids the demo data chooses.
PAGES: dict[str, list[str]] = {
    "anonymous": ["/", "/auth/login", "/auth/register", "/auth/forgot", "/marketplace"],
    "enterprise": [
        "/dashboard", "/enterprise/profile", "/enterprise/needs", "/enterprise/needs/new",
        "/enterprise/patents", "/enterprise/patents/new", "/enterprise/copyrights",
        "/enterprise/sharing", "/enterprise/documents", "/matches", "/applications",
        "/notifications", "/digests/settings", "/events", "/search/?q=科技",
        "first:/matches:a[href*='/needs/'][href$='/matches']",
        "first:/marketplace:a[href*='/marketplace/products/']",
        "first:/enterprise/needs:main table a[href^='/enterprise/needs/']",
    ],
    "bank": [
        "/dashboard", "/dealflow/needs", "/dealflow/matches", "/institution/products",
        "/institution/products/new", "/institution/profile", "/institution/team",
        "/applications", "/recommendations", "/search/?q=科技", "/notifications",
        "first:/dealflow/needs:a[href*='/dealflow/enterprises/']",
    ],
    "investor": ["/dashboard", "/dealflow/matches", "/institution/products", "/applications"],
    "operator": [
        "/dashboard", "/operations/dashboard", "/operator/system", "/operator/institutions",
        "/operator/users", "/operator/audit", "/operator/reference", "/events", "/events/new",
        "/operations/pools", "/operations/pools/new", "/recommendations", "/recommendations/new",
        "/applications", "/dealflow/matches", "/digests/log",
        "first:/events:main table a[href^='/events/']",
        "first:/operations/pools:main table a[href^='/operations/pools/']",
    ],
}  # fmt: skip
# A few in English: the same rules hold whatever the language (lang attribute, label texts).
ENGLISH = {"anonymous": ["/", "/auth/register"], "enterprise": ["/dashboard", "/matches"],
           "bank": ["/dealflow/matches"], "operator": ["/operations/dashboard"]}  # fmt: skip
EMAIL = {role: f"{role}@demo.techfin.cn" for role in ("enterprise", "bank", "investor", "operator")}

CASES = [(role, path, "zh") for role, paths in PAGES.items() for path in paths] + [
    (role, path, "en") for role, paths in ENGLISH.items() for path in paths
]


def _case_id(case: tuple[str, str, str]) -> str:
    role, path, lang = case
    return f"{role}-{lang}-{re.sub(r'[^a-z0-9]+', '_', path.split(':')[1] if path.startswith('first:') else path).strip('_') or 'home'}{'-detail' if path.startswith('first:') else ''}"


def _operator_creates_event_and_pool(page) -> None:  # noqa: ANN001
    """The demo data has no event and no pool: make one of each, as an operator would."""
    import datetime as dt

    if not page.goto("/events").ok or not page.locator("main table a[href^='/events/']").count():
        starts = dt.date.today() + dt.timedelta(days=7)
        page.goto("/events/new")
        page.fill("input[name=title]", "无障碍检查 银企对接会")
        page.select_option("select[name=kind]", "bank_meeting")
        page.fill("input[name=starts_at]", f"{starts}T09:00")
        page.fill("input[name=ends_at]", f"{starts}T12:00")
        page.fill("input[name=place]", "中山市火炬开发区")
        page.fill("input[name=capacity]", "50")
        page.click("#submit")
        page.wait_for_url(re.compile(r"/events/\d+$"))
    page.goto("/operations/pools")
    if not page.locator("main table a[href^='/operations/pools/']").count():
        page.goto("/operations/pools/new")
        page.fill("input[name=name]", "无障碍检查 风险准备金池")
        bank = page.locator("select[name=funder_id] option:not([value=''])").first
        page.select_option("select[name=funder_id]", bank.get_attribute("value"))
        page.click("#submit")
        page.wait_for_url(re.compile(r"/operations/pools/\d+$"))


@pytest.fixture(scope="module")
def sessions(browser, live_server):  # noqa: ANN001, ANN201
    """One logged-in browser context per role (logging in once, not per page)."""
    contexts = {}
    for role in PAGES:
        # The CSP allows scripts from 'self' only; the injected axe is an inline script.
        context = browser.new_context(base_url=live_server, locale="zh-CN", bypass_csp=True,
                                      viewport={"width": 1280, "height": 900})  # fmt: skip
        if role in EMAIL:
            page = context.new_page()
            login(page, EMAIL[role])
            if role == "operator":
                _operator_creates_event_and_pool(page)
            page.close()
        contexts[role] = context
    yield contexts
    for context in contexts.values():
        context.close()


def _open(page, path: str, lang: str) -> None:  # noqa: ANN001
    query = "lang=en" if lang == "en" else "lang=zh_CN"
    if path.startswith("first:"):
        _, listing, css = path.split(":", 2)
        page.goto(listing)
        link = page.locator(css).first
        assert link.count(), f"no link {css!r} on {listing}"
        path = link.get_attribute("href")
    page.goto(path + ("&" if "?" in path else "?") + query)


def _report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            lines.append(f"    {' '.join(node['target'])}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"      {summary[:300]}")
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more nodes")
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_no_serious_accessibility_violations(sessions, case) -> None:  # noqa: ANN001
    role, path, lang = case
    assert AXE.exists(), "node_modules/axe-core is missing: run `npm ci` (make install does)"
    page = sessions[role].new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _open(page, path, lang)
        assert page.locator("html").get_attribute("lang") == ("en" if lang == "en" else "zh-CN")
        if lang == "zh" and path == "/dashboard" and role != "anonymous":
            # The menus' own items (white panel, active entry in the theme's blue) are checked
            # too: the first menu of the bar open.
            page.locator("#role-nav .dropdown-toggle").first.click()
            assert page.locator("#role-nav .dropdown-menu.show").is_visible()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
        violations = [v for v in json.loads(result)["violations"] if v["impact"] in BLOCKING]
        assert not violations, f"{page.url}:\n{_report(violations)}"
        assert json.loads(result)["passes"], "axe ran no rule"
    finally:
        page.close()
    assert not errors, errors
