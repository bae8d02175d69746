"""gunicorn reads this file from the working directory (`make serve`, the benchmarks)."""

from __future__ import annotations


def when_ready(server) -> None:  # noqa: ANN001 - gunicorn's hook signature
    # Only with --preload does the master hold the app the workers are forked from.
    if not server.cfg.preload_app:
        return
    from techfin.warmup import warm
    from wsgi import app

    server.log.info("warmed matching and search in %.1f s", warm(app))
    # What the master loaded (libraries, jieba's dictionary, the model, the catalogue) is
    # shared with the workers copy-on-write; the collector's passes over those objects would
    # write to their pages in each worker and copy them. Frozen, it leaves them alone (the
    # gc module's advice for fork without exec).
    import gc

    gc.collect()
    gc.freeze()
