"""Codes never reach a page: labels from web/labels.py, in the reader's language."""

from __future__ import annotations

from datetime import date

import pytest

from techfin.extensions import db
from techfin.models import Outcome
from techfin.services import audit

ZH_EN = [("zh_CN", 0), ("en", 1)]


def _entry(app, action: str, object_type: str, detail: dict) -> None:
    with app.app_context():
        entry = audit.record(action, object_type=object_type, actor="op@x.cn", detail=detail)
        entry.object_ref = "X-1"
        db.session.commit()


@pytest.mark.parametrize(("lang", "i"), ZH_EN)
def test_audit_log_shows_labels_not_codes(app, client, users, login, body, lang, i):
    _entry(app, "interest", "need", {"funder_id": None, "financials": False, "stage": "funded"})
    _entry(app, "meeting_request", "meeting", {})
    _entry(app, "register", "event", {"org": "E-001"})
    login("op@x.cn")
    page = body(client.get(f"/operator/audit?lang={lang}"))
    rows = page[page.index('id="audit-list"') :]
    for text in (("表达意向", "Expressed interest"), ("申请洽谈", "Meeting requested"),
                 ("活动洽谈", "Event meeting"), ("报名", "Signed up"),
                 ("对接活动", "Docking event")):  # fmt: skip
        assert text[i] in rows
    assert (
        "机构: —; 财务数据: 否; 对接阶段: 已放款",
        "Institution: —; Financials: No; Docking stage: Funded",
    )[i] in rows
    for code in ("meeting_request", "funder_id", "None", "False", "financials:"):
        assert code not in rows
    assert ">login<" not in rows and "登录 login" not in rows


@pytest.mark.parametrize(("lang", "i"), ZH_EN)
def test_need_history_and_status_of_a_funded_need(app, client, users, login, body, ids, lang, i):
    nid, pid = ids("need", "N-001"), ids("product", "P-001")
    with app.app_context():
        db.session.add(Outcome(need_id=nid, product_id=pid, stage="contacted",
                               date=date(2026, 9, 6),
                               note="interest"))  # fmt: skip
        db.session.add(Outcome(need_id=nid, product_id=pid, stage="meeting",
                               date=date(2026, 9, 7),
                               note="春季银企对接会: follow_up"))  # fmt: skip
        db.session.commit()
    login("e1@x.cn")
    page = body(client.get(f"/enterprise/needs/{nid}?lang={lang}"))
    assert ("企业在平台上表达了意向", "The enterprise expressed interest on the platform")[
        i
    ] in page
    assert ("春季银企对接会: 约定后续跟进", "春季银企对接会: Follow-up agreed")[i] in page
    assert ": follow_up" not in page and ">interest<" not in page
    # N-001 is funded in the sample: financed, not published, and not an open need
    status = page[page.index('id="need-status"') :][:80]
    assert ("已获融资", "Financed")[i] in status
    listing = body(client.get(f"/enterprise/needs?lang={lang}"))
    assert ("已获融资", "Financed")[i] in listing
    dash = body(client.get(f"/dashboard?lang={lang}"))
    assert f"/enterprise/needs/{nid}" not in dash.split('id="open-needs"')[1].split("</table>")[0]
    assert "匹配功能开启后" not in dash and "once matching is switched on" not in dash


@pytest.mark.parametrize(("lang", "i"), ZH_EN)
def test_product_terms_read_naturally(app, client, users, login, body, ids, lang, i):
    from techfin.models import Product

    with app.app_context():
        product = db.session.get(Product, ids("product", "P-001"))
        product.min_term_months = product.max_term_months = 12
        product.kind = "guarantee"
        db.session.commit()
    login("e1@x.cn")
    page = body(client.get(f"/marketplace/products/{ids('product', 'P-001')}?lang={lang}"))
    assert "12 – 12" not in page and ">12<" in page
    assert ("年费率", "Annual fee rate")[i] in page
    assert "年利率" not in page


@pytest.mark.parametrize(("lang", "i"), ZH_EN)
def test_funded_equity_reads_invested(app, client, users, login, body, ids, lang, i):
    from techfin.web.labels import stage_label

    with app.test_request_context(f"/?lang={lang}"):
        assert stage_label("funded", "equity") == ("已投资", "Invested")[i]
        assert stage_label("funded", "loan") == ("已放款", "Funded")[i]
        assert stage_label("contacted", "equity") == ("已联系", "Contacted")[i]


def test_model_version_is_for_operators_only(app, client, users, login, body, ids):
    login("e1@x.cn")
    page = body(client.get(f"/needs/{ids('need', 'N-001')}/matches"))
    assert "学习模型 v" not in page and "model-note" in page


@pytest.mark.parametrize(("lang", "i"), ZH_EN)
def test_picker_texts_come_from_the_page(client, users, login, body, lang, i):
    login("e1@x.cn")
    page = body(client.get(f"/enterprise/profile?lang={lang}"))
    assert ('data-no-results="没有匹配的条目"', 'data-no-results="No matching entry"')[i] in page


@pytest.mark.parametrize(("lang", "i"), ZH_EN)
def test_search_facet_labels(app, lang, i):
    from techfin.web.labels import label
    from techfin.web.search import FACET_LABELS, value_label

    with app.test_request_context(f"/?lang={lang}"):
        headings = [str(v) for v in FACET_LABELS.values()]
        assert len(headings) == len(set(headings))  # no heading twice
        assert value_label("status", "high_tech") == ("高新技术企业", "High-tech enterprise")[i]
        assert value_label("status", "verified") == ("已认证", "Verified")[i]
        assert value_label("status", "active") == label("product_status", "active")
        assert value_label("kind", "enterprise") == ("企业", "Enterprise")[i]


def test_audit_detail_formatting(app):
    from techfin.web.labels import audit_detail

    with app.test_request_context("/?lang=zh_CN"):
        text = audit_detail({"funder_id": None, "financials": False, "amount_cny": 5_000_000})
    assert text == "机构: —; 财务数据: 否; 金额（万元）: 500"


def test_the_product_form_says_rate_or_fee(client, users, login, body):
    login("bank@x.cn")
    page = body(client.get("/institution/products/new?lang=zh_CN"))
    assert "最低年利率或年费率（%）" in page and "担保和保险填年费率" in page
