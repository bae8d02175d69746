"""skops persistence: round trip, refusing untrusted or broken files, ModelStore reloads."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from techfin.matching import (
    ModelLoadError,
    ModelNotFound,
    ModelStore,
    Prior,
    TrainedModel,
    UntrustedModelError,
    load_model,
    save_model,
    train,
)
from techfin.matching.persistence import load_model_file, model_files


def _retrained(examples, when: datetime) -> TrainedModel:
    return train(examples, now=when, refit=False)


def test_round_trip(tmp_path: Path, model: TrainedModel, examples) -> None:
    path = save_model(model, tmp_path / "models")
    assert path.name == f"model-{model.version}.skops"
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.name]  # no temp file left
    loaded = load_model(tmp_path / "models")
    assert loaded.metadata == model.metadata
    np.testing.assert_array_equal(loaded.score(examples.X[:200]), model.score(examples.X[:200]))
    assert loaded.info == model.info


def test_newest_version_wins(tmp_path: Path, examples) -> None:
    old = _retrained(examples, datetime(2024, 1, 1, tzinfo=UTC))
    new = _retrained(examples, datetime(2024, 6, 1, tzinfo=UTC))
    save_model(new, tmp_path)
    save_model(old, tmp_path)
    assert load_model(tmp_path).version == new.version
    assert [p.name for p in model_files(tmp_path)] == [
        f"model-{old.version}.skops",
        f"model-{new.version}.skops",
    ]


def test_untrusted_types_are_refused(tmp_path: Path, model: TrainedModel) -> None:
    path = tmp_path / "model-29990101T000000.000000Z.skops"
    payload = {
        "pipeline": model.pipeline,
        "metadata_json": json.dumps(model.metadata),
        "hook": os.system,
    }
    sio.dump(payload, path)
    with pytest.raises(UntrustedModelError) as err:
        load_model(tmp_path)
    assert any(t.endswith(".system") for t in err.value.types)
    assert isinstance(err.value, ModelLoadError)


def test_a_type_reference_edited_into_the_schema_is_refused(
    tmp_path: Path, model: TrainedModel
) -> None:
    good = save_model(model, tmp_path / "src")
    crafted = tmp_path / "model-29990101T000000.000000Z.skops"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(crafted, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "schema.json":
                schema = json.loads(data)
                schema["content"]["metadata_json"] = {
                    "__class__": "system",
                    "__module__": "os",
                    "__loader__": "TypeNode",
                    "__id__": 999,
                }
                data = json.dumps(schema).encode()
            zout.writestr(item, data)
    with pytest.raises(UntrustedModelError) as err:
        load_model_file(crafted)
    assert err.value.types == ["os.system"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_file_raises_model_load_error(
    tmp_path: Path, model: TrainedModel, damage: str
) -> None:
    path = save_model(model, tmp_path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"")
    with pytest.raises(ModelLoadError):
        load_model(tmp_path)


def test_wrong_contents_are_refused(tmp_path: Path, model: TrainedModel) -> None:
    sio.dump({"something": [1, 2, 3]}, tmp_path / "model-1.skops")
    with pytest.raises(ModelLoadError, match="pipeline"):
        load_model(tmp_path)
    other = replace(model, metadata={**model.metadata, "features": ["a", "b"], "version": "2"})
    save_model(other, tmp_path)
    with pytest.raises(ModelLoadError, match="features"):
        load_model(tmp_path)


def test_no_model_yet(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        load_model(tmp_path / "missing")
    store = ModelStore(tmp_path / "missing")
    assert isinstance(store.get(), Prior)
    assert store.info == {"kind": "prior", "version": "prior-1"}


def test_model_store_picks_up_new_and_broken_models(tmp_path: Path, examples) -> None:
    store = ModelStore(tmp_path, check_interval=0)
    assert store.get().info["kind"] == "prior"

    first = _retrained(examples, datetime(2024, 1, 1, tzinfo=UTC))
    save_model(first, tmp_path)
    assert store.get().info == {"kind": "learned", "version": first.version}
    same = store.get()
    assert store.get() is same  # unchanged file: no reload

    second = _retrained(examples, datetime(2024, 2, 1, tzinfo=UTC))
    save_model(second, tmp_path)
    assert store.get().info["version"] == second.version

    (tmp_path / f"model-{second.version}.skops").write_bytes(b"corrupt")
    assert isinstance(store.get(), Prior)  # the caller falls back to the prior
    assert store.error and "unreadable" in store.error

    third = _retrained(examples, datetime(2024, 3, 1, tzinfo=UTC))
    save_model(third, tmp_path)
    assert store.get().info["version"] == third.version
    assert store.error is None


def test_model_store_checks_at_most_every_interval(tmp_path: Path, examples) -> None:
    store = ModelStore(tmp_path, check_interval=3600)
    assert isinstance(store.get(), Prior)
    save_model(_retrained(examples, datetime(2024, 1, 1, tzinfo=UTC)), tmp_path)
    assert isinstance(store.get(), Prior)  # within the interval: not looked at yet
    assert store.refresh().info["kind"] == "learned"


def test_a_thread_arriving_while_another_loads_the_model_waits_for_it(
    tmp_path: Path, examples
) -> None:
    """A just-started worker's second thread must not rank with the Prior while the first
    is still loading the model (it once stored a whole chunk of `prior` rankings)."""
    import threading

    save_model(_retrained(examples, datetime(2024, 1, 1, tzinfo=UTC)), tmp_path)

    class SlowStore(ModelStore):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            self.loading, self.go = threading.Event(), threading.Event()

        def _reload(self) -> None:
            self.loading.set()
            assert self.go.wait(10)
            super()._reload()

    store = SlowStore(tmp_path, check_interval=3600)
    got: list = []
    first = threading.Thread(target=lambda: got.append(store.get()))
    first.start()
    assert store.loading.wait(10)
    second = threading.Thread(target=lambda: got.append(store.get()))
    second.start()
    second.join(0.3)  # it must be waiting for the load, not answering with the Prior
    store.go.set()
    first.join(10)
    second.join(10)
    assert [s.info["kind"] for s in got] == ["learned", "learned"]
