"""Work a request leaves for after its response has gone out.

Keeping derived data current after a write (the node's search index follows the outbox,
the task queue gets a wake-up) costs a request 10–25 ms at region scale, none of which the
user needs to wait for: the answer is already decided and committed. So a request's
teardown hands such work to `later()`, and it runs when the WSGI server closes the
response, after the last byte was sent (PEP 3333 `close()`), in a fresh application
context. Reads that must see the change do not depend on it: a search catches up with the
outbox first, a matches page reads the database.

If the response never gets as far as `after_request` (an exception propagated out of
Flask), the work runs in the teardown as before. A failure is logged and never reaches the
client; the database keeps what the work would have brought up to date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, current_app, g
from flask.testing import FlaskClient

log = logging.getLogger(__name__)

_PENDING = "_after_response"


def later(fn: Callable[[], None]) -> None:
    """Run `fn` (no arguments, inside an app context) once the response is sent; inline
    when this request's response will not be closed by the server."""
    pending: list[Callable[[], None]] | None = g.get(_PENDING)
    if pending is None:
        _run_all([fn])
    else:
        pending.append(fn)


def _run_all(work: list[Callable[[], None]]) -> None:
    for fn in work:
        try:
            fn()
        except Exception:  # noqa: BLE001 - the answer is sent; derived data catches up later
            log.exception("work after the response failed: %s", getattr(fn, "__name__", fn))


class ClosingClient(FlaskClient):
    """The test client closes every response as a WSGI server does (werkzeug's
    `buffered`), so the work deferred to the close runs before a test's next line."""

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - FlaskClient's signature
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def init_app(app: Flask) -> None:
    app.test_client_class = ClosingClient

    @app.after_request
    def _hand_over(response: Response) -> Response:
        pending: list[Callable[[], None]] = g.setdefault(_PENDING, [])
        flask_app = current_app._get_current_object()  # type: ignore[attr-defined]

        def run() -> None:
            if pending:
                with flask_app.app_context():
                    _run_all(list(pending))

        response.call_on_close(run)
        return response
