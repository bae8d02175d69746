"""The enterprise's software copyright and trademark pages and the product form's IP rule
(issue #15)."""

from __future__ import annotations

from techfin.extensions import db
from techfin.models import Copyright, Product, Trademark


def test_copyright_pages_add_edit_delete(app, client, users, login, body, invalid):
    login("e1@x.cn")
    page = body(client.get("/enterprise/copyrights"))
    assert 'id="ip-tabs"' in page and "软件著作权" in page
    form = {"number": "2021sr0123456", "title": "灯控软件 V1.0", "status": "registered",
            "registered": "2021-03-02", "valuation_cny": "150"}  # fmt: skip
    resp = client.post("/enterprise/copyrights/new", data=form)
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        item = db.session.execute(db.select(Copyright)).scalar_one()
        assert (item.number, item.valuation_cny) == ("2021SR0123456", 1_500_000)
        item_id = item.id
    listing = body(client.get("/enterprise/copyrights"))
    assert "2021SR0123456" in listing and "已登记" in listing and "150" in listing
    # The same registration again: refused at the number, in Chinese only.
    again = body(client.post("/enterprise/copyrights/new", data=form))
    assert invalid(again, "number") and "该登记号已录入" in again
    bad = body(client.post("/enterprise/copyrights/new", data={**form, "number": "12345"}))
    assert invalid(bad, "number") and "2021SR0123456" in bad
    # Valuation may stay empty (issue #14 found patents refusing that).
    edit = client.post(f"/enterprise/copyrights/{item_id}/edit",
                       data={**form, "valuation_cny": "", "confidential": "y"})  # fmt: skip
    assert edit.status_code == 302, body(edit)
    with app.app_context():
        item = db.session.get(Copyright, item_id)
        assert item.valuation_cny is None and item.confidential
    assert client.post(f"/enterprise/copyrights/{item_id}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Copyright, item_id) is None


def test_trademark_pages_and_other_enterprises(app, client, users, login, body, invalid):
    login("e1@x.cn")
    form = {"number": "30123456", "name": "明辉", "nice_class": "11", "status": "pending"}
    bad = body(client.post("/enterprise/trademarks/new", data={**form, "nice_class": "46"}))
    assert invalid(bad, "nice_class")
    assert client.post("/enterprise/trademarks/new", data=form).status_code == 302
    with app.app_context():
        item_id = db.session.execute(db.select(Trademark.id)).scalar_one()
    assert "明辉" in body(client.get("/enterprise/trademarks"))
    login("e2@x.cn")  # another enterprise: not even told it exists
    assert client.get(f"/enterprise/trademarks/{item_id}/edit").status_code == 404
    assert client.post(f"/enterprise/trademarks/{item_id}/delete").status_code == 404
    assert "明辉" not in body(client.get("/enterprise/trademarks"))


def test_product_form_sets_the_accepted_ip(app, client, users, login, body, invalid):
    login("bank@x.cn")
    form = {"name": "软著质押贷", "kind": "ip_pledge", "min_amount_cny": "50",
            "max_amount_cny": "500", "requires_patent": "y",
            "accepted_ip": ["software_copyright", "trademark"], "min_ip_count": "2"}  # fmt: skip
    page = body(client.get("/institution/products/new"))
    assert 'name="accepted_ip"' in page and "软件著作权" in page
    bad = body(client.post("/institution/products/new", data={**form, "min_ip_count": "0"}))
    assert invalid(bad, "min_ip_count")
    resp = client.post("/institution/products/new", data=form)
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        product = db.session.execute(db.select(Product).filter_by(name="软著质押贷")).scalar_one()
        assert product.accepted_ip == ["software_copyright", "trademark"]
        assert product.min_ip_count == 2
        pid = product.id
    edit = body(client.get(f"/institution/products/{pid}/edit"))
    assert "checked" in edit.split('value="software_copyright"')[0].rsplit("<input", 1)[1]
