"""The layout rules of DESIGN.md, read from the source: views are thin (they query nothing
themselves: services do), the libraries know no Flask, and the dependencies point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "techfin"
VIEW_PACKAGES = ("web", "api")

# (file relative to techfin/, what) → why it may stay. Empty is the goal; an entry needs a
# reason a reviewer accepts, not "it was there".
ALLOWED: dict[tuple[str, str], str] = {
    ("api/core.py", "from sqlalchemy.exc import DataError, IntegrityError"): (
        "exception classes for the API's error handlers (a raced uniqueness check is a 409, "
        "an out-of-range value a 422): no query is made"
    ),
}

# Calls that read or write the database whatever object they are called on.
DB_CALLS = {"get_or_404", "first_or_404", "one_or_404"}
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "func"}


def _sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _name(node: ast.AST) -> str:
    """Dotted name of a Name/Attribute chain ("db.session.get"), else ""."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def database_access(source: str) -> list[str]:
    """Every place in `source` that talks to the database or builds SQL itself."""
    found = []
    sql_names: set[str] = set()  # names imported from sqlalchemy (select, func, …)
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and node.module:
            names = ", ".join(a.name for a in node.names)
            text = f"from {node.module} import {names}"
            if node.module.split(".")[0] in ("sqlalchemy", "flask_sqlalchemy"):
                found.append(text)
                sql_names.update(a.asname or a.name for a in node.names)
            elif node.module == "techfin.extensions" and "db" in names.split(", "):
                found.append(text)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("sqlalchemy", "flask_sqlalchemy"):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.Attribute):
            dotted = _name(node)
            if dotted.startswith("db.") or dotted == "db.session":
                found.append(f"line {line}: {dotted}")
            elif node.attr == "query" and dotted[:1].isupper():
                found.append(f"line {line}: {dotted} (Model.query)")
        elif isinstance(node, ast.Call):
            called = _name(node.func)
            last = called.rsplit(".", 1)[-1]
            if last in DB_CALLS or (called in sql_names and called in SQL_BUILDERS):
                found.append(f"line {line}: {called}()")
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("path", _sources(*VIEW_PACKAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_views_query_nothing_themselves(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    found = [f for f in database_access(path.read_text(encoding="utf-8"))
             if (rel, f) not in ALLOWED]  # fmt: skip
    assert not found, f"{rel} talks to the database itself (call a service instead): {found}"


def test_every_allowed_exception_is_still_needed() -> None:
    for rel, what in ALLOWED:
        assert what in database_access((ROOT / rel).read_text(encoding="utf-8")), (rel, what)


@pytest.mark.parametrize(
    "source",
    [
        "from techfin.extensions import db\nrows = db.session.execute(q)",
        "from sqlalchemy import select\nstmt = select(Need)",
        "need = Need.query.get(1)",
        "need = db.get_or_404(Need, 1)",
        "import sqlalchemy",
        "from techfin.extensions import csrf, db",
    ],
)
def test_the_checker_sees_database_access(source: str) -> None:
    assert database_access(source)


def test_the_checker_lets_service_calls_pass() -> None:
    source = (
        "from techfin.services import lookup, workspace\n"
        "from techfin.extensions import csrf, limiter\n"
        "rows = workspace.needs(org)\nneed = lookup.owned(user, Need, 1)\n"
        "form.query.data\nrequest.args.get('q')\n"
    )
    assert database_access(source) == []


# ------------------------------------------------------------------ the libraries
# search and matching take plain data and know nothing of Flask, requests or the ORM, so
# they are unit-tested without an app. Matching's model files are never pickles (skops
# only); the search engine names pickle only to recognise Whoosh's own corrupt segments.

LIBRARY_FORBIDDEN = {
    "search": ("flask", "sqlalchemy", "werkzeug", "techfin.models", "techfin.extensions",
               "techfin.web", "techfin.api", "jieba.analyse"),
    "matching": ("flask", "sqlalchemy", "werkzeug", "techfin.models", "techfin.extensions",
                 "techfin.web", "techfin.api"),
}  # fmt: skip
UNSAFE = {"matching": ("pickle", "joblib", "cloudpickle", "dill"), "search": ()}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(LIBRARY_FORBIDDEN))
def test_search_and_matching_import_no_framework_orm_or_pickle(package: str) -> None:
    files = _sources(package)
    assert len(files) >= 5
    for path in files:
        for name in _imports(path):
            low = name.lower()
            where = f"{path.relative_to(ROOT)} imports {name}"
            assert not low.startswith(LIBRARY_FORBIDDEN[package]), where
            assert low.split(".")[0] not in UNSAFE[package], where


def test_services_and_models_do_not_import_the_views() -> None:
    """web, api → services → models: a service never reaches back into a page or the API."""
    for path in _sources("services", "models", "search", "matching"):
        bad = [n for n in _imports(path) if n.startswith(("techfin.web", "techfin.api"))]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_blueprints_are_registered_from_one_list() -> None:
    """The page blueprints are named in techfin/web/__init__.py's BLUEPRINTS alone: the
    application factory registers that list and nothing else registers a page blueprint."""
    registering = [
        str(path.relative_to(ROOT))
        for path in [ROOT / "__init__.py", *_sources("web")]
        if "register_blueprint(" in path.read_text(encoding="utf-8")
    ]
    assert registering == ["web/__init__.py"], registering


# Modules of form parts several blueprints share: field builders, validators, the filter base.
SHARED_FORM_MODULES = {"forms.py", "form_parts.py", "operations_form_parts.py", "fields.py"}


def _form_classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(_name(base) in {"FlaskForm", "FilterForm"} for base in node.bases)
    ]


def test_forms_sit_next_to_their_blueprint() -> None:
    """A blueprint's forms are in its own module or in `<blueprint>_forms.py` beside it, and
    only that blueprint imports them; shared modules hold parts, not forms (bar the filter
    base)."""
    web = ROOT / "web"
    for path in sorted(web.glob("*_forms.py")):
        owner = path.name.removesuffix("_forms.py")
        assert (web / f"{owner}.py").exists(), f"{path.name} has no blueprint module {owner}.py"
        module = f"techfin.web.{path.stem}"
        for other in _sources("web", "api"):
            if other.name in {path.name, f"{owner}.py"}:
                continue
            tree = ast.parse(other.read_text(encoding="utf-8"))
            users = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     and n.module == module]  # fmt: skip
            assert not users, f"{other.name} uses {path.name}: forms belong to one blueprint"
    for name in SHARED_FORM_MODULES:
        if (web / name).exists():
            assert set(_form_classes(web / name)) <= {"FilterForm"}, name
