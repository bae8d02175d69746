"""The funding step in the browser: a bank on /dealflow/matches records a loan as funded.

The amount and date fields show when "funded" is chosen; submitting without them reports
each missing term once, at its field in that row, in the reader's language, and no banner
at the top; with valid terms the step is recorded.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

from techfin.localtime import beijing_today
from tests.e2e.conftest import login

CJK = re.compile(r"[\u3400-\u9fff]")
WAIT_FOR_RANKING_S = 120  # a change the worker has not ranked yet: wait on the row


def _loan_row(page):  # noqa: ANN001, ANN202
    """A dealflow row of a loan need the bank may still fund, waiting for the worker's
    ranking to reach the page (the rows, not a fixed sleep)."""
    deadline = time.monotonic() + WAIT_FOR_RANKING_S
    while True:
        page.goto("/dealflow/matches")
        # A loan: the rate is a required term of its funded step ("利率 (%) *").
        rows = (
            page.locator("tr.dealflow-row")
            .filter(has=page.locator("option[value=funded]"))
            .filter(has=page.locator("label[for$='-rate']", has_text="*"))
        )
        if rows.count():
            return rows.last
        assert time.monotonic() < deadline, (
            "no fundable loan row on /dealflow/matches",
            page.locator("tr.dealflow-row").count(),
            page.locator("option[value=funded]").count(),
            page.locator("label[for$='-rate']").all_inner_texts()[:5],
            page.locator("#matches-updating, #no-dealflow, main p").all_inner_texts()[:5],
        )
        page.wait_for_timeout(2000)


def test_bank_records_a_funded_loan_on_the_dealflow(page) -> None:  # noqa: ANN001
    login(page, "bank@demo.techfin.cn")
    row = _loan_row(page)
    need, product = row.get_attribute("data-need"), row.get_attribute("data-product")
    selector = f"tr.dealflow-row[data-need='{need}'][data-product='{product}']"
    fields = row.locator("fieldset.funded-fields")
    assert row.locator("select[name=stage]").input_value() != "funded"
    assert not fields.is_visible()  # another stage chosen: the terms are not in the way
    row.locator("select[name=stage]").select_option("funded")
    # The terms show for "funded", not folded away.
    assert fields.is_visible()
    for name in ("amount_cny", "rate", "issued", "matures"):
        assert row.locator(f"input[name={name}]").is_visible(), name
    assert row.locator("select[name=repayment]").is_visible()

    with page.expect_navigation():
        row.locator(".move-form button[type=submit]").click()
    row = page.locator(selector)
    assert row.count() == 1
    # One notice, in the row; no banner at the top of the page.
    assert page.locator(".alert-danger").count() == 1
    assert page.locator(f"{selector} .alert-danger.move-refused").count() == 1
    # Each missing term is said once, at its field, in Chinese only.
    for name in ("amount_cny", "rate", "issued", "matures"):
        field = row.locator(f"input[name={name}]")
        assert field.get_attribute("aria-invalid") == "true", name
        message = row.locator(f"#{field.get_attribute('id')}-err").inner_text().strip()
        assert CJK.search(message) and " / " not in message and "Required" not in message, message
    repayment = row.locator("select[name=repayment]")
    assert "is-invalid" in repayment.get_attribute("class")
    texts = page.locator("body").inner_text()
    # Amount, rate, two dates and repayment: one message each, no banner copies.
    assert texts.count("放款时必填") == 5
    assert row.locator("fieldset.funded-fields").is_visible()  # still open on the row

    today = beijing_today()  # what a user in China types for today
    row.locator("select[name=stage]").select_option("funded")
    row.locator("input[name=amount_cny]").fill("120.5")
    row.locator("input[name=rate]").fill("4.35")
    row.locator("input[name=issued]").fill(today.isoformat())
    row.locator("input[name=matures]").fill((today + timedelta(days=365)).isoformat())
    row.locator("select[name=repayment]").select_option("bullet")
    with page.expect_navigation():
        row.locator(".move-form button[type=submit]").click()
    assert "已放款" in page.locator(".alert-success").first.inner_text()
    assert page.locator(".move-refused").count() == 0
    # Recorded: the pair is closed at its funded stage (it offers no next step any more).
    page.goto("/dealflow/matches")
    row = page.locator(selector)
    if row.count():
        assert row.locator("select[name=stage]").count() == 0
        assert (
            row.locator(".pair-stage .small.text-muted").inner_text().strip() == today.isoformat()
        )
