"""At phone width (375 px): an enterprise uploads a document with a Chinese name to 我的材料,
finds it in the list, downloads it under its original name, and reads its notifications."""

from __future__ import annotations

import struct
import zlib

from tests.e2e.conftest import login, shot


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))  # fmt: skip


def _fits(page) -> None:  # noqa: ANN001
    """Nothing wider than the phone's screen (no sideways scrolling)."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url}: {overflow}px wider than the screen"


def test_documents_and_notifications_at_375px(browser, live_server) -> None:  # noqa: ANN001
    context = browser.new_context(base_url=live_server, locale="zh-CN", accept_downloads=True,
                                  viewport={"width": 375, "height": 740})  # fmt: skip
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page, "enterprise@demo.techfin.cn")
        page.click(".navbar-toggler")
        page.click("#nav-company")  # 企业 ▾: profile, IP, documents, sharing
        page.click("#role-nav >> text=我的材料")
        page.wait_for_url("**/enterprise/documents")
        _fits(page)
        page.select_option("select[name=kind]", "business_plan")
        page.set_input_files("input[name=file]", files=[
            {"name": "商业计划书（2026 版）.png", "mimeType": "image/png", "buffer": _png()}])  # fmt: skip
        page.click("#document-upload [type=submit]")
        page.wait_for_url("**/enterprise/documents")
        assert page.locator(".alert-success").first.is_visible()
        item = page.locator("#document-list li").first
        assert (
            "商业计划书（2026 版）.png" in item.inner_text() and "商业计划书" in item.inner_text()
        )
        _fits(page)
        shot(page, "documents-375")
        with page.expect_download() as download:
            item.locator("a.btn", has_text="下载").click()
        assert download.value.suggested_filename == "商业计划书（2026 版）.png"
        page.goto("/notifications")
        assert page.locator("h1").inner_text() == "通知"
        _fits(page)
    finally:
        context.close()
    assert not errors, errors
