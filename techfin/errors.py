"""One handler renders every error: JSON under /api/, an HTML page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

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
        return error_response(status, code, message, fields)

    @app.errorhandler(OperationalError)
    def _db_down(err: OperationalError):
        log.error("database unavailable: %s", err)
        return error_response(503, "unavailable", _messages()[503])

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if isinstance(err, HTTPException):
            return _http(err)
        log.exception("unhandled error", exc_info=err)
        return error_response(500, "internal", _messages()[500])

    app.register_error_handler(InternalServerError, _http)
    app.register_error_handler(ServiceUnavailable, _http)
