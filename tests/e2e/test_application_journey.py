"""From application to the pool's quarterly report: the enterprise applies from a product
page with a document, the partner bank accepts, approves and records the disbursement, and
the operator finds the loan — maturity, rate, repayment method — in the risk-reserve pool's
申报汇总表 (the enterprise is on the pool's recommended list, the product is the pool's)."""

from __future__ import annotations

import struct
import time
import zlib
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.e2e.conftest import login, shot

ENTERPRISE, BANK, OPERATOR = (
    "enterprise@demo.techfin.cn", "bank@demo.techfin.cn", "operator@demo.techfin.cn"
)  # fmt: skip


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))  # fmt: skip


@pytest.fixture
def pool_setup(live_app) -> dict[str, object]:  # noqa: ANN001
    """The demo bank's pool-covered loan product, a published need of the demo enterprise
    that fits it, and a pool listing that enterprise as recommended. Rows written directly
    (no outbox entries), so the live server's task consumer has no ranking to do."""
    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, PoolEnterprise, Product, RiskPool
    from techfin.services.applications import clock

    with live_app.app_context():
        bank = db.session.scalar(db.select(Funder).filter_by(ref="F-BOC-ZS"))
        ent = db.session.scalar(db.select(Enterprise).filter_by(ref="E-0001"))
        bank.status = "verified"
        product = Product(ref="P-E2E-POOL", funder_id=bank.id, name="科技型企业信用贷（风险准备金）",
                          kind="loan", min_amount_cny=500_000, max_amount_cny=10_000_000,
                          min_term_months=6, max_term_months=36, rate_min=3.5, rate_max=5.5,
                          status="active", description="风险准备金合作产品",
                          regions=[ent.region])  # fmt: skip
        need = Need(ref="N-E2E-POOL", enterprise_id=ent.id, kind="loan", amount_cny=3_000_000,
                    term_months=12, purpose="新产线流动资金", status="published")  # fmt: skip
        pool = RiskPool(name="中山市科技贷款风险准备金（旅程）", funder=bank,
                        leverage_cap=Decimal(10), compensation_pct=Decimal(50), products=[product])  # fmt: skip
        db.session.add_all([product, need, pool])
        db.session.flush()
        db.session.add(PoolEnterprise(pool=pool, enterprise_id=ent.id,
                                      recommended_on=clock.beijing_today() - timedelta(days=30)))  # fmt: skip
        db.session.commit()
        out = {"product": product.id, "need": need.id, "pool": pool.id, "enterprise": ent.name,
               "today": clock.beijing_today()}  # fmt: skip
        db.session.remove()
    return out


def _move(page, to: str, **fields: str) -> None:  # noqa: ANN001
    details = page.locator(f"#moves details:has(input[name=to][value={to}])")
    if details.get_attribute("open") is None:  # only the first move is unfolded
        details.locator("summary").click()
    form = details.locator("form")
    for name, value in fields.items():
        if name == "repayment":
            form.locator("select[name=repayment]").select_option(value)
        else:
            form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".alert-success").first.is_visible(), page.url


def test_application_to_disbursement_ends_in_the_quarterly_report(browser, live_server, pool_setup):  # noqa: ANN001
    from techfin.services.pool import quarter_of

    started = time.monotonic()
    issued = pool_setup["today"]
    matures = issued.replace(year=issued.year + 1) - timedelta(days=1)
    context = browser.new_context(base_url=live_server, locale="zh-CN",
                                  viewport={"width": 1280, "height": 900})  # fmt: skip
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # the enterprise uploads its business plan, then applies from the product page
        login(page, ENTERPRISE)
        page.goto("/enterprise/documents")
        page.select_option("select[name=kind]", "business_plan")
        page.set_input_files("input[name=file]", files=[
            {"name": "商业计划书-旅程.png", "mimeType": "image/png", "buffer": _png()}])  # fmt: skip
        page.click("#document-upload [type=submit]")
        page.wait_for_url("**/enterprise/documents")
        page.goto(f"/marketplace/products/{pool_setup['product']}")
        page.click("#apply-button")
        page.wait_for_url("**/applications/apply**")
        if page.locator("#consent-box").count() == 0:  # more than one loan need: choose ours
            page.select_option("#need_id", str(pool_setup["need"]))
            page.click("form[method=get] button[type=submit]")
        gaps = page.locator("#gaps")
        assert page.locator("#consent-box").is_visible(), gaps.inner_text() if gaps.count() else ""
        page.locator("#attach-documents label", has_text="商业计划书-旅程.png").click()
        page.click("#submit-application")
        page.wait_for_url("**/applications/*")
        application_url = page.url
        assert page.locator("#application-status").inner_text().strip() == "已提交"
        assert "商业计划书-旅程.png" in page.content()

        # the partner bank: accept, approve, record the disbursement
        context.clear_cookies()
        login(page, BANK)
        page.goto(application_url)
        _move(page, "accepted")
        _move(page, "approved", amount_cny="300", rate="4.15", term_months="12")
        _move(page, "disbursed", amount_cny="300", rate="4.15", issued=issued.isoformat(),
              matures=matures.isoformat(), repayment="equal_installment")  # fmt: skip
        assert page.locator("#application-status").inner_text().strip() == "已放款"

        # the operator opens the pool and its quarterly table
        context.clear_cookies()
        login(page, OPERATOR)
        page.goto(f"/operations/pools/{pool_setup['pool']}")
        page.click(f"a[href$='/pools/{pool_setup['pool']}/report']")
        page.wait_for_url("**/report**")
        quarter = quarter_of(issued)
        if f"quarter={quarter}" not in page.url:
            page.goto(f"/operations/pools/{pool_setup['pool']}/report?quarter={quarter}")
        row = page.locator("#quarter-table tbody tr", has_text=pool_setup["enterprise"])
        assert row.count() == 1
        text = row.inner_text()
        assert "3,000,000" in text and issued.isoformat() in text and matures.isoformat() in text
        assert "4.15" in text and "等额分期" in text
        shot(page, "pool-quarterly-report")

        # and the institutions' league table counts the bank's answered application
        page.click("#nav-dealflow")  # the league table sits in the operator's 对接 menu
        page.click("#role-nav >> text=响应排行榜")
        page.wait_for_url("**/operations/league**")
        bank_row = page.locator("#league-table tbody tr", has_text="中国银行中山分行")
        assert bank_row.count() == 1 and "300.00" in bank_row.inner_text()
        shot(page, "league-table")
    finally:
        context.close()
    assert not errors, errors
    assert time.monotonic() - started < 60
