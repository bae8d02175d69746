"""Pool pages: every form validates with field messages, valid input is saved."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import Enterprise, Funder, Outcome, PoolContribution, Product, RiskPool


def _ids(app) -> dict[str, int]:
    with app.app_context():
        return {
            "bank": db.session.execute(db.select(Funder.id).filter_by(ref="F-001")).scalar_one(),
            "product": db.session.execute(db.select(Product.id).filter_by(ref="P-001")).scalar_one(),
            "e1": db.session.execute(db.select(Enterprise.id).filter_by(ref="E-001")).scalar_one(),
        }  # fmt: skip


def test_pool_forms(app, client, users, login, body):
    ids = _ids(app)
    login("op@ops.cn")
    assert client.get("/operations/pools/new").status_code == 200
    resp = client.post("/operations/pools/new", data={"name": "", "leverage_cap": "abc",
                                                      "compensation_pct": "500"})  # fmt: skip
    html = body(resp)
    assert resp.status_code == 200 and html.count("is-invalid") >= 3
    resp = client.post("/operations/pools/new", data={
        "name": "中山联合准备金", "funder_id": ids["bank"], "leverage_cap": "10",
        "compensation_pct": "50", "product_ids": [ids["product"]]})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        pool = db.session.execute(db.select(RiskPool)).scalar_one()
        pool_id = pool.id
        assert [p.id for p in pool.products] == [ids["product"]]
    # A product of another institution is refused on its field.
    with app.app_context():
        other = db.session.execute(db.select(Product.id).filter_by(ref="P-002")).scalar_one()
    resp = client.post(f"/operations/pools/{pool_id}/edit", data={
        "name": "x", "funder_id": ids["bank"], "leverage_cap": "10", "compensation_pct": "50",
        "product_ids": [other]})  # fmt: skip
    assert resp.status_code == 200 and "is-invalid" in body(resp)

    url = f"/operations/pools/{pool_id}/contributions"
    resp = client.post(url, data={"contributor": "", "amount_cny": "-3", "date": "2026-13-01"})
    assert resp.status_code == 200 and body(resp).count("is-invalid") == 3
    resp = client.post(url, data={"contributor": "广东省生产力促进中心", "amount_cny": "1000",
                                  "date": "2026-01-05"})  # fmt: skip
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.execute(db.select(PoolContribution.amount_cny)).scalar_one() == 10_000_000

    url = f"/operations/pools/{pool_id}/enterprises"
    assert client.post(url, data={"enterprise_id": "", "date": "2026-01-01"}).status_code == 200
    assert (
        client.post(url, data={"enterprise_id": ids["e1"], "date": "2026-01-01"}).status_code == 302
    )
    html = body(client.get(f"/operations/pools/{pool_id}"))
    assert 'id="pool-balance" data-yuan="10000000"' in html
    assert 'id="pool-outstanding" data-yuan="5000000"' in html and "0.50×" in html

    url = f"/operations/pools/{pool_id}/compensations"
    assert client.get(url).status_code == 200
    resp = client.post(url, data={"outcome_id": "", "defaulted_on": "", "loss_cny": "x"})
    assert resp.status_code == 200 and body(resp).count("is-invalid") >= 3
    with app.app_context():
        loan = db.session.execute(db.select(Outcome.id).filter_by(stage="funded")).scalar_one()
    resp = client.post(url, data={"outcome_id": loan, "defaulted_on": "2026-11-01",
                                  "loss_cny": "200", "amount_cny": "150", "paid_on": "2026-11-05"})  # fmt: skip
    assert resp.status_code == 200 and "is-invalid" in body(resp)  # above the 50 % share
    resp = client.post(url, data={"outcome_id": loan, "defaulted_on": "2026-11-01",
                                  "loss_cny": "200", "paid_on": "2026-11-05"})  # fmt: skip
    assert resp.status_code == 302
    html = body(client.get(f"/operations/pools/{pool_id}"))
    assert 'id="pool-balance" data-yuan="9000000"' in html and "中山市明辉照明" in html
    remove = f"/operations/pools/{pool_id}/enterprises/{ids['e1']}/remove"
    assert client.post(remove).status_code == 302
    assert client.post(remove).status_code == 302  # already gone: a message, not an error

    login("bank@ops.cn")
    assert client.get(f"/operations/pools/{pool_id}").status_code == 200
    assert client.get("/operations/pools").status_code == 200
    assert client.get(f"/operations/pools/{pool_id}/edit").status_code == 403
    assert client.get(f"/operations/pools/{pool_id}/reconcile").status_code == 200


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_the_member_form_finds_enterprises_instead_of_listing_them_all(
    app, client, users, login, body
):
    """At region scale a drop-down of every enterprise is 100 000 options: the form lists
    only what the operator's search found (credit code or reference exactly, else names)."""
    from techfin.services import search_sync

    ids = _ids(app)
    with app.app_context():
        search_sync.reindex()
        e1 = db.session.get(Enterprise, ids["e1"])
        uscc, name = e1.uscc, e1.name
        others = db.session.execute(db.select(Enterprise.name).where(Enterprise.id != e1.id))
        other_names = [n for (n,) in others]
    login("op@ops.cn")
    client.post("/operations/pools/new", data={
        "name": "中山联合准备金", "funder_id": ids["bank"], "leverage_cap": "10",
        "compensation_pct": "50", "product_ids": [ids["product"]]})  # fmt: skip
    with app.app_context():
        pool_id = db.session.execute(db.select(RiskPool.id)).scalar_one()
    url = f"/operations/pools/{pool_id}/enterprises"
    html = body(client.get(url))
    assert not any(n in html for n in [name, *other_names])  # nothing listed before a search
    for q in (uscc, uscc.lower(), "E-001", name[:4]):
        html = body(client.get(url, query_string={"q": q}))
        assert f'<option value="{ids["e1"]}"' in html, q
    html = body(client.get(url, query_string={"q": "没有这家企业"}))
    assert 'id="member-q"' in html and f'<option value="{ids["e1"]}"' not in html
    assert (
        client.post(url, data={"enterprise_id": "999999", "date": "2026-01-01"}).status_code == 200
    )
    resp = client.post(url, data={"enterprise_id": ids["e1"], "date": "2026-01-01"})
    assert resp.status_code == 302
    html = body(client.get(url, query_string={"q": uscc}))  # on the list: not offered again
    assert f'<option value="{ids["e1"]}"' not in html
