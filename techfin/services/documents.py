"""An enterprise's documents: upload, share with an institution, download, delete.

Rules in one place:
- Only PDF, PNG, JPEG and XLSX, at most DOCUMENT_MAX_BYTES (20 MB) each. The type is read
  from the content with a maintained sniffer (`filetype`), never from the name, and the name's
  extension must agree with it: a renamed executable, or a ".pdf" that is a zip, is refused.
- An XLSX is a zip: its directory must list `[Content_Types].xml` and `xl/workbook.xml`, and
  the entry count and declared uncompressed total must stay within bounds. Only the zip's
  central directory is read (bounded, never decompressed), so a zip bomb costs
  milliseconds and no memory here.
- The bytes are streamed to disk in chunks (one pass: size and SHA-256 as they go) under
  INSTANCE_DIR/documents/ with a random name; the original name (Chinese kept) is data.
- Who may download: the owning enterprise's users, operators, and an institution's users
  while a non-revoked grant exists for their institution. Everyone else gets 404, as for a
  missing document. Each download by an institution or an operator lands in the
  enterprise's "who looked at my data" log.
"""

from __future__ import annotations

import logging
import os
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import filetype
from flask import current_app
from sqlalchemy import exists, select

from techfin.errors import DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import (
    DOCUMENT_KINDS,
    DataAccess,
    Document,
    DocumentGrant,
    Enterprise,
    Funder,
    User,
)
from techfin.models.base import utcnow
from techfin.services import access, audit, uploads
from techfin.services.paging import Page, paginate

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
HEAD = 8192  # what the sniffer reads (filetype looks at the first 8 KiB at most)
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

# Content type (as sniffed) → the extensions a name may carry for it.
ALLOWED: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ZIP_LIKE = {"application/zip", XLSX}

NOT_FOUND = "Document not found / 材料不存在"
ACCEPTED = "PDF, PNG, JPEG or XLSX / 仅支持 PDF、PNG、JPEG 或 XLSX"


TooLarge = uploads.TooLarge  # HTTP 413 with a message saying the limit


def max_bytes() -> int:
    return int(current_app.config.get("DOCUMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def too_large_error() -> TooLarge:
    return uploads.refused(uploads.too_large_text(max_bytes()), uploads.TooLarge)  # type: ignore[return-value]


def storage_dir() -> Path:
    """Outside the web root (static/ is the only directory served as files)."""
    configured = current_app.config.get("DOCUMENT_DIR")
    path = (
        Path(configured) if configured else Path(current_app.config["INSTANCE_DIR"]) / "documents"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_of(doc: Document) -> Path:
    return storage_dir() / doc.stored_name


# ------------------------------------------------------------------ checks


def _refuse(field: str, text: str) -> DomainError:
    return DomainError(text, {field: [text]})


def clean_filename(raw: str | None) -> str:
    """The name as the user gave it, minus any path, control characters and surrounding
    blanks; NFC so the same Chinese name always compares equal. At most 255 characters,
    keeping the extension."""
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not name:
        raise _refuse("file", "Choose a file to upload / 请选择要上传的文件")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 255 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name


def _extension(name: str) -> str:
    _stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot else ""


def _check_xlsx(path: Path) -> None:
    """A zip is accepted only as an OOXML spreadsheet within the decompression limits (the
    one zip inspection of every upload, services/uploads.py, with the documents' limits)."""
    cfg = current_app.config
    uploads.check_xlsx(
        path,
        max_entries=int(cfg.get("DOCUMENT_ZIP_MAX_ENTRIES", 5000)),
        max_uncompressed=int(cfg.get("DOCUMENT_ZIP_MAX_UNCOMPRESSED", 256 * 1024 * 1024)),
    )


def sniff(path: Path, filename: str) -> str:
    """The content type the bytes say, if it is one we accept and the name agrees."""
    with path.open("rb") as fh:
        head = fh.read(HEAD)
    kind = filetype.guess(head)
    mime = kind.mime if kind is not None else None
    ext = _extension(filename)
    if mime in _ZIP_LIKE:
        if ext != ".xlsx":
            raise _refuse("file", f"The file is a ZIP archive, not {ext or 'a document'}: "
                                  f"upload {ACCEPTED}. / 文件实为 ZIP 压缩包，不能作为 "
                                  f"{ext or '材料'} 上传")  # fmt: skip
        _check_xlsx(path)
        return XLSX
    if mime not in ALLOWED:
        seen = f" ({mime})" if mime else ""
        raise _refuse("file", f"This type of file{seen} is not accepted: upload {ACCEPTED}. / "
                              f"不支持此文件类型{seen}")  # fmt: skip
    if ext not in ALLOWED[mime]:
        want = "/".join(ALLOWED[mime])
        raise _refuse("file", f"The file's content is {mime} but its name ends in "
                              f"'{ext or '(none)'}': rename it to {want} / 文件内容为 {mime}，"
                              f"扩展名却是“{ext or '无'}”，请改为 {want}")  # fmt: skip
    return mime


def uploader_enterprise(user: User) -> Enterprise:
    """The enterprise whose documents this user keeps (403 for any other role): checked by
    the routes before they read an upload, so nobody else gets as far as sending 20 MB."""
    return _enterprise_of(user)


def _enterprise_of(user: User) -> Enterprise:
    org = user.organization
    if not user.is_enterprise or not isinstance(org, Enterprise):
        raise Forbidden("Only an enterprise keeps documents / 仅企业可上传材料")
    return org


# ------------------------------------------------------------------ actions


def _copy(stream: BinaryIO, target: Path) -> tuple[int, str]:
    """Stream into `target` in chunks; (size, sha256). Over the limit: nothing kept."""
    return uploads.copy_capped(stream, target, max_bytes())


def upload(user: User, stream: BinaryIO, filename: str | None, kind: str | None) -> Document:
    """Store one document of the user's enterprise (committed)."""
    enterprise = _enterprise_of(user)
    if kind not in DOCUMENT_KINDS:
        raise _refuse("kind", "Choose what kind of document this is / 请选择材料类别")
    name = clean_filename(filename)
    if _extension(name) not in {e for exts in ALLOWED.values() for e in exts}:
        raise _refuse("file", f"Upload {ACCEPTED}; '{_extension(name) or name}' is not accepted"
                              f" / 不支持“{_extension(name) or name}”")  # fmt: skip
    stored = secrets.token_hex(16)
    path = storage_dir() / stored
    size, sha = _copy(stream, path)
    try:
        if size == 0:
            raise _refuse("file", "The file is empty / 文件为空")
        content_type = sniff(path, name)
        doc = Document(enterprise_id=enterprise.id, uploaded_by=user.id, kind=kind,
                       filename=name, stored_name=stored, content_type=content_type,
                       size=size, sha256=sha)  # fmt: skip
        db.session.add(doc)
        db.session.flush()
        audit.record("upload", doc, object_type="document", user=user,
                     detail={"kind": kind, "size": size, "sha256": sha})  # fmt: skip
        db.session.commit()
    except BaseException:
        db.session.rollback()
        path.unlink(missing_ok=True)
        raise
    return doc


def listed(user: User) -> list[Document]:
    """All live documents of the user's enterprise, newest first (to pick from when
    applying; an enterprise keeps a handful, the pages use `page_of`)."""
    enterprise = _enterprise_of(user)
    return list(
        db.session.scalars(
            select(Document)
            .where(Document.enterprise_id == enterprise.id, Document.deleted_at.is_(None))
            .order_by(Document.id.desc())
        )
    )


def page_of(user: User, page: Any = 1, per_page: Any = 20) -> Page[Document]:
    """One page of the live documents of the user's enterprise, newest first."""
    enterprise = _enterprise_of(user)
    stmt = (
        select(Document)
        .where(Document.enterprise_id == enterprise.id, Document.deleted_at.is_(None))
        .order_by(Document.id.desc())
    )
    return paginate(stmt, page, per_page)


def owned(user: User, ids: Iterable[int]) -> list[Document]:
    """The documents named by `ids`, each one a live document of the user's enterprise; any
    other id (someone else's, deleted, missing) refuses the whole list."""
    enterprise = _enterprise_of(user)
    wanted: list[int] = []
    for raw in ids:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = -1
        if isinstance(raw, bool) or value < 1 or value > 2**31 - 1:
            raise _refuse("document_ids", f"Not a document id: {raw!r} / 不是有效的材料编号")
        if value not in wanted:
            wanted.append(value)
    if not wanted:
        return []
    rows = {
        d.id: d
        for d in db.session.scalars(
            select(Document).where(
                Document.id.in_(wanted),
                Document.enterprise_id == enterprise.id,
                Document.deleted_at.is_(None),
            )
        )
    }
    unknown = [i for i in wanted if i not in rows]
    if unknown:
        listed_ids = ", ".join(str(i) for i in unknown)
        raise _refuse("document_ids", f"These documents are not among your enterprise's: "
                                      f"{listed_ids} / 以下材料不属于贵企业：{listed_ids}")  # fmt: skip
    return [rows[i] for i in wanted]


def _funder_ok(funder: Funder) -> None:
    if not isinstance(funder, Funder):
        raise _refuse("funder_id", "Unknown institution / 机构不存在")


def _check_owner(user: User, documents: Sequence[Document]) -> None:
    for doc in documents:
        if not (
            user.is_operator or (user.is_enterprise and doc.enterprise_id == access.org_id(user))
        ):
            raise NotFound(NOT_FOUND)
        if doc.deleted_at is not None:
            raise NotFound(NOT_FOUND)


def grant(
    user: User, documents: Sequence[Document], funder: Funder, *, commit: bool = False
) -> None:
    """Let `funder`'s users download these documents (already granted: unchanged)."""
    _check_owner(user, documents)
    _funder_ok(funder)
    if not documents:
        return
    active = set(
        db.session.scalars(
            select(DocumentGrant.document_id).where(
                DocumentGrant.document_id.in_([d.id for d in documents]),
                DocumentGrant.funder_id == funder.id,
                DocumentGrant.revoked_at.is_(None),
            )
        )
    )
    now = utcnow()
    for doc in documents:
        if doc.id in active:
            continue
        db.session.add(DocumentGrant(document_id=doc.id, funder_id=funder.id, granted_at=now,
                                     granted_by=user.id))  # fmt: skip
        audit.record("grant", doc, object_type="document", user=user,
                     detail={"funder_id": funder.id})  # fmt: skip
    if commit:
        db.session.commit()
    else:
        db.session.flush()


def revoke(
    user: User, documents: Sequence[Document], funder: Funder, *, commit: bool = False
) -> None:
    """End `funder`'s access to these documents (the grant rows stay, marked revoked)."""
    _check_owner(user, documents)
    _funder_ok(funder)
    now = utcnow()
    rows = db.session.scalars(
        select(DocumentGrant).where(
            DocumentGrant.document_id.in_([d.id for d in documents] or [-1]),
            DocumentGrant.funder_id == funder.id,
            DocumentGrant.revoked_at.is_(None),
        )
    )
    for row in rows:
        row.revoked_at = now
        audit.record("revoke", row.document, object_type="document", user=user,
                     detail={"funder_id": funder.id})  # fmt: skip
    if commit:
        db.session.commit()
    else:
        db.session.flush()


def can_download(user: User, doc: Document) -> bool:
    if doc.deleted_at is not None:
        return False
    if user.is_operator:
        return True
    if user.is_enterprise:
        return doc.enterprise_id == access.org_id(user)
    if user.is_institution and isinstance(user.organization, Funder):
        return bool(
            db.session.scalar(
                select(
                    exists().where(
                        DocumentGrant.document_id == doc.id,
                        DocumentGrant.funder_id == user.organization.id,
                        DocumentGrant.revoked_at.is_(None),
                    )
                )
            )
        )
    return False


def get_visible(user: User, doc_id: int) -> Document:
    """The document if the user may download it; 404 alike for missing and forbidden."""
    doc = db.session.get(Document, doc_id) if 0 < doc_id <= 2**31 - 1 else None
    if doc is None or not can_download(user, doc):
        raise NotFound(NOT_FOUND)
    return doc


def open_for_download(user: User, doc_id: int) -> tuple[Document, Path]:
    """(document, path on disk) for a user allowed to read it; logs institution and operator
    reads in the enterprise's access log (committed before the first byte is sent)."""
    doc = get_visible(user, doc_id)
    path = path_of(doc)
    if not path.is_file():
        raise NotFound(NOT_FOUND)
    if not (user.is_enterprise and doc.enterprise_id == access.org_id(user)):
        # Operators have no funder: the row names the user, funder_id stays NULL.
        funder_id = access.org_id(user) if user.is_institution else None
        db.session.add(DataAccess(enterprise_id=doc.enterprise_id, funder_id=funder_id,
                                  user_id=user.id, action="download", what="document"))  # fmt: skip
        db.session.commit()
    return doc, path


def delete(user: User, doc: Document) -> None:
    """Remove a document: the bytes go at once, every grant ends, the row keeps the history."""
    _check_owner(user, [doc])
    now = utcnow()
    doc.deleted_at = now
    for row in doc.grants:
        if row.revoked_at is None:
            row.revoked_at = now
    audit.record("delete", doc, object_type="document", user=user,
                 detail={"filename": doc.filename[:100]})  # fmt: skip
    db.session.commit()
    try:
        os.unlink(path_of(doc))
    except FileNotFoundError:
        pass
    except OSError:
        # The row already says deleted and no route serves it any more; the bytes are
        # left for an administrator rather than failing a delete that has happened.
        log.exception("could not remove the file of deleted document %s", doc.id)
