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

Under a WSGI server (AFTER_RESPONSE = "thread", the default outside tests) the close hands
the work to one thread of the process instead of running it there: gunicorn's sync worker
takes its next request only after close() returns, and a write's index sync costs 15–25 ms
at region scale, 90–130 ms when it merges segments; the next request, often the same
user's page after the redirect, waited for all of it. The thread runs one job at a time
(two syncs of one index would wait for each other's writer lock anyway) and a job already
waiting is not queued twice: a sync applies everything committed before it starts. At
exit the process finishes what is queued (concurrent.futures joins its threads); a
process killed before that loses only the wake-up or the sync, which the outbox, the next
search's catch-up and the scheduler's minute sweep make up for.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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


class _Background:
    """One thread per process that runs the work of closed responses, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: set[Callable[[], None]] = set()  # queued, not started yet

    def submit(self, flask_app: Flask, work: list[Callable[[], None]]) -> None:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # Made in the process that uses it: a pool made before a fork (gunicorn
                # --preload) would have no thread in the worker.
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="after-response")
                self._pid, self._waiting = os.getpid(), set()
            fresh = [fn for fn in work if fn not in self._waiting]
            if not fresh:
                return
            self._waiting.update(fresh)
            self._pool.submit(self._run, flask_app, fresh)

    def _run(self, flask_app: Flask, work: list[Callable[[], None]]) -> None:
        with self._lock:
            self._waiting.difference_update(work)
        with flask_app.app_context():
            _run_all(work)

    def drain(self) -> None:
        """Wait until what was handed over so far has run (tests)."""
        with self._lock:
            pool = self._pool if self._pid == os.getpid() else None
        if pool is not None:
            pool.submit(lambda: None).result()


background = _Background()


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
            if not pending:
                return
            if flask_app.config.get("AFTER_RESPONSE", "inline") == "thread":
                background.submit(flask_app, list(pending))
                return
            with flask_app.app_context():
                _run_all(list(pending))

        response.call_on_close(run)
        return response
