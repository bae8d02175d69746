"""Saving and loading trained models with skops (never pickle or joblib).

One file per model, `model-<version>.skops`, holding {"pipeline": Pipeline, "metadata_json":
str} and, for the kind-aware model, "design_json": str (kindmodel.Design: kinds, means,
scales, institution and product keys, as JSON so it needs no trusted type); versions are
UTC timestamps, so the newest sorts last. A file is written under a
temporary name in the same directory and renamed into place, so a reader sees either the
whole file or none of it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from techfin.matching.features import FEATURES
from techfin.matching.kindmodel import Design
from techfin.matching.scoring import Prior, Scorer, TrainedModel

log = logging.getLogger(__name__)

PREFIX, SUFFIX = "model-", ".skops"
# Types skops does not trust by default that our files may legitimately contain. A
# StandardScaler + LogisticRegression pipeline, or the kind-aware model's one-step
# LogisticRegression pipeline with its JSON design, needs none with skops 0.16; anything
# listed in a file beyond this set (e.g. "posix.system") makes the load fail.
ALLOWED_TYPES: frozenset[str] = frozenset()


class ModelLoadError(Exception):
    """The model file is missing, unreadable, tampered with or of another feature set;
    callers fall back to the Prior."""


class ModelNotFound(ModelLoadError):  # noqa: N818 - a kind of ModelLoadError
    """No model file in the directory (nothing trained yet)."""


class UntrustedModelError(ModelLoadError):
    """The file references types outside ALLOWED_TYPES; it was not loaded."""

    def __init__(self, path: Path, types: list[str]) -> None:
        super().__init__(f"{path.name}: untrusted types {types}")
        self.types = types


def model_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Model files in `directory`, oldest version first."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


def save_model(model: TrainedModel, directory: str | os.PathLike[str]) -> Path:
    """Write `model` atomically as model-<version>.skops in `directory`; returns the path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"{PREFIX}{model.version}{SUFFIX}"
    payload = {
        "pipeline": model.pipeline,
        "metadata_json": json.dumps(model.metadata, ensure_ascii=False),
    }
    if model.design is not None:
        payload["design_json"] = json.dumps(model.design.to_json(), ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=SUFFIX)
    os.close(fd)
    try:
        sio.dump(payload, tmp)
        with open(tmp, "rb") as fh:  # flush to disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def load_model_file(path: str | os.PathLike[str]) -> TrainedModel:
    """Load one model file, trusting only the types it needs from ALLOWED_TYPES."""
    p = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=p)
    except Exception as exc:  # a truncated or garbled zip fails in many different ways
        raise ModelLoadError(f"{p.name}: unreadable ({exc.__class__.__name__}: {exc})") from exc
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise UntrustedModelError(p, refused)
    try:
        payload = sio.load(p, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelLoadError(f"{p.name}: cannot load ({exc.__class__.__name__}: {exc})") from exc
    return _validate(p, payload)


def _validate(p: Path, payload: Any) -> TrainedModel:
    if not isinstance(payload, dict):
        raise ModelLoadError(f"{p.name}: not a techfin model file")
    pipe = payload.get("pipeline")
    try:
        metadata = json.loads(payload.get("metadata_json") or "{}")
        design_json = payload.get("design_json")
        design = Design.from_json(json.loads(design_json)) if design_json else None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ModelLoadError(f"{p.name}: bad metadata") from exc
    if design is None:
        ok = (
            isinstance(pipe, Pipeline)
            and len(pipe.steps) == 2
            and isinstance(pipe[0], StandardScaler)
            and isinstance(pipe[-1], LogisticRegression)
            and hasattr(pipe[-1], "coef_")
        )
        if not ok:
            raise ModelLoadError(
                f"{p.name}: not a fitted StandardScaler+LogisticRegression pipeline"
            )
        width = len(FEATURES)
    else:
        ok = (
            isinstance(pipe, Pipeline)
            and len(pipe.steps) == 1
            and isinstance(pipe[-1], LogisticRegression)
            and hasattr(pipe[-1], "coef_")
        )
        if not ok:
            raise ModelLoadError(f"{p.name}: not a fitted kind-aware LogisticRegression pipeline")
        width = design.width
        if design.features != list(FEATURES):
            raise ModelLoadError(
                f"{p.name}: trained on features {design.features}, not {list(FEATURES)}"
            )
    if metadata.get("features") != list(FEATURES) or pipe[-1].coef_.shape != (1, width):
        raise ModelLoadError(
            f"{p.name}: trained on features {metadata.get('features')}, not {list(FEATURES)}"
        )
    try:
        return TrainedModel(pipe, metadata, design)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModelLoadError(f"{p.name}: inconsistent model ({exc})") from exc


def load_model(directory: str | os.PathLike[str]) -> TrainedModel:
    """The newest model in `directory`; ModelNotFound if there is none, ModelLoadError if it
    cannot be trusted or read (older files are not tried: a bad newest file is an incident
    to notice, and the Prior is a safe answer meanwhile)."""
    files = model_files(directory)
    if not files:
        raise ModelNotFound(f"no {PREFIX}*{SUFFIX} in {directory}")
    return load_model_file(files[-1])


class ModelStore:
    """Per-process cache of the newest model in a directory; reloads when it changes.

    `get()` stats the directory at most every `check_interval` seconds and reloads when
    the newest file's name, size or mtime changed, so workers pick up a newly trained model
    without a restart. When there is no model or it cannot be loaded, `get()` returns the
    Prior and `error` says why.
    """

    def __init__(self, directory: str | os.PathLike[str], check_interval: float = 5.0) -> None:
        self.directory = Path(directory)
        self.check_interval = check_interval
        self.error: str | None = None
        self._lock = threading.Lock()
        self._prior = Prior()
        self._scorer: Scorer = self._prior
        self._key: tuple | None = None
        self._checked = -float("inf")

    def _newest_key(self) -> tuple | None:
        files = model_files(self.directory)
        if not files:
            return None
        try:
            st = files[-1].stat()
        except FileNotFoundError:  # removed between listing and stat
            return None
        return (files[-1].name, st.st_size, st.st_mtime_ns)

    def get(self) -> Scorer:
        """The current scorer (TrainedModel or Prior)."""
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return self._scorer
        with self._lock:
            if now - self._checked < self.check_interval:
                return self._scorer
            key = self._newest_key()
            if key != self._key:
                self._key = key
                self._reload()
            # Only now: a thread that skipped the lock on a fresh _checked while this one was
            # still loading would have ranked with the Prior (a just-started worker stored a
            # chunk of `prior` rankings that way).
            self._checked = now
            return self._scorer

    def refresh(self) -> Scorer:
        """Check the directory now, ignoring the interval."""
        self._checked = -float("inf")
        return self.get()

    def _reload(self) -> None:
        try:
            model = load_model(self.directory)
        except ModelNotFound as exc:
            self._scorer, self.error = self._prior, str(exc)
        except ModelLoadError as exc:
            log.warning("matching model not loaded, ranking with the prior: %s", exc)
            self._scorer, self.error = self._prior, str(exc)
        else:
            self._scorer, self.error = model, None
            log.info("matching model %s loaded", model.version)

    @property
    def info(self) -> dict[str, Any]:
        return self.get().info
