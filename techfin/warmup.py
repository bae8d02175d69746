"""Load the heavy parts once in the gunicorn master, before the workers are forked.

Without it every worker paid 6–12 s on its first ranked page (scikit-learn and jieba imports,
jieba's dictionary, the model file, the catalogue snapshot), after every start and every
worker restart. With `--preload` the master does this once and the workers inherit it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


def warm(app: Flask) -> float:
    """Build the matching snapshot and load the model and the segmenter; seconds taken.

    Never fails the start: an empty or not yet migrated database just leaves the work to
    the first request. Pooled connections are closed afterwards so no worker inherits one.
    """
    from techfin.extensions import db
    from techfin.search.analysis import segment
    from techfin.services import matching

    started = time.perf_counter()
    with app.app_context():
        try:
            segment("科技型中小企业知识产权质押贷款")
            matching.snapshot()
            matching.scorer()
        except Exception:  # noqa: BLE001 - a cold first request is better than no server
            log.warning("warm-up skipped; the first request will load the models", exc_info=True)
        finally:
            db.session.remove()
            db.engine.dispose()
    return time.perf_counter() - started
