"""Matching fixtures: the sample data with one account per role, logging in, record ids,
a real SMTP server, and a generated data set with enough outcomes to train on."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from typing import Any

import pytest

# email → (User.role, organisation ref)
ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "e1@x.cn": ("enterprise", "E-001"),
    "e2@x.cn": ("enterprise", "E-002"),
    "bank@x.cn": ("bank", "F-001"),
    "vc@x.cn": ("investor", "F-002"),
    "op@x.cn": ("operator", None),
}


@pytest.fixture(scope="session")
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash("Lychee-Harbour-47")


@pytest.fixture
def users(app, sample_data, password_hash) -> dict[str, int]:
    """The sample data (E-001's published N-001 fits F-001's P-001) and an account each."""
    from techfin.extensions import db
    from techfin.models import Membership, User
    from techfin.services import accounts

    out = {}
    with app.app_context():
        for email, (role, ref) in ACCOUNTS.items():
            user = User(email=email, role=role, name=email.split("@")[0],
                        password_hash=password_hash)  # fmt: skip
            db.session.add(user)
            if ref:
                org = accounts.find_organization(ref)
                db.session.add(Membership(user=user, organization=org, role="owner"))
            db.session.commit()
            out[email] = user.id
    return out


@pytest.fixture
def login(app, client) -> Callable[[str], None]:
    from techfin.extensions import db
    from techfin.models import User

    def _login(email: str) -> None:
        with app.app_context():
            user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
            session_id = user.get_id()
        with client.session_transaction() as session:
            session.clear()
            session["_user_id"] = session_id
            session["_fresh"] = True

    return _login


@pytest.fixture
def get(app) -> Callable[[str, str], Any]:
    """get("need", "N-001") → the row (inside an app context the caller holds)."""
    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, Patent, Product, User

    models = {"enterprise": Enterprise, "funder": Funder, "need": Need, "patent": Patent,
              "product": Product}  # fmt: skip

    def _get(kind: str, ref: str) -> Any:
        if kind == "user":
            return db.session.execute(db.select(User).filter_by(email=ref)).scalar_one()
        model = models[kind]
        return db.session.execute(db.select(model).where(model.ref == ref)).scalar_one()

    return _get


@pytest.fixture
def page(client) -> Callable[..., str]:
    """page(url): the body of a GET that must succeed."""

    def _page(url: str, status: int = 200) -> str:
        resp = client.get(url)
        assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
        return resp.get_data(as_text=True)

    return _page


class Inbox:
    """Messages an aiosmtpd server accepted."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        message.envelope_rcpt = list(envelope.rcpt_tos)  # type: ignore[attr-defined]
        self.messages.append(message)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox(request):
    """A real SMTP server (aiosmtpd) on the port the test's app_config names."""
    from aiosmtpd.controller import Controller

    marker = request.node.get_closest_marker("app_config")
    port = marker.kwargs["SMTP_PORT"] if marker else free_port()
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def demo(app) -> None:
    """A generated data set (demo.generate) with enough decided outcomes to train on."""
    from techfin.services import demo
    from techfin.services.interchange import import_records

    with app.app_context():
        report = import_records(demo.generate(enterprises=120, seed=2026), actor="test")
        assert report.committed, [str(e) for e in report.errors[:5]]


@pytest.fixture
def ctx(app) -> Callable[[], Any]:
    """An app context for service calls.

    The search outbox hook is switched off inside it: it lazy-loads Enterprise.needs during
    a flush, which SQLAlchemy reports as an SAWarning (an error under filterwarnings) when a
    service creates a need or patent outside a request. Matching's own hooks stay on.
    """
    from techfin.extensions import db

    @contextmanager
    def _ctx() -> Iterator[None]:
        with app.app_context():
            db.session.info["search_outbox_off"] = True
            yield

    return _ctx
