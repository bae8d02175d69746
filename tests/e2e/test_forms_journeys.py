"""Browser journeys of the forms: registration shows the chosen type's section only, with the
institution kinds of that type, and fits a 375 px screen."""

from __future__ import annotations

import pytest


@pytest.fixture
def phone(browser, live_server):  # noqa: ANN001, ANN201
    context = browser.new_context(base_url=live_server, locale="zh-CN",
                                  viewport={"width": 375, "height": 800})  # fmt: skip
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"browser errors: {errors}"


def _visible(page, selector: str) -> bool:  # noqa: ANN001
    return page.locator(selector).is_visible()


def test_registration_sections_follow_the_type_at_375px(phone):  # noqa: ANN001
    page = phone
    page.goto("/auth/register")
    enterprise, institution = (
        "fieldset[data-for-type='enterprise']",
        "fieldset[data-for-type='bank investor']",
    )
    page.select_option("select[name=account_type]", "investor")
    assert not _visible(page, enterprise) and _visible(page, institution)
    assert page.locator("select[name=funder_kind]").input_value() == "vc"
    assert page.locator("select[name=funder_kind] option[value=bank]").is_disabled()
    page.select_option("select[name=account_type]", "bank")
    assert page.locator("select[name=funder_kind]").input_value() == "bank"
    assert page.locator("select[name=funder_kind] option[value=vc]").is_disabled()
    page.select_option("select[name=account_type]", "enterprise")
    assert _visible(page, enterprise) and not _visible(page, institution)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide at 375px"
