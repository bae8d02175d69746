"""gunicorn reads this file from the working directory (`make serve`, the benchmarks)."""

from __future__ import annotations


def when_ready(server) -> None:  # noqa: ANN001 - gunicorn's hook signature
    # Only with --preload does the master hold the app the workers are forked from.
    if not server.cfg.preload_app:
        return
    from techfin.warmup import warm
    from wsgi import app

    server.log.info("warmed matching and search in %.1f s", warm(app))
