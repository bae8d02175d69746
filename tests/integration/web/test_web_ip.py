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


def test_institutions_see_shared_ip_and_the_products_rule(app, client, users, login, body, ids):
    from techfin.models import Enterprise, User
    from techfin.services import catalog
    from techfin.services.interchange import import_records

    with app.app_context():
        assert import_records([
            ("1", {"type": "copyright", "ref": "CR-A", "enterprise_ref": "E-001",
                   "number": "2020SR0000001", "title": "公开软件", "status": "registered"}),
            ("2", {"type": "copyright", "ref": "CR-B", "enterprise_ref": "E-001",
                   "number": "2020SR0000002", "title": "保密软件", "status": "registered",
                   "confidential": True}),
            ("3", {"type": "product", "ref": "P-SW", "funder_ref": "F-001", "name": "软著贷",
                   "kind": "ip_pledge", "requires_patent": True, "min_ip_count": 2,
                   "accepted_ip": ["software_copyright", "trademark"]}),
        ]).committed  # fmt: skip
        owner = db.session.execute(db.select(User).filter_by(email="e1@x.cn")).scalar_one()
        catalog.set_sharing(owner, db.session.get(Enterprise, ids("enterprise", "E-001")),
                            ids("funder", "F-001"), financials=False, patents=True)  # fmt: skip
    login("bank@x.cn")
    page = body(client.get(f"/dealflow/enterprises/{ids('enterprise', 'E-001')}"))
    assert "公开软件" in page and "保密软件" not in page
    product = body(client.get(f"/marketplace/products/{ids('product', 'P-SW')}"))
    assert "须有以下知识产权至少 2 项：软件著作权、商标" in product
