"""Upload safety in one place: size cap, zip inspection, row and column caps, bounded parsing.

Every uploaded file (the bank's reconciliation table, an interchange import, an enterprise's
documents) goes through here:

- `store` streams it to INSTANCE_DIR/uploads/ (outside the web root) in chunks, refusing it
  the moment it passes UPLOAD_MAX_BYTES: nothing of an oversized file stays, and it is never
  held in memory.
- `inspect_zip` reads an XLSX's central directory only (the end record by hand, so a
  directory claiming a million entries is refused before anything is allocated for it, then
  the listing through stdlib zipfile) and refuses too many entries, a declared expanded
  size over the limit and a compression ratio no spreadsheet has. Nothing is decompressed:
  a 1 MB zip bomb costs milliseconds here. The declared sizes are also what zipfile stops
  reading at, so an archive lying about them only yields a truncated part.
- `parse_xlsx` opens a workbook in a child process with an address-space limit (RLIMIT_AS)
  and a wall-clock timeout (plus RLIMIT_CPU as a backstop), and stops at UPLOAD_MAX_ROWS /
  UPLOAD_MAX_COLUMNS. openpyxl's loop is pure Python and cannot be interrupted from a thread;
  a process can be killed, and a MemoryError in it kills nothing else. The request path never
  parses: the pages and the API store the file, commit a job row and queue a task
  (techfin.services.upload_jobs), whose worker calls this.

Messages are "English / 中文" (the pages show the reader's side through `|loc`; the API
keeps both, as elsewhere).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from techfin.errors import DomainError
from techfin.tools.bounded_read import (  # noqa: F401 - the messages are part of this API
    DAMAGED,
    EMPTY,
    NOT_WORKBOOK,
    UNREADABLE,
    _decode,
    columns_text,
    entries_text,
    expands_text,
    memory_text,
    ratio_text,
    rows_text,
    timeout_text,
    too_large_text,
)

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MB = 1024 * 1024

# The limits and their defaults (config keys; techfin/config.py sets them).
DEFAULTS: dict[str, int] = {
    "UPLOAD_MAX_BYTES": 20 * MB,
    "UPLOAD_ZIP_MAX_ENTRIES": 5000,
    "UPLOAD_ZIP_MAX_UNCOMPRESSED": 200 * MB,
    "UPLOAD_ZIP_MAX_RATIO": 200,
    "UPLOAD_ZIP_MAX_DIRECTORY": 2 * MB,
    "UPLOAD_MAX_ROWS": 20_000,
    "UPLOAD_MAX_COLUMNS": 200,
    "UPLOAD_PARSE_SECONDS": 20,
    "UPLOAD_PARSE_MEMORY_MB": 512,
}
# Entries smaller than this are not judged by their ratio: a few KB of styles compress
# 100:1 legitimately, and cannot hurt anyone.
RATIO_FLOOR = 1 * MB


class UploadRefused(DomainError):
    """The file cannot be taken or read; the message says why and what to do."""

    code = "invalid"


class TooLarge(UploadRefused):
    """Over the size cap: HTTP 413."""

    status = 413
    code = "too_large"


def refused(text: str, cls: type[UploadRefused] = UploadRefused) -> UploadRefused:
    return cls(text, {"file": [text]})


def limits(config: Any | None = None) -> dict[str, int]:
    """The limits from the app config (or the defaults outside an app)."""
    if config is None:
        try:
            from flask import current_app

            config = current_app.config
        except RuntimeError:
            config = {}
    return {key: int(config.get(key, default)) for key, default in DEFAULTS.items()}


# ------------------------------------------------------------------ storing


@dataclass
class Stored:
    path: Path
    stored_name: str
    size: int
    sha256: str


def storage_dir(sub: str = "uploads") -> Path:
    """Outside the web root (static/ is the only directory served as files)."""
    from flask import current_app

    path = Path(current_app.config["INSTANCE_DIR"]) / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_capped(stream: BinaryIO, target: Path, max_bytes: int) -> tuple[int, str]:
    """Stream into `target` in chunks; (size, sha256). Over the cap: nothing kept."""
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("xb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise refused(too_large_text(max_bytes), TooLarge)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def store(stream: BinaryIO, sub: str = "uploads") -> Stored:
    """Keep an upload under a random name (the caller deletes it if it refuses it later)."""
    name = secrets.token_hex(16)
    path = storage_dir(sub) / name
    size, sha = copy_capped(stream, path, limits()["UPLOAD_MAX_BYTES"])
    if size == 0:
        path.unlink(missing_ok=True)
        raise refused(EMPTY)
    return Stored(path, name, size, sha)


def path_of(stored_name: str, sub: str = "uploads") -> Path:
    return storage_dir(sub) / stored_name


# ------------------------------------------------------------------ zip inspection


@dataclass
class ZipListing:
    entries: int
    compressed: int
    uncompressed: int
    names: list[str]


def _end_record(path: Path, max_entries: int, max_directory: int) -> None:
    """Refuse an archive whose end record claims more entries or a larger directory than
    allowed, before zipfile builds an object per entry. Reads at most the last 64 KiB."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        tail_len = min(size, 65_557)  # end record (22) + the longest comment (65 535)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise refused(DAMAGED)
    (_sig, disk, cd_disk, _here, entries, cd_size, cd_offset, _clen) = struct.unpack(
        "<IHHHHIIH", tail[at : at + 22]
    )
    # ZIP64 markers or a multi-disk archive: no spreadsheet within the size cap needs either.
    if disk or cd_disk or entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        raise refused(DAMAGED)
    if entries > max_entries:
        raise refused(entries_text(max_entries))
    if cd_size > max_directory or cd_offset + cd_size > size:
        raise refused(DAMAGED)


def inspect_zip(
    path: Path,
    *,
    max_entries: int | None = None,
    max_uncompressed: int | None = None,
    max_ratio: int | None = None,
    max_directory: int | None = None,
) -> ZipListing:
    """The archive's listing from its central directory, refused when over any limit."""
    lim = limits()
    max_entries = lim["UPLOAD_ZIP_MAX_ENTRIES"] if max_entries is None else max_entries
    max_uncompressed = (
        lim["UPLOAD_ZIP_MAX_UNCOMPRESSED"] if max_uncompressed is None else max_uncompressed
    )
    max_ratio = lim["UPLOAD_ZIP_MAX_RATIO"] if max_ratio is None else max_ratio
    max_directory = lim["UPLOAD_ZIP_MAX_DIRECTORY"] if max_directory is None else max_directory
    _end_record(path, max_entries, max_directory)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise refused(DAMAGED) from None
    compressed = sum(i.compress_size for i in infos)
    uncompressed = sum(i.file_size for i in infos)
    if uncompressed > max_uncompressed:
        raise refused(expands_text(max_uncompressed))
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise refused(ratio_text(max_ratio))
    return ZipListing(len(infos), compressed, uncompressed, [i.filename for i in infos])


def check_xlsx(path: Path, **overrides: int) -> ZipListing:
    """A zip is accepted only as an OOXML workbook within the decompression limits."""
    listing = inspect_zip(path, **overrides)
    if "[Content_Types].xml" not in listing.names or "xl/workbook.xml" not in listing.names:
        raise refused(NOT_WORKBOOK)
    return listing


def is_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


# ------------------------------------------------------------------ text files


def check_text_shape(path: Path, max_rows: int) -> None:
    """A CSV or JSON Lines file: at most max_rows lines (+ a header). Counting newlines is
    linear in the capped size, so it is done where the parse is."""
    lines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            lines += chunk.count(b"\n")
    if lines > max_rows + 1:
        raise refused(rows_text(max_rows))


# ------------------------------------------------------------------ the bounded parse


def run_bounded(parser: str, *args: Any, seconds: int | None = None,
                memory_mb: int | None = None) -> Any:  # fmt: skip
    """Run PARSERS[parser](*args) in a child process within the time and memory limits.

    Raises UploadRefused with a message saying which limit was hit (or what the parser
    refused); the calling process and its threads are never at risk."""
    lim = limits()
    seconds = lim["UPLOAD_PARSE_SECONDS"] if seconds is None else seconds
    memory_mb = lim["UPLOAD_PARSE_MEMORY_MB"] if memory_mb is None else memory_mb
    spec = {"parser": parser, "args": list(args), "seconds": seconds, "memory_mb": memory_mb}
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from techfin.tools.bounded_read import child_main; child_main()"],
            input=json.dumps(spec).encode(), capture_output=True, timeout=seconds, env=env,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        # subprocess.run has killed and reaped the child.
        raise refused(timeout_text(seconds)) from None
    if done.returncode < 0 and -done.returncode in (9, 24):  # SIGKILL, SIGXCPU
        raise refused(timeout_text(seconds))
    try:
        answer = json.loads(done.stdout, object_hook=_decode)
    except (json.JSONDecodeError, UnicodeDecodeError):
        # A child that died before answering: out of memory while starting or writing, or
        # broken in a way it could not report (logged for the operators).
        log.warning("bounded parse %s: the child ended %s without an answer: %s", parser,
                    done.returncode, done.stderr[-2000:].decode(errors="replace"))  # fmt: skip
        said = done.stderr.lower()
        if b"memoryerror" in said or b"memory" in said and b"alloc" in said:
            raise refused(memory_text(memory_mb)) from None
        raise refused(UNREADABLE) from None
    if answer.get("memory"):
        raise refused(memory_text(memory_mb))
    if "refused" in answer:
        if done.stderr:
            log.info(
                "bounded parse %s refused: %s", parser, done.stderr[-2000:].decode(errors="replace")
            )
        raise refused(answer["refused"])
    return answer["ok"]


def parse_xlsx(path: Path, *, first_only: bool = False) -> list[tuple[str, list[list[Any]]]]:
    """The workbook's sheets as (title, rows), read in a bounded child process."""
    lim = limits()
    sheets = run_bounded("xlsx_sheets", str(path), lim["UPLOAD_MAX_ROWS"],
                         lim["UPLOAD_MAX_COLUMNS"], first_only)  # fmt: skip
    return [(title, rows) for title, rows in sheets]
