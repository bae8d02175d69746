"""API fixtures: the sample data, one account and bearer token per role, an id lookup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

ACCOUNTS: dict[str, tuple[str, str, str | None]] = {
    # role name → (email, User.role, organisation ref)
    "enterprise": ("e1@x.cn", "enterprise", "E-001"),
    "enterprise2": ("e2@x.cn", "enterprise", "E-002"),
    "verified_institution": ("bank@x.cn", "bank", "F-001"),
    "unverified_institution": ("vc@x.cn", "investor", "F-002"),
    "operator": ("op@x.cn", "operator", None),
}


@pytest.fixture(scope="session")
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash("Lychee-Harbour-47", method="scrypt")


@pytest.fixture
def tokens(app, sample_data, make_user, monkeypatch, password_hash) -> dict[str, str]:
    from techfin.models import User
    from techfin.services import accounts

    # Every account here has the fixture's password: hash it once, not five times per test.
    monkeypatch.setattr(
        User, "set_password", lambda user, _pw: setattr(user, "password_hash", password_hash)
    )
    out = {}
    for role, (email, user_role, org) in ACCOUNTS.items():
        make_user(email, user_role, org)
        with app.app_context():
            out[role] = accounts.create_api_token(accounts.find_user(email), "test")
    return out


class ApiClient:
    """client.open with the role's bearer token (no token for role None)."""

    def __init__(self, client, tokens: dict[str, str]) -> None:  # noqa: ANN001
        self.client = client
        self.tokens = tokens

    def __call__(self, method: str, path: str, role: str | None = None, **kw: Any):
        headers = dict(kw.pop("headers", {}) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.client.open(path, method=method, headers=headers, **kw)

    def get(self, path: str, role: str | None = None, **kw: Any):
        return self(path=path, method="GET", role=role, **kw)


@pytest.fixture
def api(client, tokens) -> ApiClient:
    return ApiClient(client, tokens)


@pytest.fixture
def lookup(app) -> Callable[[str, str], int]:
    """(record type, ref) → id; an outcome's ref is need_ref/product_ref/stage/date."""
    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, Outcome, Patent, Product

    models = {"enterprise": Enterprise, "funder": Funder, "patent": Patent, "need": Need,
              "product": Product}  # fmt: skip

    def _lookup(kind: str, ref: str) -> int:
        with app.app_context():
            if kind == "outcome":
                need_ref, product_ref, stage, day = ref.split("/")
                stmt = (
                    db.select(Outcome.id).join(Need).join(Product)
                    .where(Need.ref == need_ref, Product.ref == product_ref,
                           Outcome.stage == stage, Outcome.date == date.fromisoformat(day))
                )  # fmt: skip
                return db.session.scalar(stmt)
            model = models[kind]
            return db.session.scalar(db.select(model.id).where(model.ref == ref))

    return _lookup
