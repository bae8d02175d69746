"""One organisation never reaches another's records: ids of others are 404, lists hold only
their own rows, and the confidential patent of the sample never shows on another's page."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import Need, Patent, SharingRule

CANARY = "CANARY-7731"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/enterprise/patents/{PT-001}/edit"),
        ("POST", "/enterprise/patents/{PT-001}/edit"),
        ("POST", "/enterprise/patents/{PT-002}/delete"),
        ("GET", "/enterprise/needs/{N-001}"),
        ("GET", "/enterprise/needs/{N-001}/edit"),
        ("POST", "/enterprise/needs/{N-001}/edit"),
        ("POST", "/enterprise/needs/{N-001}/publish"),
        ("GET", "/enterprise/needs/{N-001}/close"),
        ("POST", "/enterprise/needs/{N-001}/close"),
        ("POST", "/enterprise/needs/{N-001}/delete"),
    ],
)
def test_another_enterprises_records_are_not_found(app, client, users, login, ids, method, path):
    login("e2@x.cn")
    ref = path.split("{")[1].split("}")[0]
    kind = "patent" if ref.startswith("PT") else "need"
    url = path.replace("{" + ref + "}", str(ids(kind, ref)))
    data = {"reason": "x", "kind": "loan", "amount_cny": "1", "title": "t", "number": "x"}
    resp = client.open(url, method=method, data=data if method == "POST" else None)
    assert resp.status_code == 404
    with app.app_context():  # nothing changed
        assert db.session.get(Patent, ids("patent", "PT-002")) is not None
        need = db.session.get(Need, ids("need", "N-001"))
        assert need.status == "published" and need.closed_reason == ""


def test_drafts_of_another_enterprise_are_not_found(client, users, login, ids):
    login("e1@x.cn")
    draft = ids("need", "N-002")
    for url in (f"/enterprise/needs/{draft}", f"/enterprise/needs/{draft}/edit"):
        assert client.get(url).status_code == 404
    assert client.post(f"/enterprise/needs/{draft}/publish").status_code == 404
    assert client.post(f"/enterprise/needs/{draft}/delete").status_code == 404


def test_lists_hold_only_own_rows(client, users, login, body):
    login("e2@x.cn")
    needs = body(client.get("/enterprise/needs")).split('id="need-list"')[1]
    assert "N-002" in needs and "N-001" not in needs
    patents = body(client.get("/enterprise/patents"))
    assert "一种 LED 调光驱动电路" not in patents and CANARY not in patents
    dashboard = body(client.get("/dashboard"))
    assert "N-001" not in dashboard and "ip_pledge" not in dashboard
    login("vc@x.cn")
    products = body(client.get("/institution/products"))
    assert "知识产权质押贷" not in products and "成长期股权投资" in products


def test_another_enterprises_sharing_rule_is_not_found(app, client, users, login, ids):
    with app.app_context():
        rule = SharingRule(enterprise_id=ids("enterprise", "E-001"), funder_id=None, patents=True)
        db.session.add(rule)
        db.session.commit()
        rule_id = rule.id
    login("e2@x.cn")
    assert client.post(f"/enterprise/sharing/{rule_id}/delete").status_code == 404
    with app.app_context():
        assert db.session.get(SharingRule, rule_id) is not None


@pytest.fixture
def shared_everything(app, users, ids, verify_all):
    """E-001 shares financials and patents with every verified institution, and with F-001."""
    verify_all()
    with app.app_context():
        enterprise = ids("enterprise", "E-001")
        db.session.add(SharingRule(enterprise_id=enterprise, funder_id=None,
                                   financials=True, patents=True))  # fmt: skip
        db.session.add(SharingRule(enterprise_id=enterprise, funder_id=ids("funder", "F-001"),
                                   financials=True, patents=True))  # fmt: skip
        db.session.commit()
        # The search page answers from the index: build it, so the crawl searches for real.
        from techfin.services import search_sync

        search_sync.reindex()


def _candidates(app, ids) -> dict[str, list]:  # noqa: ANN001
    """Every sample id each URL variable can take: E-001's rows included."""
    with app.app_context():
        rule_ids = list(db.session.execute(db.select(SharingRule.id)).scalars())
    return {
        "patent_id": [ids("patent", "PT-001"), ids("patent", "PT-002")],
        "need_id": [ids("need", "N-001"), ids("need", "N-002")],
        "enterprise_id": [ids("enterprise", "E-001"), ids("enterprise", "E-002")],
        "product_id": [ids("product", "P-001"), ids("product", "P-002")],
        "funder_id": [ids("funder", "F-001"), ids("funder", "F-002")],
        "user_id": [ids("user", "e1@x.cn")],
        "rule_id": rule_ids,
        "token": ["not-a-token"],
        "kind": ["regions", "industries"],
    }


@pytest.mark.parametrize("email", ["e2@x.cn", "bank@x.cn", "vc@x.cn"])
def test_confidential_patent_canary_never_reaches_another_organisation(
    app, client, users, login, ids, body, shared_everything, page_urls, email
):
    login(email)
    urls = page_urls(_candidates(app, ids))
    assert len(urls) > 30
    for url in urls:
        text = body(client.get(f"{url}?q=配方&lang=en"))  # finds the title; does not echo it
        assert CANARY not in text and "机密配方" not in text, url


def test_shared_patents_do_reach_verified_institutions(
    client, users, login, ids, body, shared_everything
):
    """The canary test above would pass vacuously if nothing were shown: check the control."""
    login("bank@x.cn")
    text = body(client.get(f"/dealflow/enterprises/{ids('enterprise', 'E-001')}"))
    assert "一种 LED 调光驱动电路" in text and CANARY not in text


def test_the_owner_and_operators_do_see_the_confidential_patent(client, users, login, ids, body):
    login("e1@x.cn")
    assert CANARY in body(client.get("/enterprise/patents"))
    login("op@x.cn")
    assert CANARY in body(client.get(f"/dealflow/enterprises/{ids('enterprise', 'E-001')}"))
