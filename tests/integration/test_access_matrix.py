"""The access matrix: every URL rule × every role, compared with the policy tables.

Policy tables live in tests/integration/access_policy_*.py (pages: access_policy_web.py,
the JSON API: access_policy_api.py, and one per later feature). Every module's `*_POLICY`
dicts are merged: `{(METHOD, rule): {role: status | (statuses…) | "login"}}`. A module may
also define ROLE_ACCOUNTS, ROW_REFS (URL variable → (record type, sample ref)), URLS
(explicit URL per (METHOD, rule)), SETUP(ctx) (extra rows after the sample import) and
REQUEST_BODY (the JSON body of API writes); see access_policy_web.py for the contract.

A rule of app.url_map (except static files) without an entry fails
test_every_rule_has_a_policy_entry; an entry for a rule that no longer exists fails too.
HEAD is checked as GET and OPTIONS as 200 for everyone unless a table says otherwise.
"""

from __future__ import annotations

import importlib.util
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.security import generate_password_hash

ROLES = (
    "anonymous", "enterprise", "unverified_institution", "verified_institution", "operator", "admin"
)  # fmt: skip
# An administrator may do everything an operator may: a table that does not name "admin"
# expects for it what it expects for "operator" (the admin pages name it explicitly).
INHERITS = {"admin": "operator"}
SKIP_ENDPOINTS = {"static", "bootstrap.static"}
AUTO_METHODS = {"HEAD", "OPTIONS"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE = Path(__file__).parent.parent / "data" / "sample.jsonl"
POLICY_DIR = Path(__file__).parent

DEFAULT_ROLE_ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "enterprise": ("enterprise", "E-001"),
    "unverified_institution": ("investor", "F-002"),
    "verified_institution": ("bank", "F-001"),
    "operator": ("operator", None),
    "admin": ("admin", None),
}
DEFAULT_ROW_REFS: dict[str, tuple[str, str]] = {
    "enterprise_id": ("enterprise", "E-001"),
    "patent_id": ("patent", "PT-001"),
    "need_id": ("need", "N-001"),
    "funder_id": ("funder", "F-001"),
    "product_id": ("product", "P-001"),
    "outcome_id": ("outcome", "N-001/P-001/contacted/2026-09-05"),
}
_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([A-Za-z_]\w*)>")
_HASH = generate_password_hash("matrix-password-1")


def _load_policy_modules() -> list[ModuleType]:
    modules = []
    for path in sorted(POLICY_DIR.glob("access_policy_*.py")):
        spec = importlib.util.spec_from_file_location(f"_access_matrix_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


MODULES = _load_policy_modules()


@dataclass
class RuleCase:
    """One rule of one policy module, with the expectations of each of its methods."""

    module: ModuleType
    rule: str
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.rule


def _entries() -> list[tuple[ModuleType, str, str, dict[str, Any]]]:
    out = []
    for module in MODULES:
        for name, table in vars(module).items():
            if name.endswith("_POLICY") and isinstance(table, dict):
                for (method, rule), expected in table.items():
                    full = dict(expected)
                    for role, parent in INHERITS.items():
                        if role not in full and parent in full:
                            full[role] = full[parent]
                    out.append((module, method.upper(), rule, full))
    return out


def _rule_cases() -> list[RuleCase]:
    cases: dict[tuple[str, str], RuleCase] = {}
    for module, method, rule, expected in _entries():
        case = cases.setdefault((module.__name__, rule), RuleCase(module, rule))
        case.methods[method] = expected
    for case in cases.values():
        if "GET" in case.methods:
            case.methods.setdefault("HEAD", case.methods["GET"])
        case.methods.setdefault("OPTIONS", dict.fromkeys(ROLES, 200))
    return list(cases.values())


CASES = _rule_cases()


# ------------------------------------------------------------------ coverage of the tables


def _url_map_keys(app) -> set[tuple[str, str]]:  # noqa: ANN001
    keys = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        for method in rule.methods or ():
            keys.add((method, rule.rule))
    return keys


def test_every_rule_has_a_policy_entry(app):
    routes = _url_map_keys(app)
    declared: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, method, rule, _expected in _entries():
        declared[(method, rule)].append(module.__name__)
    missing = sorted(k for k in routes if k[0] not in AUTO_METHODS and k not in declared)
    stale = sorted(k for k in declared if k not in routes)
    twice = sorted(k for k, owners in declared.items() if len(owners) > 1)
    assert not missing, f"rules without an access policy entry: {missing}"
    assert not stale, f"policy entries for rules that do not exist: {stale}"
    assert not twice, f"rules with entries in more than one policy module: {twice}"


def test_every_entry_names_every_role():
    incomplete = [
        (method, rule, sorted(set(ROLES) - set(expected)))
        for _module, method, rule, expected in _entries()
        if set(expected) != set(ROLES)
    ]
    assert not incomplete, f"entries that do not give every role: {incomplete}"


def test_api_rules_are_covered_by_the_api_policy(app):
    api_routes = {k for k in _url_map_keys(app) if k[1].startswith("/api/")}
    api_routes = {k for k in api_routes if k[0] not in AUTO_METHODS}
    names = {m.__name__ for m in MODULES}
    if api_routes:
        assert any(n.endswith("access_policy_api") for n in names), (
            "the app has /api/ routes but tests/integration/access_policy_api.py is missing"
        )


# ------------------------------------------------------------------ the matrix itself


class Matrix:
    """Seeds the sample data and the role accounts; makes each role's requests."""

    def __init__(self, app, module: ModuleType) -> None:  # noqa: ANN001
        self.app = app
        self.module = module
        self.accounts = {**DEFAULT_ROLE_ACCOUNTS, **getattr(module, "ROLE_ACCOUNTS", {})}
        self.row_refs = {**DEFAULT_ROW_REFS, **getattr(module, "ROW_REFS", {})}
        self.urls = getattr(module, "URLS", {})
        self.user_ids: dict[str, int] = {}
        self.sessions: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    # seeding ---------------------------------------------------------------

    def reset(self) -> None:
        from techfin.extensions import db
        from techfin.tools.empty_tables import empty_tables

        with self.app.app_context():
            db.session.remove()
            empty_tables(db)
        self.seed()

    def seed(self) -> None:
        from techfin.extensions import db
        from techfin.models import User
        from techfin.services import accounts
        from techfin.services.interchange import import_file

        with self.app.app_context():
            report = import_file(SAMPLE)
            assert report.committed, [str(e) for e in report.errors]
            for role, (user_role, org_ref) in self.accounts.items():
                uid = self.add_user(f"{role}@matrix.test", user_role, org_ref)
                user = db.session.get(User, uid)
                self.user_ids[role] = uid
                self.sessions[role] = user.get_id()
                self.tokens[role] = accounts.create_api_token(user, "matrix")
            setup = getattr(self.module, "SETUP", None)
            if setup is not None:
                setup(self)
            db.session.remove()

    def add_user(
        self, email: str, role: str, org_ref: str | None = None, org_role: str = "owner"
    ) -> int:
        """An account with a fixed password hash (scrypt once per run, not per account)."""
        from techfin.extensions import db
        from techfin.models import Membership, User
        from techfin.services import accounts

        user = User(email=email, role=role, name=email.split("@")[0], password_hash=_HASH)
        db.session.add(user)
        if org_ref:
            org = accounts.find_organization(org_ref)
            db.session.add(Membership(user=user, organization=org, role=org_role))
        db.session.commit()
        return user.id

    def lookup(self, kind: str, ref: str) -> Any:
        """The id (or value) a URL variable stands for."""
        from techfin.extensions import db
        from techfin.models import (
            Enterprise,
            Funder,
            Need,
            Outcome,
            Patent,
            Product,
            SharingRule,
            User,
        )
        from techfin.services import team

        by_ref = {"enterprise": Enterprise, "funder": Funder, "patent": Patent, "need": Need,
                  "product": Product}  # fmt: skip
        if kind == "literal":
            return ref
        if kind in by_ref:
            model = by_ref[kind]
            return db.session.execute(db.select(model.id).where(model.ref == ref)).scalar_one()
        if kind == "outcome":
            need_ref, product_ref, stage, day = ref.split("/")
            return db.session.execute(
                db.select(Outcome.id)
                .join(Need, Outcome.need_id == Need.id)
                .join(Product, Outcome.product_id == Product.id)
                .where(Need.ref == need_ref, Product.ref == product_ref,
                       Outcome.stage == stage, db.cast(Outcome.date, db.String) == day)
            ).scalar_one()  # fmt: skip
        if kind in ("user", "invite_token"):
            user = db.session.execute(db.select(User).filter_by(email=ref)).scalar_one()
            return user.id if kind == "user" else team.invite_token(user)
        if kind == "sharing_rule":
            enterprise_id = self.lookup("enterprise", ref)
            return db.session.execute(
                db.select(SharingRule.id).filter_by(enterprise_id=enterprise_id).limit(1)
            ).scalar_one()
        raise AssertionError(f"no lookup for record type {kind!r}")

    def url(self, method: str, rule: str) -> str:
        explicit = self.urls.get((method, rule)) or self.urls.get(("GET", rule))
        if explicit is not None:
            return explicit(self) if callable(explicit) else explicit
        with self.app.app_context():

            def fill(match: re.Match) -> str:
                name = match.group(1)
                assert name in self.row_refs, f"{rule}: no ROW_REFS entry for <{name}>"
                return str(self.lookup(*self.row_refs[name]))

            return _VARIABLE.sub(fill, rule)

    # requests --------------------------------------------------------------

    def request(self, role: str, method: str, url: str):  # noqa: ANN201
        client = self.app.test_client()
        headers = {}
        kwargs: dict[str, Any] = {}
        api = urlsplit(url).path.startswith("/api/")
        if role != "anonymous":
            if api:
                headers["Authorization"] = f"Bearer {self.tokens[role]}"
            else:
                with client.session_transaction() as session:
                    session["_user_id"] = self.sessions[role]
                    session["_fresh"] = True
        if method in WRITE_METHODS:
            if api:
                kwargs["json"] = getattr(self.module, "REQUEST_BODY", {})
            else:
                kwargs["data"] = {}
        # buffered: a streamed body (a document download) is read and its file closed.
        return client.open(url, method=method, headers=headers, buffered=True, **kwargs)


def _matches(expected: Any, response) -> bool:  # noqa: ANN001
    if expected == "login":
        location = urlsplit(response.headers.get("Location", ""))
        return response.status_code == 302 and location.path == "/auth/login"
    if isinstance(expected, (tuple, list, set, frozenset)):
        return response.status_code in expected
    return response.status_code == expected


def _method_order(method: str) -> tuple[int, str]:
    return (method in WRITE_METHODS, method)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_access_matrix(app, case: RuleCase):
    matrix = Matrix(app, case.module)
    matrix.seed()
    wrong = []
    for method in sorted(case.methods, key=_method_order):
        expected = case.methods[method]
        for role in ROLES:
            url = matrix.url(method, case.rule)
            response = matrix.request(role, method, url)
            if not _matches(expected.get(role), response):
                where = response.headers.get("Location", "")
                wrong.append(f"{role:<22} {method:<7} {url}: expected {expected.get(role)!r}, "
                             f"got {response.status_code} {where}")  # fmt: skip
            if method in WRITE_METHODS and response.status_code < 400:
                matrix.reset()  # a write that may have succeeded: the next role sees fresh data
    assert not wrong, "\n".join(["access differs from the policy:", *wrong])
