"""The matching library stays a library: no web framework, no ORM, no pickle."""

from __future__ import annotations

import ast
from pathlib import Path

import techfin.matching

FORBIDDEN = (
    "flask",
    "sqlalchemy",
    "werkzeug",
    "techfin.models",
    "techfin.extensions",
    "techfin.web",
)
UNSAFE = ("pickle", "joblib", "cloudpickle", "dill")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_framework_orm_or_pickle_imports() -> None:
    package = Path(techfin.matching.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in _imports(path):
            low = name.lower()
            assert not low.startswith(FORBIDDEN), f"{path.name} imports {name}"
            assert low.split(".")[0] not in UNSAFE, f"{path.name} imports {name}"
