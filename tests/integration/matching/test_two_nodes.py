"""Two web nodes on one database, each with its own search index (as two gunicorns on two
machines would be): a write through one is found by the other's search and ranked on the
other's pages without any restart."""

from __future__ import annotations

import pytest


@pytest.mark.app_config(SEARCH_SYNC_OFF=False)
def test_a_write_through_one_node_is_seen_through_the_other(app, users, tmp_path, get):
    from techfin import create_app
    from techfin.extensions import db
    from techfin.services import catalog, search, search_sync
    from tests.conftest import close_search_engines, make_config

    other = create_app(
        make_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "node-b",
                    SEARCH_SYNC_OFF=False)
    )  # fmt: skip
    for node in (app, other):
        with node.app_context():
            assert search_sync.reindex() > 0
            db.session.remove()
    # Node A: a request publishes a new need (its own index syncs after the request).
    with app.test_request_context():
        enterprise = get("enterprise", "E-001")
        need = catalog.create_need(get("user", "e1@x.cn"), enterprise, {
            "kind": "ip_pledge", "amount_cny": 5_000_000, "term_months": 12,
            "purpose": "氢燃料电池双极板中试线建设",
        })  # fmt: skip
        catalog.set_need_status(get("user", "e1@x.cn"), need, "published")
        need_id = need.id
        db.session.remove()
    # Node B never saw that request: its next search catches up from the outbox.
    with other.test_request_context():
        hits = search.search(get("user", "op@x.cn"), {"q": "氢燃料电池双极板"})
        assert need_id in [h["id"] for h in hits["items"] if h["type"] == "need"]
        # ... and its pages rank the new need live from the database.
        from techfin.services import matching

        ranked = matching.matches_for_need(get("user", "e1@x.cn"), db.session.get(
            type(need), need_id))  # fmt: skip
        assert ranked["matches"], "the new need is ranked on the other node"
        db.session.remove()
    with other.app_context():
        db.engine.dispose()  # the second node's pool: no connection left to the collector
    close_search_engines(other)
