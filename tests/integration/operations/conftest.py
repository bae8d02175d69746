"""Fixtures for the operator features: accounts on the sample data, logging in, loans."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

# email → (User.role, organisation ref)
ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "e1@ops.cn": ("enterprise", "E-001"),
    "e2@ops.cn": ("enterprise", "E-002"),
    "bank@ops.cn": ("bank", "F-001"),
    "vc@ops.cn": ("investor", "F-002"),
    "op@ops.cn": ("operator", None),
}


@pytest.fixture(scope="session")
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash("Lychee-Harbour-47")


@pytest.fixture
def add_user(app, password_hash) -> Callable[..., int]:
    from techfin.extensions import db
    from techfin.models import Membership, User
    from techfin.services import accounts

    def _add(email: str, role: str, org_ref: str | None = None) -> int:
        with app.app_context():
            user = User(email=email, role=role, name=email.split("@")[0],
                        password_hash=password_hash)  # fmt: skip
            db.session.add(user)
            if org_ref:
                org = accounts.find_organization(org_ref)
                db.session.add(Membership(user=user, organization=org, role="owner"))
            db.session.commit()
            return user.id

    return _add


@pytest.fixture
def users(app, sample_data, add_user) -> dict[str, int]:
    return {email: add_user(email, role, org) for email, (role, org) in ACCOUNTS.items()}


@pytest.fixture
def login(app, client) -> Callable[[str], None]:
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
def user_obj(app) -> Callable[[str], Any]:
    """The User row of an account, inside the caller's app context."""
    from techfin.extensions import db
    from techfin.models import User

    def _get(email: str) -> Any:
        return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()

    return _get


def work_queue() -> list[str]:
    """Run what the (non-immediate) queue holds, as a worker thread would: the tasks' names
    in the order they ran (a task may queue another, which runs too)."""
    from techfin.tasks import huey

    done = []
    while (message := huey.dequeue()) is not None:
        huey.execute(message)
        done.append(message.name)
    return done


def valid_uscc(rng: random.Random, region: str = "442000") -> str:
    from techfin.services.demo import _uscc

    return _uscc(rng, region)


@pytest.fixture
def add_loans(app) -> Callable[..., list[dict[str, Any]]]:
    """Enterprises with a published loan need each funded on a product (integer yuan)."""
    from techfin.services.interchange import import_records

    def _add(
        product_ref: str,
        issued: list[date],
        *,
        seed: int = 7,
        prefix: str = "L",
        kind: str = "loan",
    ) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        records, loans = [], []
        for i, day in enumerate(issued, start=1):
            ref = f"{prefix}{i:03d}"
            uscc = valid_uscc(rng)
            amount = rng.randint(20, 900) * 10_000 + rng.randint(0, 9999)
            matures = day + timedelta(days=rng.choice([180, 365, 730]))
            rate = round(rng.uniform(3.5, 6.5), 2)
            records += [
                {"type": "enterprise", "ref": f"E-{ref}", "name": f"中山市测试{i}号科技有限公司",
                 "uscc": uscc, "industry": "C38", "region": "442000", "employees": 50,
                 "revenue_cny": 30_000_000},
                {"type": "need", "ref": f"N-{ref}", "enterprise_ref": f"E-{ref}", "kind": kind,
                 "amount_cny": amount, "term_months": 12, "purpose": f"流动资金 {i}",
                 "status": "published", "created": (day - timedelta(days=20)).isoformat()},
                {"type": "outcome", "need_ref": f"N-{ref}", "product_ref": product_ref,
                 "stage": "funded", "date": day.isoformat(), "amount_cny": amount, "rate": rate,
                 "issued": day.isoformat(), "matures": matures.isoformat(),
                 "repayment": "bullet"},
            ]  # fmt: skip
            loans.append({"ref": f"E-{ref}", "uscc": uscc, "amount": amount, "issued": day,
                          "matures": matures, "rate": rate})  # fmt: skip
        with app.app_context():
            report = import_records((f"t {n}", r) for n, r in enumerate(records))
            assert report.committed, [str(e) for e in report.errors]
        return loans

    return _add


@pytest.fixture
def body() -> Callable[[Any], str]:
    return lambda response: response.get_data(as_text=True)
