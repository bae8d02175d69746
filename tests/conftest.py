"""Fixtures in the flaskr style: app, client, runner, auth; a clean database per test.

The schema is built once per run through the Alembic migrations (never create_all), on
SQLite by default or on the PostgreSQL named by TEST_DATABASE_URL.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from techfin.config import normalise_database_url


def _reset_postgres(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        # A test's commits need not wait for the disk (nothing outlives the run); the
        # statements, their locking and their visibility are PostgreSQL's all the same.
        name = conn.execute(text("SELECT current_database()")).scalar()
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    engine.dispose()


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (test_gw0, …)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base, _, name = url.rpartition("/")
    target = f"{name}_{worker}"
    engine = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target})
        if exists.scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{target}"'))
    engine.dispose()
    return f"{base}/{target}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = _worker_database(url)
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def make_config(database_url: str, tmp: Path, **extra: object) -> dict[str, object]:
    config: dict[str, object] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_DIR": str(tmp),
        "INDEX_DIR": str(tmp / "index"),
        "MODEL_DIR": str(tmp / "model"),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "localhost",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": 1,  # nothing listens: a test that mails starts its own server
        # Index upkeep after each request costs ~0.1 s; search tests switch it back on.
        "SEARCH_SYNC_OFF": True,
        # Tasks run inline when enqueued, so derived data is there when the request ends;
        # tests/integration/tasks run a real worker against Redis and the SQLite store.
        "TASK_QUEUE_URL": "immediate",
        "MATCHING_HISTORY_TTL": 0,
        "PLATFORM_COUNTS_TTL": 0,  # the landing page's figures, fresh in every test
        "DASHBOARD_MAX_AGE": 0,  # the operator dashboard recomputed (inline) on every visit
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from flask_migrate import upgrade

    from techfin import create_app

    app = create_app(make_config(database_url, tmp_path_factory.mktemp("inst")))
    from techfin.extensions import db

    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return database_url


def _truncate(db) -> None:  # noqa: ANN001
    from techfin.tools.empty_tables import empty_tables

    empty_tables(db)


# One app per xdist worker and configuration, not one per test: create_app registers about
# 1 700 URL rules and the OpenAPI document (~0.13 s, a third of a typical test's time). What
# a test may change is put back before the next one: the config (paths under the test's own
# tmp_path), the per-app caches, and the process-wide bindings (the task queue, the rate
# limiter), which another app created meanwhile may have taken. `@pytest.mark.fresh_app`
# asks for an app of the test's own.
@dataclass
class _Cached:
    app: Any
    config: dict[str, Any]
    tmp: str
    limiter: dict[str, Any]


_APPS: dict[str, _Cached] = {}
_PER_APP_STATE = ("techfin_matching", "search_engines")  # rebuilt on first use


def _retarget(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str) and value.startswith(old):
        return new + value[len(old) :]
    if isinstance(value, Path) and str(value).startswith(old):
        return Path(new + str(value)[len(old) :])
    return copy.deepcopy(value)


def close_search_engines(application: Any) -> None:
    """Close the index files the app's search engines hold. An engine dropped open is
    collected with its files in one cycle, in any order: a file finalized before the
    engine closes it warns (ResourceWarning), which fails whichever test the collector
    happens to run in."""
    for engine in application.extensions.pop("search_engines", {}).values():
        engine.close()


def _reuse(cached: _Cached, tmp_path: Path) -> Any:
    from techfin.extensions import limiter
    from techfin.tasks import init_app as init_tasks

    application = cached.app
    application.config.clear()
    application.config.update(
        {k: _retarget(v, cached.tmp, str(tmp_path)) for k, v in cached.config.items()}
    )
    for name in _PER_APP_STATE:
        application.extensions.pop(name, None)
    limiter.__dict__.update(cached.limiter)
    if cached.limiter.get("_storage") is not None:  # none when the limits are off
        limiter.reset()  # the counts of the tests before
    init_tasks(application)  # the queue's app and store (a fresh in-memory one when immediate)
    return application


@pytest.fixture
def app(migrated: str, tmp_path: Path, request: pytest.FixtureRequest):
    from techfin import create_app
    from techfin.extensions import db, limiter

    extra = getattr(request, "param", None) or {}
    marker = request.node.get_closest_marker("app_config")
    if marker:
        extra = {**extra, **marker.kwargs}
    key = repr(sorted(extra.items()))
    cached = None if request.node.get_closest_marker("fresh_app") else _APPS.get(key)
    if cached is not None:
        application = _reuse(cached, tmp_path)
    else:
        application = create_app(make_config(migrated, tmp_path, **extra))
        if not request.node.get_closest_marker("fresh_app"):
            _APPS[key] = _Cached(application, copy.deepcopy(dict(application.config)),
                                 str(tmp_path), dict(limiter.__dict__))  # fmt: skip
    with application.app_context():
        _truncate(db)
    yield application
    close_search_engines(application)
    with application.app_context():
        db.session.remove()
        if cached is None:  # a shared app keeps its pool: a new connection costs ms on PG
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# Passes the password policy (services/accounts.py); fixtures that store a precomputed hash
# may use any password, since logging in never re-checks the policy.
PASSWORD = "Lychee-Harbour-47"  # noqa: S105 - a test fixture's password


class AuthActions:
    def __init__(self, client) -> None:  # noqa: ANN001
        self._client = client

    def login(self, email: str, password: str = PASSWORD):
        return self._client.post("/auth/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def make_user(app):
    """Create a user (and its organisation when given a ref already imported)."""
    from techfin.extensions import db
    from techfin.services import accounts

    def _make(email: str, role: str, org_ref: str | None = None, password: str = PASSWORD):
        with app.app_context():
            org = accounts.find_organization(org_ref) if org_ref else None
            user = accounts.create_user(email, password, role, organization=org)
            db.session.commit()
            return user.id

    return _make


SAMPLE = Path(__file__).parent / "data" / "sample.jsonl"


@pytest.fixture
def sample_data(app) -> Iterator[Path]:
    from techfin.services.interchange import import_file

    with app.app_context():
        report = import_file(SAMPLE)
        assert report.committed, [str(e) for e in report.errors]
    yield SAMPLE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "app_config(**kw): extra config for the app fixture")
    config.addinivalue_line("markers", "fresh_app: an app of the test's own, not the shared one")
    config.addinivalue_line(
        "markers",
        "one_pass(dialect): a drill that does not use the suite's database (its own server or "
        "queue): make test runs it in the pass of that dialect ('sqlite' or 'postgresql') only",
    )


def _suite_dialect() -> str:
    return (
        "postgresql"
        if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
        else "sqlite"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`one_pass` drills are deselected in the other database's pass (reported as
    "deselected"): make test runs the suite on both, so each still runs once."""
    dialect = _suite_dialect()
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("one_pass")
        (drop if marker is not None and marker.args[0] != dialect else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class RecordingHandler:
    """An aiosmtpd handler that keeps what it accepts and can answer with scripted errors."""

    def __init__(self) -> None:
        self.messages: list = []
        self.script: list[str] = []  # e.g. ["451 4.3.0 try later", "550 5.1.1 no such user"]

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        if self.script:
            return self.script.pop(0)
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.content, policy=policy.default)
        message.envelope_rcpt = list(envelope.rcpt_tos)  # type: ignore[attr-defined]
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) for the duration of one test."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        controller.stop()
