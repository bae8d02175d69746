"""The bank's dashboard shows the government recommendations waiting for its answer, the 推荐
menu carries their number (one COUNT per page), and the activity feed names the deal."""

from __future__ import annotations

from sqlalchemy import event

from techfin.extensions import db
from techfin.models import Need, Product, Recommendation


def _ids(app) -> tuple[int, int]:
    with app.app_context():
        need = db.session.execute(db.select(Need.id).filter_by(ref="N-001")).scalar_one()
        product = db.session.execute(db.select(Product).filter_by(ref="P-001")).scalar_one()
        return need, product.id


def test_bank_dashboard_lists_pending_recommendations_with_a_badge(app, client, users, login, body):
    need, product = _ids(app)
    login("bank@ops.cn")
    html = body(client.get("/dashboard?lang=en"))
    assert 'id="pending-recommendations"' in html and 'data-count="0"' in html
    assert 'id="recommendations-badge"' not in html

    login("op@ops.cn")
    resp = client.post("/recommendations/new", data={"need_id": need, "product_id": product})
    assert resp.status_code == 302

    login("bank@ops.cn")
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        html = body(client.get("/dashboard?lang=en"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    card = html[html.index('id="pending-recommendations"') :]
    card = card[: card.index("</div></div>")]
    assert 'data-count="1"' in card and "中山市明辉照明科技有限公司" in card
    assert 'href="/recommendations?status=pending"' in card
    assert 'id="recommendations-badge">1<' in html
    # The badge and the card share one COUNT, not a load of every recommendation.
    counts = [s for s in statements if "count(" in s.lower() and "recommendations" in s.lower()]
    assert len(counts) == 1, counts
    # Every other page shows the badge as well.
    assert 'id="recommendations-badge">1<' in body(client.get("/institution/products"))

    with app.app_context():
        rec_id = db.session.execute(db.select(Recommendation.id)).scalar_one()
    assert client.post(f"/recommendations/{rec_id}/accept").status_code == 302
    html = body(client.get("/dashboard?lang=en"))
    assert 'id="recommendations-badge"' not in html and 'data-count="0"' in html
    # The feed says which deal the new docking outcome is about, not just "created outcome".
    feed = html[html.index('id="activity"') :]
    assert "Docking outcome N-001 · " in feed
    with app.app_context():
        name = db.session.get(Product, product).name
    assert f"N-001 · {name}" in feed
