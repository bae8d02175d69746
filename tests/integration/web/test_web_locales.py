"""Both locales: the zh_CN catalog translates every message of the code, and every page
renders in zh_CN and in en."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "techfin"
TRANSLATIONS = PACKAGE / "translations"
ZH_PO = TRANSLATIONS / "zh_CN" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def _read(path: Path):  # noqa: ANN202
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parts[-3])


def _extracted() -> set[str]:
    """Every msgid in the code, extracted as `pybabel extract -F babel.cfg -k _l …` does."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_zh_cn_catalog_translates_every_message_of_the_code():
    catalog = _read(ZH_PO)
    messages = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    code = _extracted()
    assert len(code) > 300
    not_in_catalog = sorted(code - set(messages))
    assert not not_in_catalog, f"run pybabel extract + update, then translate: {not_in_catalog}"
    fuzzy = sorted(i for i, m in messages.items() if m.fuzzy)
    empty = sorted(
        i for i, m in messages.items()
        if not (m.string if isinstance(m.string, str) else all(m.string))
    )  # fmt: skip
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not empty, f"untranslated entries: {empty}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check() if errors]
    assert not problems, f"placeholders differ between msgid and msgstr: {problems}"


def _compile_catalogs() -> None:
    """What `make translations` does, written atomically (other test processes may read)."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        catalog = _read(po)
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, po.with_suffix(".mo"))


def _own_ids(ids) -> dict[str, list]:  # noqa: ANN001
    """URL values the sample accounts can open: E-001's, F-001's and F-002's records."""
    return {
        "patent_id": [ids("patent", "PT-001")],
        "need_id": [ids("need", "N-001")],
        "enterprise_id": [ids("enterprise", "E-001")],
        "product_id": [ids("product", "P-001")],
        "funder_id": [ids("funder", "F-002")],
        "user_id": [ids("user", "e2@x.cn")],
        "token": ["not-a-valid-token"],
    }


@pytest.mark.parametrize("email", [None, "e1@x.cn", "bank@x.cn", "vc@x.cn", "op@x.cn"])
def test_every_page_renders_in_both_locales(app, client, users, login, ids, page_urls, email):
    _compile_catalogs()
    with app.app_context():  # the search page answers from the index: build it
        from techfin.services import search_sync

        search_sync.reindex()
    if email:
        login(email)
    seen = 0
    for path in page_urls(_own_ids(ids)):
        for lang, html_lang, footer in (
            ("zh_CN", 'lang="zh-CN"', "金额单位为万元"),
            ("en", 'lang="en"', "Amounts in 10,000 yuan"),
        ):
            resp = client.get(f"{path}?lang={lang}")
            assert resp.status_code < 500, (lang, path, resp.status_code)
            if resp.status_code == 200 and resp.mimetype == "text/html":
                text = resp.get_data(as_text=True)
                assert html_lang in text and footer in text, (lang, path)
                seen += 1
    assert seen >= 4


def test_messages_flashes_and_form_errors_follow_the_locale(client, users, login):
    _compile_catalogs()
    login("e1@x.cn")
    zh = client.post("/enterprise/needs/new?lang=zh_CN", data={"kind": "loan", "amount_cny": ""})
    assert "请输入金额（万元）。" in zh.get_data(as_text=True)
    en = client.post("/enterprise/needs/new?lang=en", data={"kind": "loan", "amount_cny": ""})
    assert "Enter the amount in 万元." in en.get_data(as_text=True)
    client.post("/enterprise/needs/new?lang=zh_CN", data={"kind": "loan", "amount_cny": "5"})
    page = client.get("/enterprise/needs?lang=zh_CN").get_data(as_text=True)
    assert "贷款" in page and "草稿" in page  # enum labels from web/labels.py


def test_the_account_language_is_used_after_login(app, client, users, login):
    from techfin.extensions import db
    from techfin.models import User

    _compile_catalogs()
    with app.app_context():
        db.session.execute(db.select(User).filter_by(email="bank@x.cn")).scalar_one().locale = "en"
        db.session.commit()
    login("bank@x.cn")
    assert "Amounts in 10,000 yuan" in client.get("/dashboard").get_data(as_text=True)
