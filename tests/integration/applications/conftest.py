"""Application fixtures: the sample data, an enterprise, a bank and an operator account, and
a fresh published need of E-001 eligible for P-001 (N-001 already has a funded docking)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

ACCOUNTS = {
    "enterprise": ("e1@x.cn", "enterprise", "E-001"),
    "enterprise2": ("e2@x.cn", "enterprise", "E-002"),
    "bank": ("bank@x.cn", "bank", "F-001"),
    "vc": ("vc@x.cn", "investor", "F-002"),
    "operator": ("op@x.cn", "operator", None),
}


@pytest.fixture
def users(app, sample_data, make_user, monkeypatch) -> dict[str, int]:
    from werkzeug.security import generate_password_hash

    from techfin.models import User

    hashed = generate_password_hash("Lychee-Harbour-47", method="pbkdf2:sha256:1000")
    monkeypatch.setattr(User, "set_password", lambda u, _pw: setattr(u, "password_hash", hashed))
    return {role: make_user(*spec) for role, spec in ACCOUNTS.items()}


@pytest.fixture
def need_id(app, users) -> int:
    from techfin.extensions import db
    from techfin.models import Enterprise, Need

    with app.app_context():
        ent = db.session.scalar(db.select(Enterprise).filter_by(ref="E-001"))
        need = Need(ref="N-APP", enterprise_id=ent.id, kind="ip_pledge", amount_cny=3_000_000,
                    term_months=12, purpose="扩产", status="published")  # fmt: skip
        db.session.add(need)
        db.session.commit()
        return need.id


@pytest.fixture
def ids(app) -> Callable[[str, str], int]:
    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, Product

    models = {"enterprise": Enterprise, "funder": Funder, "need": Need, "product": Product}

    def _ids(kind: str, ref: str) -> int:
        with app.app_context():
            model = models[kind]
            return db.session.scalar(db.select(model.id).where(model.ref == ref))

    return _ids


@pytest.fixture
def on_day(monkeypatch) -> Callable[[date], None]:
    """Make the clock's "today" (Beijing) a given date."""
    from techfin.services.applications import clock

    def _set(day: date) -> None:
        monkeypatch.setattr(clock, "beijing_today", lambda now=None: day)

    return _set


@pytest.fixture
def as_user(app) -> Callable[[str], Any]:
    def _user(email: str) -> Any:
        from techfin.services import accounts

        return accounts.find_user(email)

    return _user


@pytest.fixture
def login(app, client) -> Callable[[str], None]:
    """Log the test client in as an account (sets the session)."""
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
