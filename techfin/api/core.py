"""The pieces every resource module shares: blueprint, parser, errors, loading, paging."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

import marshmallow as ma
from flask import Response, current_app, g, request
from flask_smorest import Api, Blueprint
from sqlalchemy.exc import DataError, IntegrityError
from webargs.flaskparser import FlaskParser, is_json_request

from techfin.api import auth
from techfin.api.schemas import Error
from techfin.errors import Conflict, DomainError, Forbidden, error_response
from techfin.extensions import csrf, limiter
from techfin.services import audit, lookup
from techfin.services.lookup import INVALID  # the API's words for a refused body

log = logging.getLogger(__name__)

T = TypeVar("T")

FORBIDDEN = "You may not do this / 无权执行此操作"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class TechfinApi(Api):
    """flask-smorest with our error envelope documented and no error handler of its own."""

    ERROR_SCHEMA = Error
    # A catch-all `default` response would make any status "documented": each operation
    # lists the errors it really gives (see errors()), so clients and the fuzz test rely on it.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        # techfin.errors renders every error (JSON under /api/); smorest's handler would
        # replace it app-wide with its own body.
        pass


class ApiParser(FlaskParser):
    """webargs parser whose failures are DomainErrors, so they share the error envelope."""

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        if not is_json_request(req):
            raise BadRequest(
                "The body must be JSON / 请求体须为 JSON",
                {"body": ["Send Content-Type: application/json / 请使用 application/json"]},
            )
        try:
            return json.loads(req.get_data(cache=True))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise BadRequest(
                "The body is not valid JSON / 请求体不是有效的 JSON",
                {"body": [f"Invalid JSON: {str(exc)[:120]}"]},
            ) from exc

    def handle_error(
        self, error: ma.ValidationError, req: Any, schema: ma.Schema, **_: Any
    ) -> NoReturn:
        # webargs nests the messages under the one location parsed: {"json": {...}}.
        (messages,) = error.messages.values()
        raise DomainError(INVALID, flatten(messages))


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """{field: [..] | {index: [..]}} → {"field" | "field.index": [..]}; "_schema" → "body"."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "body" if key == "_schema" and not prefix else str(key)
            name = f"{prefix}.{name}" if prefix else name
            if isinstance(value, dict):
                out.update(flatten(value, name))
            else:
                out.setdefault(name, []).extend(_strings(value))
    else:
        out[prefix or "body"] = _strings(messages)
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


PARSER = ApiParser()


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", "600 per minute")


def _on_domain_error(err: DomainError):  # noqa: ANN202 - a Flask response tuple
    if err.status == 403:
        lookup.discard()
        deny(None, err.message)
    response, status = error_response(err.status, err.code, err.message, err.fields)
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="techfin"'
    return response, status


def _on_integrity_error(err: IntegrityError):  # noqa: ANN202
    # Two writers raced past a uniqueness check: the second one conflicts.
    lookup.discard()
    log.info("integrity error on %s %s: %s", request.method, request.path, err.orig)
    return error_response(409, Conflict.code, "This conflicts with an existing record / 记录冲突")


def _on_data_error(err: DataError):  # noqa: ANN202
    # The schemas should have refused the value already; never answer a bad value with a 500.
    lookup.discard()
    log.warning("data error on %s %s: %s", request.method, request.path, err.orig)
    return error_response(
        422, DomainError.code, INVALID, {"body": ["Value out of range / 数值超出范围"]}
    )


# Markup characters only ever occur inside JSON strings, where \u escapes mean the same: a
# browser sniffing or mis-rendering a response then never sees a tag a user typed.
_MARKUP_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


def _escape_markup(response: Response) -> Response:
    if response.mimetype == "application/json" and not response.direct_passthrough:
        data = response.get_data()
        for raw, escaped in _MARKUP_ESCAPES:
            data = data.replace(raw, escaped)
        response.set_data(data)
    return response


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = PARSER


def resource_blueprint(name: str, resource: str, description: str) -> ApiBlueprint:
    """A bearer-token-only, CSRF-exempt, rate-limited blueprint at /api/v1/<resource>."""
    bp = ApiBlueprint(name, __name__, url_prefix=f"/api/v1/{resource}", description=description)
    bp.before_request(auth.authenticate)
    bp.after_request(_escape_markup)
    bp.register_error_handler(DomainError, _on_domain_error)
    bp.register_error_handler(IntegrityError, _on_integrity_error)
    bp.register_error_handler(DataError, _on_data_error)
    csrf.exempt(bp)
    limiter.shared_limit(_rate_limit, scope="api")(bp)  # one budget for the whole API
    return bp


def errors(bp: Blueprint, *codes: int):  # noqa: ANN201 - a decorator
    """Document the error answers of an operation (all share the envelope)."""

    def decorate(fn: T) -> T:
        for code in (401, 429, *codes):
            # smorest registers one response per HTTPStatus, named like the enum member.
            fn = bp.alt_response(code, response=HTTPStatus(code).name)(fn)
        return fn

    return decorate


def body_doc(
    schema: type[ma.Schema], *, partial: bool = False, example: dict[str, Any] | None = None
) -> dict[str, Any]:
    """requestBody documentation; the body itself is parsed in the view, after access checks.

    The example is a body the demo/sample data accepts: Swagger UI pre-fills it, and the fuzz
    test sends it, so valid writes are exercised and not only refusals.
    """
    instance = schema(partial=True) if partial else schema
    media: dict[str, Any] = {"schema": instance}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


def parse_body(schema: type[ma.Schema], *, partial: bool = False) -> dict[str, Any]:
    """The validated JSON body (400 when it is not JSON, 422 with field messages if invalid)."""
    return PARSER.parse(schema(partial=partial), request, location="json")


# ------------------------------------------------------------------ access helpers


def deny(obj: Any, reason: str) -> None:
    """Audit an access denial (the answer itself is a 403 or a 404)."""
    view_args = request.view_args or {}
    object_id = next((v for v in view_args.values() if isinstance(v, int)), None)
    audit.record_now(
        "denied",
        obj,
        object_type=(obj.__tablename__.rstrip("s") if obj is not None else request.blueprint or ""),
        user=g.get("api_user"),
        detail={"reason": reason[:200], "method": request.method, "path": request.path[:200],
                **({"object_id": object_id} if obj is None and object_id is not None else {})},
    )  # fmt: skip


def require(allowed: bool) -> None:
    """403 unless allowed (for a row the caller can see, or a role that may never do this)."""
    if not allowed:
        raise Forbidden(FORBIDDEN)


def _hidden(row: Any) -> None:
    deny(row, "not visible to the caller")


def visible(user: Any, model: type[T], row_id: int) -> T:
    """The row if the caller may see it; 404 alike for missing and hidden rows (the attempt
    on a hidden one is audited)."""
    return lookup.visible(user, model, row_id, on_hidden=_hidden)
