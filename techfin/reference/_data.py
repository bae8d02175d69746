"""Loading of the packaged data files (read once per process)."""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from importlib.resources import files
from typing import Any


def _text(name: str) -> str:
    # importlib.resources rather than __file__ so that the files are found inside a wheel
    # or a zip import as well as in a source checkout.
    return (files("techfin.reference") / "data" / name).read_text(encoding="utf-8")


@cache
def csv_rows(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a packaged CSV file as dicts keyed by the header."""
    return tuple(csv.DictReader(io.StringIO(_text(name))))


@cache
def json_data(name: str) -> Any:
    """A packaged JSON file, parsed."""
    return json.loads(_text(name))
