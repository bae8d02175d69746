"""Recommendations: an operator recommends, the institution sees the badge and answers."""

from __future__ import annotations

from techfin.extensions import db
from techfin.models import Need, Outcome, Product, Recommendation


def _ids(app) -> tuple[int, int]:
    with app.app_context():
        need = db.session.execute(db.select(Need.id).filter_by(ref="N-001")).scalar_one()
        product = db.session.execute(db.select(Product.id).filter_by(ref="P-001")).scalar_one()
    return need, product


def _stages(app, need_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            db.select(Outcome.stage, Outcome.note).filter_by(need_id=need_id).order_by(Outcome.id)
        ).all()
    return [tuple(r) for r in rows]


def test_recommend_accept(app, client, users, login, body):
    need, product = _ids(app)
    login("op@ops.cn")
    assert client.get(f"/recommendations/new?need_id={need}").status_code == 200
    resp = client.post("/recommendations/new", data={"need_id": "", "product_id": ""})
    assert resp.status_code == 200 and body(resp).count("is-invalid") == 2
    note = "专利质押条件成熟 <script>"
    resp = client.post("/recommendations/new",
                       data={"need_id": need, "product_id": product, "note": note})  # fmt: skip
    assert resp.status_code == 302
    assert ("recommended", note) in _stages(app, need)
    # The same pending pair twice is refused on the field.
    resp = client.post("/recommendations/new", data={"need_id": need, "product_id": product})
    assert resp.status_code == 200 and "is-invalid" in body(resp)

    login("bank@ops.cn")
    html = body(client.get("/dashboard"))
    assert 'id="nav-recommendations"' in html and "badge" in html
    html = body(client.get("/recommendations"))
    assert "recommended-badge" in html and "&lt;script&gt;" in html
    with app.app_context():
        rec_id = db.session.execute(db.select(Recommendation.id)).scalar_one()
    assert client.post(f"/recommendations/{rec_id}/accept").status_code == 302
    assert [s for s, _n in _stages(app, need)].count("contacted") == 2  # sample + accepted
    with app.app_context():
        assert db.session.get(Recommendation, rec_id).status == "accepted"
    # Answered once only.
    client.post(f"/recommendations/{rec_id}/decline", data={"reason": "late"})
    with app.app_context():
        assert db.session.get(Recommendation, rec_id).status == "accepted"


def test_decline_needs_a_reason_and_records_it(app, client, users, login, body):
    need, product = _ids(app)
    login("op@ops.cn")
    client.post("/recommendations/new", data={"need_id": need, "product_id": product})
    with app.app_context():
        rec_id = db.session.execute(db.select(Recommendation.id)).scalar_one()
    assert client.post(f"/recommendations/{rec_id}/accept").status_code == 403  # not the bank
    login("vc@ops.cn")  # unverified, and not the product's institution
    assert client.get("/recommendations").status_code == 403
    assert client.post(f"/recommendations/{rec_id}/accept").status_code == 403
    login("e1@ops.cn")
    assert client.get("/recommendations").status_code == 403
    login("bank@ops.cn")
    resp = client.post(f"/recommendations/{rec_id}/decline", data={"reason": "  "})
    assert resp.status_code == 200 and "is-invalid" in body(resp)
    resp = client.post(f"/recommendations/{rec_id}/decline", data={"reason": "估值不足两倍授信额"})
    assert resp.status_code == 302
    assert ("declined", "估值不足两倍授信额") in _stages(app, need)
    login("op@ops.cn")
    html = body(client.get("/recommendations?status=declined"))
    assert "估值不足两倍授信额" in html


def test_only_published_needs_and_available_products(app, client, users, login, body):
    with app.app_context():
        draft = db.session.execute(db.select(Need.id).filter_by(ref="N-002")).scalar_one()
        vc_product = db.session.execute(db.select(Product.id).filter_by(ref="P-002")).scalar_one()
    login("op@ops.cn")
    resp = client.post("/recommendations/new", data={"need_id": draft, "product_id": vc_product})
    assert resp.status_code == 200 and body(resp).count("is-invalid") == 2
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Recommendation.id))) == 0


def test_an_old_need_can_be_recommended_from_its_page(app, client, users, login, body, monkeypatch):
    """The drop-down holds only the newest needs (a region has 100 000); the need the
    operator came from is offered and accepted whatever its age."""
    from techfin.services import recommendations

    need, product = _ids(app)
    monkeypatch.setattr(recommendations, "NEED_CHOICES", 0)  # every need is "too old"
    login("op@ops.cn")
    assert "N-001" not in body(client.get("/recommendations/new"))
    html = body(client.get(f"/recommendations/new?need_id={need}"))
    assert "N-001" in html and "selected" in html.split("N-001")[0].rsplit("<option", 1)[1]
    resp = client.post("/recommendations/new", data={"need_id": need, "product_id": product})
    assert resp.status_code == 302
    assert ("recommended", "") in _stages(app, need)
