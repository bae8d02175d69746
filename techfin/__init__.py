"""techfin: a sci-tech finance (科技金融) matchmaking platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the search and matching libraries import techfin.* without Flask
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory: config → extensions → blueprints → CLI → errors."""
    from flask import Flask

    from techfin import after_response
    from techfin.config import load_config

    app = Flask(__name__, instance_relative_config=False)
    app.config.update(load_config(config))
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        # Behind a proxy the client address (rate limits, audit) and https (HSTS, Secure
        # cookies) come from X-Forwarded-*; only as many hops as configured are believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    register_extensions(app)
    after_response.init_app(app)
    register_tasks(app)
    register_blueprints(app)
    register_search(app)
    register_matching(app)
    register_cli(app)
    register_errors(app)
    register_security(app)
    return app


def _compress(app: Flask) -> None:
    """zstd / brotli / gzip for text responses (Flask-Compress), static scripts included:
    the dashboard's chart script is 1 MB raw, about 330 KB compressed.

    HTML pages carry a CSRF token, the classic BREACH target; Flask-WTF's token is signed
    with a timestamp, so its bytes change every second and cannot be recovered by
    compression-length probing across requests."""
    from flask_compress import Compress

    app.config.setdefault("COMPRESS_MIMETYPES", [
        "text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
        "application/json", "application/problem+json", "text/csv", "text/calendar",
        "image/svg+xml",
    ])  # fmt: skip
    app.config.setdefault("COMPRESS_MIN_SIZE", 1024)

    class ClosingCompress(Compress):
        # Compressing a streamed file response swaps its iterable for a generator, and the
        # file it read from was then never closed; the response closes it again.
        def after_request(self, response):  # noqa: ANN001, ANN202
            source = getattr(response, "response", None)
            response = super().after_request(response)
            if response.response is not source and hasattr(source, "close"):
                response.call_on_close(source.close)
            return response

    ClosingCompress(app)


def register_extensions(app: Flask) -> None:
    from flask_bootstrap import Bootstrap5

    from techfin import auth_session, i18n
    from techfin.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    _compress(app)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    migrate.init_app(app, db, render_as_batch=uri.startswith("sqlite"), compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    if app.config["PRODUCTION"] and not app.config.get("REDIS_URL"):
        import logging

        # Not fatal (a single-worker intranet install is fine), but easy to miss otherwise.
        logging.getLogger(__name__).warning(
            "REDIS_URL is not set: the login, sign-up and reset limits count in each "
            "worker's memory, so N gunicorn workers allow N times the limit. "
            "Set REDIS_URL in production."
        )
    auth_session.init_app(app)
    i18n.init_app(app)
    Bootstrap5(app)
    login_manager.init_app(app)
    if uri.startswith("sqlite"):
        from techfin.db_sqlite import enable_wal

        with app.app_context():
            enable_wal(db.engine)


def register_tasks(app: Flask) -> None:
    from techfin.services import notifications
    from techfin.tasks import init_app as init_tasks

    init_tasks(app)
    notifications.init_app(app)


def register_blueprints(app: Flask) -> None:
    """The pages (techfin.web.blueprints()) and the API (techfin.api.BLUEPRINTS)."""
    from techfin import api, web

    web.init_app(app)
    api.init_app(app)


def register_search(app: Flask) -> None:
    from techfin.services import search_sync

    search_sync.init_app(app)


def register_matching(app: Flask) -> None:
    from techfin.services import matching

    matching.init_app(app)


def register_cli(app: Flask) -> None:
    from techfin.cli import init_app as init_cli

    init_cli(app)


def register_errors(app: Flask) -> None:
    from techfin.errors import init_app as init_errors

    init_errors(app)


def register_security(app: Flask) -> None:
    from techfin.security import init_app as init_security

    init_security(app)
