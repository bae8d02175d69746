"""The gunicorn master warms matching and search before forking (techfin.warmup)."""

from __future__ import annotations

from techfin.warmup import warm


def test_warm_builds_the_snapshot_and_leaves_no_pooled_connection(app, sample_data):
    app.extensions.pop("techfin_matching", None)
    assert warm(app) >= 0
    state = app.extensions["techfin_matching"]
    assert state.snapshot is not None and state.snapshot.product_by_id
    from techfin.extensions import db

    with app.app_context():
        assert db.engine.pool.checkedin() == 0  # a forked worker must not share a socket
    assert app.test_client().get("/healthz").status_code == 200


def test_warm_never_fails_the_start(app, tmp_path):
    from techfin import create_app
    from tests.conftest import make_config

    unmigrated = create_app(make_config(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path))
    assert warm(unmigrated) >= 0  # logs a warning; the first request will do the work
