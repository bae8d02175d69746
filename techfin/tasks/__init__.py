"""The task queue: Huey, with Redis as the broker in production and an SQLite file as the
embedded default (`make run` needs no other server).

The database stays the truth: what needs recomputing is written in the same transaction
as the change (dirty marks, the search outbox, digest claims, job runs), and a message on
the queue only wakes a worker up. A lost message, a dead worker or a Redis restart delays
derived data until the next wake-up or the minute sweep; it never loses it.

`TASK_QUEUE_URL` chooses the store: ``redis://…`` (production, several machines),
``sqlite:///path`` (embedded default) or ``immediate`` (tests: a task runs inline when it
is enqueued, so the suite sees derived data at once; dedicated tests run a real worker).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# One queue per process, configured by init_app: Huey binds tasks to an instance at import
# time, so the instance is created here and its storage is chosen from the app's config.
# (Huey is pinned exactly: re-pointing storage_class/storage_kwargs relies on its layout.)
huey = Huey("techfin", results=False, utc=True, immediate=True)

_APP: Any = None  # the Flask app tasks run in (set by init_app)


def configure(url: str, name: str = "techfin") -> None:
    """Point the queue at its store: redis://…, sqlite:///path or immediate."""
    huey.name = name
    if url == "immediate":
        huey.storage_class, huey.storage_kwargs = None, {}
        huey._immediate = True
    elif url.startswith(("redis://", "rediss://", "unix://")):
        huey.storage_class, huey.storage_kwargs = RedisStorage, {"url": url}
        huey._immediate = False
    elif url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str(path), "timeout": 10}
        huey._immediate = False
    else:
        raise ValueError(f"TASK_QUEUE_URL must be redis://…, sqlite:///… or immediate: {url!r}")
    huey.storage = huey.create_storage()


def app() -> Any:
    if _APP is None:
        raise RuntimeError("techfin.tasks.init_app(app) has not run in this process")
    return _APP


def task(**options: Any) -> Callable[[F], F]:
    """huey.task that runs the function inside a fresh app context (own DB session)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from techfin.extensions import db

            with app().app_context():
                try:
                    return fn(*args, **kwargs)
                finally:
                    db.session.remove()

        return huey.task(name=fn.__name__, **options)(run)  # type: ignore[return-value]

    return decorate


def wake(task_fn: Callable[..., Any], *args: Any) -> bool:
    """Enqueue a wake-up; never raises. False when the queue could not be reached: the
    database already holds what is to be done, so the next wake-up or the sweep does it."""
    try:
        task_fn(*args)
        return True
    except Exception:  # noqa: BLE001 - a broker outage must never fail a committed write
        log.warning("task queue unreachable; %s will run at the next sweep",
                    getattr(task_fn, "name", task_fn), exc_info=True)  # fmt: skip
        return False


def queue_depth() -> dict[str, int | None]:
    """Messages waiting and scheduled (None when the broker cannot be reached)."""
    try:
        return {"pending": huey.pending_count(), "scheduled": huey.scheduled_count()}
    except Exception:  # noqa: BLE001 - the system page shows the outage instead
        return {"pending": None, "scheduled": None}


def init_app(flask_app: Any) -> None:
    global _APP
    _APP = flask_app
    configure(flask_app.config["TASK_QUEUE_URL"], flask_app.config["TASK_QUEUE_NAME"])
    from techfin.tasks import jobs  # noqa: F401 - registers the tasks and the schedule
