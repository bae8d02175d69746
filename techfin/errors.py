"""One handler renders every error: JSON under /api/, an HTML page elsewhere."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

try:  # the PostgreSQL driver is optional (SQLite needs nothing)
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a dependency wherever PostgreSQL runs
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the request; `fields` maps a field to its messages."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    if wants_json():
        body = {"error": {"code": code, "message": message, "fields": fields or {}}}
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message), status


# Errors that mean "the database cannot be reached right now", not "the request is wrong".
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
)
if psycopg is not None:
    _UNREACHABLE += (psycopg.OperationalError, psycopg.InterfaceError)


def database_unreachable(err: BaseException | None) -> bool:
    """True when `err`, or the driver error a SQLAlchemy error wraps, is a lost database."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, _UNREACHABLE):
            return True
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return True
        if not isinstance(err, SQLAlchemyError):
            return False  # only follow SQLAlchemy's own wrappers: a bug stays a 500
        err = err.__cause__ or err.__context__
    return False


def _forget_database_state() -> None:
    """Let the error page render without the database.

    The current user (and the locale chosen from it, and the navigation built from its
    organisation) is loaded lazily from the database, so rendering the page would hit the
    same outage again and turn a 503 into a 500: render it as seen by an anonymous visitor.
    """
    from techfin.extensions import db

    with contextlib.suppress(Exception):  # rolling back a dead connection can fail too
        db.session.rollback()
    manager = getattr(current_app, "login_manager", None)
    if manager is not None:
        g._login_user = manager.anonymous_user()


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Please log in first."),
        403: _("You do not have access to this page."),
        404: _("The page or record was not found."),
        405: _("This method is not allowed here."),
        409: _("This conflicts with an existing record."),
        413: _("The upload is too large."),
        422: _("Some fields are not valid."),
        429: _("Too many requests: please wait a moment and try again."),
        500: _("Something went wrong on our side. Nothing you saved was lost."),
        503: _("The service is temporarily unavailable. Please try again shortly."),
    }


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        return error_response(err.status, err.code, err.message, err.fields)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        status = err.code or 500
        message = _messages().get(status, err.description or "")
        code = (err.name or "error").lower().replace(" ", "_")
        fields = None
        data = getattr(err, "data", None)
        if isinstance(data, dict) and "messages" in data:
            # flask-smorest / webargs validation errors: flatten per location.
            fields = {}
            for loc_msgs in data["messages"].values():
                if isinstance(loc_msgs, dict):
                    for name, msgs in loc_msgs.items():
                        fields[name] = msgs if isinstance(msgs, list) else [str(msgs)]
            code = "invalid"
        if status == 400 and "CSRF" in (err.description or ""):
            message = _("The form expired or was sent from elsewhere. Please reload and retry.")
            code = "csrf"
        response = make_response(error_response(status, code, message, fields))
        # 405 must say what is allowed (RFC 9110 §15.5.6); 429 when to come back.
        for name, value in err.get_headers():
            if name in ("Allow", "Retry-After", "WWW-Authenticate"):
                response.headers[name] = value
        return response

    def _db_down(err: BaseException):
        log.error("database unavailable: %s", err)
        _forget_database_state()
        return error_response(503, "unavailable", _messages()[503])

    for exc_class in _UNREACHABLE:
        app.register_error_handler(exc_class, _db_down)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if isinstance(err, HTTPException):
            return _http(err)
        if database_unreachable(err):
            return _db_down(err)
        log.exception("unhandled error", exc_info=err)
        return error_response(500, "internal", _messages()[500])

    def _drop_session_if_database_lost() -> None:
        from techfin.extensions import db

        try:
            db.session.rollback()
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            log.warning("session dropped after a lost database connection: %s", exc)
            db.session.registry.clear()

    @app.teardown_request
    def _end_transaction(_exc: BaseException | None) -> None:
        # The last registered, so the first to run: the search and matching teardowns, and
        # Flask-SQLAlchemy's, each start with a rollback. When the database has just dropped
        # the connection that rollback raises after the response was made, and the client
        # would get the server's bare 500 instead of it (a 201 for a committed write, or the
        # 503 above). The pool has invalidated the connection by then: forget the session.
        _drop_session_if_database_lost()

    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        # The same for CLI commands and for anything a request teardown did afterwards.
        _drop_session_if_database_lost()

    app.register_error_handler(InternalServerError, _http)
    app.register_error_handler(ServiceUnavailable, _http)
