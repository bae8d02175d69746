"""The search package is a library: no web framework, no ORM."""

from __future__ import annotations

import ast
from pathlib import Path

import techfin.search

FORBIDDEN = {"flask", "sqlalchemy", "werkzeug", "flask_sqlalchemy", "jieba.analyse"}


def test_search_package_never_imports_flask_or_sqlalchemy() -> None:
    package = Path(techfin.search.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name not in FORBIDDEN and name.split(".")[0] not in FORBIDDEN - {
                    "jieba.analyse"
                }, f"{source.name} imports {name}"
