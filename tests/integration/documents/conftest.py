"""Documents and notifications fixtures: the sample data with one account per role (and an
API token each), logging in by session, and files of every kind built in memory."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest

# email → (User.role, organisation ref, locale)
ACCOUNTS: dict[str, tuple[str, str | None, str]] = {
    "e1@x.cn": ("enterprise", "E-001", "zh_CN"),
    "e2@x.cn": ("enterprise", "E-002", "zh_CN"),
    "bank@x.cn": ("bank", "F-001", "en"),
    "vc@x.cn": ("investor", "F-002", "zh_CN"),
    "op@x.cn": ("operator", None, "zh_CN"),
}


@pytest.fixture(scope="session")
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash("Lychee-Harbour-47")


@pytest.fixture
def users(app, sample_data, password_hash) -> dict[str, int]:
    from techfin.extensions import db
    from techfin.models import Membership, User
    from techfin.services import accounts

    out = {}
    with app.app_context():
        for email, (role, ref, locale) in ACCOUNTS.items():
            user = User(email=email, role=role, name=email.split("@")[0], locale=locale,
                        password_hash=password_hash)  # fmt: skip
            db.session.add(user)
            if ref:
                db.session.add(Membership(user=user, organization=accounts.find_organization(ref),
                                          role="owner"))  # fmt: skip
            db.session.commit()
            out[email] = user.id
    return out


@pytest.fixture
def tokens(app, users) -> dict[str, str]:
    from techfin.extensions import db
    from techfin.models import User
    from techfin.services import accounts

    with app.app_context():
        return {email: accounts.create_api_token(db.session.get(User, uid), "t")
                for email, uid in users.items()}  # fmt: skip


@pytest.fixture
def bearer(tokens) -> Callable[[str], dict[str, str]]:
    return lambda email: {"Authorization": f"Bearer {tokens[email]}"}


@pytest.fixture
def login(app, client, users) -> Callable[[str], None]:
    from techfin.extensions import db
    from techfin.models import User

    def _login(email: str) -> None:
        with app.app_context():
            session_id = db.session.execute(
                db.select(User).filter_by(email=email)).scalar_one().get_id()  # fmt: skip
        with client.session_transaction() as session:
            session.clear()
            session["_user_id"] = session_id
            session["_fresh"] = True

    return _login


@pytest.fixture
def ctx(app) -> Callable[[], Any]:
    return app.app_context


# ------------------------------------------------------------------ files


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))  # fmt: skip


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + (
        b"\xff\xd9")  # fmt: skip


def pdf(padding: int = 0) -> bytes:
    body = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")  # fmt: skip
    return body + b"%" + b"x" * padding + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["营业收入", 1200])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def plain_zip() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("财务报表.csv", "a,b\n1,2\n")
    return out.getvalue()


def windows_exe() -> bytes:
    """The start of a PE executable: MZ header, e_lfanew → 'PE\\0\\0'."""
    head = bytearray(b"MZ" + b"\x90\x00" * 29 + b"\x00" * 2)
    head[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(head.ljust(0x80, b"\x00")) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200


@pytest.fixture
def files() -> dict[str, Callable[..., bytes]]:
    return {"png": png, "jpeg": jpeg, "pdf": pdf, "xlsx": xlsx, "zip": plain_zip,
            "exe": windows_exe, "truncated_xlsx": lambda: xlsx()[:-40]}  # fmt: skip


def zip_bomb(copies: int = 8, kernel_mib: int = 1024) -> bytes:
    """A ~1 MB "workbook" that expands to `copies` GiB: one deflated run of zeros (1 GiB
    deflates to ~1 MB) listed `copies` times in the central directory, the overlapping-entry
    construction of non-recursive zip bombs, plus the two parts that make it look like an
    XLSX. Built without ever holding the expanded data: the deflate stream of 1 MiB of zeros
    after a full flush is self-contained, so it is repeated."""
    import zipfile  # noqa: F401 - documents the format; the bytes are written by hand

    chunk = b"\x00" * (1 << 20)
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = first.compress(chunk) + first.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = piece * kernel_mib + last.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(kernel_mib):
        crc = zlib.crc32(chunk, crc)
    size = kernel_mib << 20

    out = bytearray()
    central = bytearray()

    def local(name: bytes, data: bytes, crc: int, usize: int) -> int:
        offset = len(out)
        out.extend(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data),
                               usize, len(name), 0) + name + data)  # fmt: skip
        return offset

    def entry(name: bytes, offset: int, csize: int, crc: int, usize: int) -> None:
        central.extend(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                                   csize, usize, len(name), 0, 0, 0, 0, 0, offset) + name)  # fmt: skip

    for name, text in ((b"[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
                       (b"xl/workbook.xml", b'<?xml version="1.0"?><workbook/>')):  # fmt: skip
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = c.compress(text) + c.flush()
        entry(name, local(name, data, zlib.crc32(text), len(text)), len(data), zlib.crc32(text),
              len(text))  # fmt: skip
    at = local(b"xl/worksheets/sheet1.xml", kernel, crc, size)
    for i in range(copies):
        entry(f"xl/worksheets/sheet{i + 1}.xml".encode(), at, len(kernel), crc, size)
    count = 2 + copies
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + eocd)
