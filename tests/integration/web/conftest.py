"""Page fixtures: the sample data, one account per role, logging in as any of them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

# email → (User.role, organisation ref, membership role)
ACCOUNTS: dict[str, tuple[str, str | None, str]] = {
    "e1@x.cn": ("enterprise", "E-001", "owner"),
    "e2@x.cn": ("enterprise", "E-002", "owner"),
    "bank@x.cn": ("bank", "F-001", "owner"),
    "vc@x.cn": ("investor", "F-002", "owner"),
    "op@x.cn": ("operator", None, "owner"),
}
PASSWORD = "Lychee-Harbour-47"


@pytest.fixture(scope="session")
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD)


@pytest.fixture
def add_user(app, password_hash) -> Callable[..., int]:
    """Create an account quickly (the password hash is computed once per run)."""
    from techfin.extensions import db
    from techfin.models import Membership, User
    from techfin.services import accounts

    def _add(email: str, role: str, org_ref: str | None = None, org_role: str = "member") -> int:
        with app.app_context():
            user = User(
                email=email, role=role, name=email.split("@")[0], password_hash=password_hash
            )
            db.session.add(user)
            if org_ref:
                org = accounts.find_organization(org_ref)
                db.session.add(Membership(user=user, organization=org, role=org_role))
            db.session.commit()
            return user.id

    return _add


@pytest.fixture
def users(app, sample_data, add_user) -> dict[str, int]:
    """The sample data with an account for each organisation and an operator."""
    return {
        email: add_user(email, role, org, org_role)
        for email, (role, org, org_role) in ACCOUNTS.items()
    }


@pytest.fixture
def login(app, client) -> Callable[[str], None]:
    """Log the test client in as an account (sets the session; no password hashing)."""
    from techfin.extensions import db
    from techfin.models import User

    def _login(email: str) -> None:
        with app.app_context():
            user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
            user_id = user.get_id()
        with client.session_transaction() as session:
            session.clear()
            session["_user_id"] = user_id
            session["_fresh"] = True

    return _login


@pytest.fixture
def ids(app) -> Callable[[str, str], int]:
    """The database id of a sample record: ids("need", "N-001")."""
    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, Patent, Product, User

    models = {"enterprise": Enterprise, "funder": Funder, "need": Need, "patent": Patent,
              "product": Product}  # fmt: skip

    def _id(kind: str, ref: str) -> int:
        with app.app_context():
            if kind == "user":
                return db.session.execute(db.select(User.id).filter_by(email=ref)).scalar_one()
            model = models[kind]
            return db.session.execute(db.select(model.id).where(model.ref == ref)).scalar_one()

    return _id


@pytest.fixture
def verify_all(app) -> Callable[[], None]:
    """Mark every institution verified (F-002 is imported unverified)."""

    def _verify() -> None:
        from techfin.extensions import db
        from techfin.models import Funder

        with app.app_context():
            for funder in db.session.execute(db.select(Funder)).scalars():
                funder.status = "verified"
            db.session.commit()

    return _verify


@pytest.fixture
def body() -> Callable:
    """body(response): its text, after checking that it is not a server error."""

    def _body(resp) -> str:  # noqa: ANN001
        assert resp.status_code < 500, resp.get_data(as_text=True)[:2000]
        return resp.get_data(as_text=True)

    return _body


@pytest.fixture
def invalid() -> Callable[[str, str], bool]:
    """invalid(html, name): the form control named `name` is marked invalid."""
    import re

    def _invalid(html: str, name: str) -> bool:
        tags = re.findall(
            rf'<(?:input|select|textarea)\b[^>]*\bname="{re.escape(name)}"[^>]*>', html
        )
        return any("is-invalid" in tag for tag in tags)

    return _invalid


@pytest.fixture
def page_urls(app) -> Callable[[dict[str, list]], list[str]]:
    """page_urls(values): a URL for every GET page (not the JSON API, not static files) and
    every combination of the given candidate values of its URL variables; a variable without
    candidates gets the first choice of an any() converter, 1 for ids, else "x"."""
    import itertools
    import re

    variable = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")

    def _urls(values: dict[str, list]) -> list[str]:
        adapter = app.url_map.bind("localhost")
        out = []
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()) or rule.endpoint in ("static", "bootstrap.static"):
                continue
            if rule.rule.startswith("/api/"):
                continue
            options: dict[str, list] = {}
            for converter, args, name in variable.findall(rule.rule):
                if name in values:
                    options[name] = list(values[name])
                elif converter == "any":
                    options[name] = [args.split(",")[0].strip().strip("'\"")]
                elif converter in ("int", "id"):
                    options[name] = [1]
                else:
                    options[name] = ["x"]
            names = sorted(options)
            for combo in itertools.product(*(options[n] for n in names)):
                out.append(adapter.build(rule.endpoint, dict(zip(names, combo, strict=True))))
        return out

    return _urls
