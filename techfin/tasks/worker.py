"""`flask worker`: the task consumer and the scheduler, in the foreground until SIGTERM
(which lets the running tasks finish: Huey's graceful signal is set to TERM)."""

from __future__ import annotations

import logging
import time

import click
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker threads (default: TASK_WORKERS, 2).")  # fmt: skip
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Also fire the scheduled jobs (each still runs once across machines).")  # fmt: skip
@with_appcontext
def worker(workers: int | None, scheduler: bool) -> None:
    """Run the task consumer (and the scheduler) until SIGTERM."""
    from flask import current_app

    from techfin.extensions import db
    from techfin.services import matching
    from techfin.tasks import huey, jobs, wake

    if huey.immediate:
        raise click.ClickException("TASK_QUEUE_URL=immediate runs tasks inline: no worker needed")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Marks left by a worker that died, or whose wake-up was lost, are picked up at once.
    if matching.pending_marks():
        wake(jobs.refresh_matches)
    # The catalogue side and the model are loaded before the first task, not by it: the
    # first wake-up after a start then costs what any other costs (the threads share them).
    started = time.monotonic()
    # This process's tasks may rank with track records up to MATCHING_HISTORY_TTL old, as
    # pages do (snapshot._history_ttl).
    current_app.extensions[matching.WORKER_FLAG] = True
    matching.snapshot(), matching.scorer()
    click.echo(f"techfin worker: catalogue and model loaded in {time.monotonic() - started:.1f} s")
    db.session.remove()
    count = workers or int(current_app.config.get("TASK_WORKERS", 2))
    click.echo(f"techfin worker: {count} thread(s), scheduler {'on' if scheduler else 'off'}, "
               f"queue {current_app.config['TASK_QUEUE_URL'].split('@')[-1]}")  # fmt: skip
    consumer = huey.create_consumer(
        workers=count, worker_type="thread", periodic=scheduler, graceful_signal="TERM",
        check_worker_health=True, initial_delay=0.05, max_delay=1.0,
    )  # fmt: skip
    consumer.run()
