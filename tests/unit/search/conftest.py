"""Fixtures for the search library: a small hand-made corpus indexed in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_corpus import DOCS

from techfin.search import SearchEngine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    """Read-only engine over DOCS, shared by a module's tests."""
    eng = SearchEngine(tmp_path_factory.mktemp("ix"))
    eng.rebuild(DOCS, upto_seq=0)
    return eng


@pytest.fixture()
def fresh(tmp_path: Path) -> SearchEngine:
    """An engine over DOCS that a test may change."""
    eng = SearchEngine(tmp_path / "index", writer_timeout=20)
    eng.rebuild(DOCS, upto_seq=0)
    return eng
