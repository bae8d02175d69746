"""Bulk import and export in the interchange format (JSON Lines, CSV, XLSX).

Import is idempotent (records keyed by `ref`; an outcome by need, product, stage and date)
and all-or-nothing unless `skip_invalid` is set. CSV and XLSX exports put an apostrophe in
front of text starting with = + - @ tab or CR (OWASP CSV injection); their import takes it off.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields
from sqlalchemy import JSON, bindparam, insert, select, update
from sqlalchemy.orm import joinedload

from techfin import reference
from techfin.extensions import db
from techfin.models import (
    Copyright,
    Enterprise,
    Funder,
    Need,
    Organization,
    Outcome,
    Patent,
    Product,
    SearchOutbox,
    SharingRule,
    Trademark,
)
from techfin.models.base import utcnow
from techfin.services import audit
from techfin.services.records import SCHEMAS, TYPE_ORDER, copyright_number
from techfin.tools.planner_stats import analyze_after_bulk

Location = str
Progress = Callable[[int], None]


@dataclass
class ImportError_:
    location: Location
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.field}: {self.reason}"


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    errors: list[ImportError_] = field(default_factory=list)
    committed: bool = False

    def bump(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())

    def summary(self) -> str:
        parts = []
        for kind in TYPE_ORDER:
            c, u, n = (
                self.created.get(kind, 0),
                self.updated.get(kind, 0),
                self.unchanged.get(kind, 0),
            )
            if c or u or n:
                parts.append(f"{kind}: {c} created, {u} updated, {n} unchanged")
        return "; ".join(parts) or "nothing to import"


class InterchangeFormatError(ValueError):
    """The file itself cannot be read (unknown extension, not UTF-8, not a workbook)."""


# ---------------------------------------------------------------- reading files


def read_file(path: str | Path, suffix: str | None = None) -> list[tuple[Location, dict[str, Any]]]:
    """Parse a .jsonl/.json, .csv or .xlsx file into (location, raw record) pairs (`suffix`
    names the format of a file stored without one, as uploads are)."""
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return list(_read_jsonl(path))
    if suffix == ".csv":
        return list(_read_csv(path))
    if suffix == ".xlsx":
        return list(_read_xlsx(path))
    raise InterchangeFormatError(f"unsupported file type {suffix!r}: use .jsonl, .csv or .xlsx")


def _read_jsonl(path: Path) -> Iterator[tuple[Location, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InterchangeFormatError(f"{path.name} is not UTF-8 text") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {number}", {"__error__": f"not valid JSON ({exc.msg})"}
            continue
        if not isinstance(obj, dict):
            yield f"line {number}", {"__error__": "each line must be a JSON object"}
            continue
        yield f"line {number}", obj


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape_ooxml(value: Any) -> Any:
    """openpyxl leaves the _xHHHH_ escapes of control characters (a CR written by Excel or
    xlsxwriter reads back as "_x000D_"); turn them back into the characters."""
    if isinstance(value, str) and "_x" in value:
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def _read_csv(path: Path) -> Iterator[tuple[Location, dict[str, Any]]]:
    try:
        # Bytes, not read_text: universal newlines would turn a CR inside a quoted cell to LF.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InterchangeFormatError(f"{path.name} is not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for number, row in enumerate(reader, start=2):
        record = {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        yield f"line {number}", _coerce_tabular(record)


def _read_xlsx(path: Path) -> Iterator[tuple[Location, dict[str, Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a non-workbook
        raise InterchangeFormatError(f"{path.name} is not a readable XLSX workbook") from exc
    try:
        yield from records_from_sheets(
            (sheet.title, sheet.iter_rows(values_only=True)) for sheet in book.worksheets
        )
    finally:
        book.close()


def records_from_sheets(
    sheets: Iterable[tuple[str, Iterable[Sequence[Any]]]],
) -> Iterator[tuple[Location, dict[str, Any]]]:
    """(location, record) pairs of a workbook's sheets, each (title, rows): the first row
    names the columns, the title is the default type. The CLI reads the rows with openpyxl
    here; an uploaded workbook's rows come from the bounded parse (services/uploads.py)."""
    for title, sheet_rows in sheets:
        rows = iter(sheet_rows)
        header = next(rows, None)
        if not header:
            continue
        names = [str(h).strip() if h is not None else "" for h in header]
        for number, values in enumerate(rows, start=2):
            record = {
                name: _unescape_ooxml(value)
                for name, value in zip(names, values, strict=False)
                if name and value not in (None, "")
            }
            if not record:
                continue
            record.setdefault("type", title)
            yield f"{title}!{number}", _coerce_tabular(record)


_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}


# Every integer below this is exact in a double; above it Excel may already have rounded
# (an 18-digit USCC typed as a number), so such a cell cannot be trusted as digits.
_EXACT_DIGITS = 10**15


_PATENT_DECIMAL = re.compile(r"(?:\d{8}|\d{12})\.\d")


def _digits(value: int | float) -> str | None:
    """The digit string a numeric cell stands for (440305, 201510102606.0), or None."""
    if isinstance(value, bool) or value < 0:
        return None
    if isinstance(value, float):
        if not value.is_integer() or value >= _EXACT_DIGITS:
            return None
        value = int(value)
    return str(value)


def _numeric_code(key: str, value: int | float) -> Any:
    """A code, ref or patent number that a spreadsheet stored as a number, back as text.

    Left as the number (and so refused by the schema) when it cannot be told what was typed.
    """
    if key == "number" and isinstance(value, float) and not value.is_integer():
        # "201710601862.3" in a CSV opened by LibreOffice or Excel becomes a decimal number;
        # the shortest repr of a double gives back the digits typed (13 significant digits
        # are exact), and the check digit is still validated by the schema.
        shown = repr(value)
        return shown if _PATENT_DECIMAL.fullmatch(shown) else value
    text = _digits(value)
    if text is None:
        return value
    if key in ("industry", "industries"):
        # The number lost any leading zeros: 111 was "0111" (A0111) or "111" (B111). Accept
        # it only when exactly one zero-padding is a code of the table.
        readings = {
            code
            for pad in range(max(0, 5 - len(text)))
            if (code := reference.normalize_industry("0" * pad + text))
            and reference.is_valid_industry(code)
        }
        return readings.pop() if len(readings) == 1 else value
    if key == "number" and len(text) in (8, 12):
        # "201510102606.0" typed into a cell becomes the number 201510102606: its ".0" was
        # the check digit, which is known to be 0 exactly when the body's check char is "0".
        try:
            return text + ".0" if reference.patent_check_char(text) == "0" else text
        except ValueError:
            return text
    return text


def _coerce_tabular(record: dict[str, Any]) -> dict[str, Any]:
    """Spreadsheet cells are text (or Excel types): convert them by the schema's field types."""
    schema = SCHEMAS.get(str(record.get("type", "")))
    if schema is None:
        return record
    declared = schema._declared_fields
    out: dict[str, Any] = {}
    for key, value in record.items():
        f = declared.get(key)
        value = _restore_text(value)
        if isinstance(value, datetime):
            value = value.date().isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        if f is None or not isinstance(value, str):
            if isinstance(f, fields.Integer) and isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(f, fields.String) and isinstance(value, int | float):
                value = _numeric_code(key, value)
            if isinstance(f, fields.List) and not isinstance(value, list):
                numeric = isinstance(value, int | float)
                value = [_numeric_code(key, value) if numeric else str(value)]
            out[key] = value
            continue
        text = value.strip()
        if isinstance(f, fields.Boolean):
            low = text.lower()
            value = True if low in _TRUE else False if low in _FALSE else text
        elif isinstance(f, fields.Integer):
            try:
                value = int(text.replace(",", ""))
            except ValueError:
                value = text
        elif isinstance(f, fields.Float):
            try:
                value = float(text)
            except ValueError:
                value = text
        elif isinstance(f, fields.List):
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    value = text
            else:
                value = [p.strip() for p in text.replace("；", ";").split(";") if p.strip()]
        out[key] = value
    return out


# ---------------------------------------------------------------- validation


def _flatten(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            yield from _flatten(value, name)
    elif isinstance(messages, list):
        for item in messages:
            if isinstance(item, (dict, list)):
                yield from _flatten(item, prefix)
            else:
                yield prefix or "record", str(item)
    else:
        yield prefix or "record", str(messages)


def validate_record(
    raw: dict[str, Any],
) -> tuple[str | None, dict[str, Any], list[tuple[str, str]]]:
    """Return (type, clean data, [(field, reason)])."""
    return _validate(raw, {})


# ---------------------------------------------------------------- applying
#
# Import runs in two passes. The plan pass resolves every reference and compares every
# record with the stored row in memory (stored rows are read with one SELECT per table),
# so a file with errors is refused before anything is written. The write pass then sends
# batched INSERTs (RETURNING the new ids) and UPDATEs by primary key. That skips the ORM
# unit of work and with it the flush hooks, so what they would have done is done here:
# search outbox rows for every changed indexed record (search_sync._affected's rules),
# organisations' updated_at (matching._touch_organizations) and the matching invalidation.

BATCH = 5000  # rows per executemany call; also the progress bar's step while writing
LOOKUP_BATCH = 2000  # refs per "ref IN (…)" (SQLite before 3.32 allows 999 parameters)

_ORG = Organization.__table__
_ENT = Enterprise.__table__
_FUN = Funder.__table__
_PAT = Patent.__table__
_COPY = Copyright.__table__
_TM = Trademark.__table__
_NEED = Need.__table__
_PROD = Product.__table__
_OUT = Outcome.__table__
# Enterprise / funder values stored on the shared organizations table.
_ORG_KEYS = ("name", "description", "contact_email")


def _enterprise_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": d["name"].strip(),
        "uscc": reference.validate_uscc(d["uscc"]) if d.get("uscc") else None,
        "industry": d["industry"],
        "region": d["region"],
        "founded": d.get("founded"),
        "employees": d.get("employees"),
        "revenue_cny": d.get("revenue_cny"),
        "total_assets_cny": d.get("total_assets_cny"),
        "high_tech": bool(d.get("high_tech", False)),
        "stage": d.get("stage"),
        "description": d.get("description") or "",
        "contact_email": d.get("contact_email"),
    }


def _funder_values(d: dict[str, Any], existing_status: str | None) -> dict[str, Any]:
    verified = d.get("verified", True)
    status = "verified" if verified else "pending"
    if not verified and existing_status == "rejected":
        status = "rejected"
    return {
        "name": d["name"].strip(),
        "kind": d["kind"],
        "regions": list(d.get("regions") or []),
        "description": d.get("description") or "",
        "contact_email": d.get("contact_email"),
        "status": status,
    }


def _patent_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": reference.validate_patent_number(d["number"]),
        "title": d["title"].strip(),
        "kind": d["kind"],
        "status": d["status"],
        "filed": d.get("filed"),
        "granted": d.get("granted"),
        "valuation_cny": d.get("valuation_cny"),
        "confidential": bool(d.get("confidential", False)),
        "abstract": d.get("abstract") or "",
    }


def _copyright_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": copyright_number(d["number"]),
        "title": d["title"].strip(),
        "status": d["status"],
        "registered": d.get("registered"),
        "valuation_cny": d.get("valuation_cny"),
        "confidential": bool(d.get("confidential", False)),
    }


def _trademark_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": d["number"].strip(),
        "name": d["name"].strip(),
        "nice_class": d["nice_class"],
        "status": d["status"],
        "registered": d.get("registered"),
        "valuation_cny": d.get("valuation_cny"),
        "confidential": bool(d.get("confidential", False)),
    }


def _need_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": d["kind"],
        "amount_cny": d["amount_cny"],
        "term_months": d.get("term_months"),
        "purpose": d.get("purpose") or "",
        "collateral_available": bool(d.get("collateral_available", False)),
        "status": d.get("status", "published"),
        "created": d.get("created"),
    }


def _product_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": d["name"].strip(),
        "kind": d["kind"],
        "min_amount_cny": d.get("min_amount_cny"),
        "max_amount_cny": d.get("max_amount_cny"),
        "min_term_months": d.get("min_term_months"),
        "max_term_months": d.get("max_term_months"),
        "rate_min": d.get("rate_min"),
        "rate_max": d.get("rate_max"),
        "industries": list(d.get("industries") or []),
        "regions": list(d.get("regions") or []),
        "stages": list(d.get("stages") or []),
        "requires_patent": bool(d.get("requires_patent", False)),
        # Kept as given, duplicates dropped; empty means the interchange default.
        "accepted_ip": list(dict.fromkeys(d.get("accepted_ip") or [])),
        "min_ip_count": d.get("min_ip_count") or 1,
        "requires_collateral": bool(d.get("requires_collateral", False)),
        "requires_high_tech": bool(d.get("requires_high_tech", False)),
        "status": d.get("status", "active"),
        "description": d.get("description") or "",
    }


def _outcome_values(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount_cny": d.get("amount_cny"),
        "rate": d.get("rate"),
        "issued": d.get("issued"),
        "matures": d.get("matures"),
        "repayment": d.get("repayment"),
        "note": d.get("note") or "",
    }


def _cols(table: Any, keys: Iterable[str]) -> list[Any]:
    return [table.c[k] for k in keys]


_ENT_KEYS = tuple(_enterprise_values(
    {"name": "", "industry": "", "region": ""}).keys())  # fmt: skip
_FUN_KEYS = tuple(_funder_values({"name": "", "kind": ""}, None).keys())
_PAT_KEYS = ("title", "kind", "status", "filed", "granted", "valuation_cny", "confidential",
             "abstract", "number")  # fmt: skip
_COPY_KEYS = ("title", "status", "registered", "valuation_cny", "confidential", "number")
_TM_KEYS = ("name", "nice_class", "status", "registered", "valuation_cny", "confidential",
            "number")  # fmt: skip
_NEED_KEYS = tuple(_need_values({"kind": "", "amount_cny": 0}).keys())
_PROD_KEYS = tuple(_product_values({"name": "", "kind": ""}).keys())
_OUT_KEYS = tuple(_outcome_values({}).keys())


class _Index:
    """Stored rows of every imported table, read once per import with plain SELECTs (no
    ORM objects), plus the refs this file adds, so resolving a reference costs no query."""

    def __init__(self) -> None:
        s = db.session
        org_ent = _ORG.join(_ENT, _ENT.c.id == _ORG.c.id)
        org_fun = _ORG.join(_FUN, _FUN.c.id == _ORG.c.id)
        self.enterprise = self._load(
            select(_ORG.c.id, _ORG.c.ref, *_cols(_ORG, _ORG_KEYS),
                   *_cols(_ENT, [k for k in _ENT_KEYS if k not in _ORG_KEYS])).select_from(org_ent)
        )  # fmt: skip
        self.funder = self._load(
            select(_ORG.c.id, _ORG.c.ref, *_cols(_ORG, _ORG_KEYS),
                   *_cols(_FUN, [k for k in _FUN_KEYS if k not in _ORG_KEYS])).select_from(org_fun)
        )  # fmt: skip
        self.patent = self._load(
            select(_PAT.c.id, _PAT.c.ref, *_cols(_PAT, _PAT_KEYS),
                   _ORG.c.ref.label("enterprise_ref")).join(_ORG, _ORG.c.id == _PAT.c.enterprise_id)
        )  # fmt: skip
        self.copyright = self._load(
            select(_COPY.c.id, _COPY.c.ref, *_cols(_COPY, _COPY_KEYS),
                   _ORG.c.ref.label("enterprise_ref")).join(_ORG, _ORG.c.id == _COPY.c.enterprise_id)
        )  # fmt: skip
        self.trademark = self._load(
            select(_TM.c.id, _TM.c.ref, *_cols(_TM, _TM_KEYS),
                   _ORG.c.ref.label("enterprise_ref")).join(_ORG, _ORG.c.id == _TM.c.enterprise_id)
        )  # fmt: skip
        self.need = self._load(
            select(_NEED.c.id, _NEED.c.ref, *_cols(_NEED, _NEED_KEYS),
                   _ORG.c.ref.label("enterprise_ref")).join(_ORG, _ORG.c.id == _NEED.c.enterprise_id)
        )  # fmt: skip
        self.product = self._load(
            select(_PROD.c.id, _PROD.c.ref, *_cols(_PROD, _PROD_KEYS),
                   _ORG.c.ref.label("funder_ref")).join(_ORG, _ORG.c.id == _PROD.c.funder_id)
        )  # fmt: skip
        need_ref, prod_ref = _NEED.c.ref.label("need_ref"), _PROD.c.ref.label("product_ref")
        self.outcome: dict[Any, tuple[int, dict[str, Any]]] = {}
        query = (
            select(_OUT.c.id, need_ref, prod_ref, _OUT.c.stage, _OUT.c.date,
                   _OUT.c.reopened_at, *_cols(_OUT, _OUT_KEYS))
            .join(_NEED, _NEED.c.id == _OUT.c.need_id)
            .join(_PROD, _PROD.c.id == _OUT.c.product_id)
        )  # fmt: skip
        self.reopened: set[Any] = set()
        for row in s.execute(query).mappings():
            key = (row["need_ref"], row["product_ref"], row["stage"], row["date"])
            self.outcome[key] = (row["id"], {k: row[k] for k in _OUT_KEYS})
            if row["reopened_at"] is not None:
                self.reopened.add(key)
        # The pipeline state of each pair (services/pipeline.py), built from the rows above
        # when the first outcome record is planned: no query per record.
        self.pairs: dict[tuple[str, str], Any] | None = None
        # status and kind of needs, kind of products: stored, then as this file sets them
        self.need_info = {ref: (v["status"], v["kind"]) for ref, (_i, v) in self.need.items()}
        self.product_kind = {ref: v["kind"] for ref, (_i, v) in self.product.items()}
        self.uscc = {v["uscc"]: ref for ref, (_i, v) in self.enterprise.items() if v["uscc"]}
        # (enterprise ref, application number) → patent ref: one number once per enterprise
        self.patent_number = {(v["enterprise_ref"], v["number"]): ref
                              for ref, (_i, v) in self.patent.items()}  # fmt: skip
        # refs accepted so far: stored, or valid in this file (parents come first)
        self.known: dict[str, set[str]] = {
            k: set(getattr(self, k)) for k in ("enterprise", "funder", "need", "product")
        }
        self.invalid: dict[tuple[str, str], Location] = {}

    @staticmethod
    def _load(query: Any) -> dict[str, tuple[int, dict[str, Any]]]:
        out = {}
        for row in db.session.execute(query).mappings():
            values = dict(row)
            out[values.pop("ref")] = (values.pop("id"), values)
        return out

    def missing(self, kind: str, ref: str) -> str:
        """Why a reference does not resolve: unknown, or refused earlier in this file."""
        where = self.invalid.get((kind, ref))
        if where:
            return f"refers to {kind} {ref!r}, which is invalid ({where})"
        return f"no {kind} with ref {ref!r}"


@dataclass
class _Changes:
    """What the write pass must do for one type."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


Problem = tuple[str, str] | None


def _classify(
    report: ImportReport, kind: str, changes: _Changes, stored: Any, values: dict[str, Any]
) -> None:
    if stored is None:
        changes.inserts.append(values)
        report.bump(report.created, kind)
    elif any(stored[1].get(k) != v for k, v in values.items() if k != "ref"):
        changes.updates.append((stored[0], values))
        report.bump(report.updated, kind)
    else:
        report.bump(report.unchanged, kind)


def _plan_enterprise(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    values = _enterprise_values(d)
    owner = idx.uscc.get(values["uscc"]) if values["uscc"] else None
    if owner is not None and owner != d["ref"]:
        return "uscc", f"already used by enterprise {owner}"
    _classify(report, "enterprise", ch, idx.enterprise.get(d["ref"]), {"ref": d["ref"], **values})
    idx.known["enterprise"].add(d["ref"])
    if values["uscc"]:
        idx.uscc[values["uscc"]] = d["ref"]
    return None


def _plan_funder(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    stored = idx.funder.get(d["ref"])
    values = _funder_values(d, stored[1]["status"] if stored else None)
    _classify(report, "funder", ch, stored, {"ref": d["ref"], **values})
    idx.known["funder"].add(d["ref"])
    return None


def _plan_patent(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    if d["enterprise_ref"] not in idx.known["enterprise"]:
        return "enterprise_ref", idx.missing("enterprise", d["enterprise_ref"])
    values = {"ref": d["ref"], **_patent_values(d), "enterprise_ref": d["enterprise_ref"]}
    key = (d["enterprise_ref"], values["number"])
    owner = idx.patent_number.get(key)
    if owner is not None and owner != d["ref"]:
        return (
            "number",
            f"already recorded for this enterprise as patent {owner} / 本企业已登记该专利",
        )
    stored = idx.patent.get(d["ref"])
    if stored is not None:  # a renumbered patent frees its old number
        idx.patent_number.pop((stored[1]["enterprise_ref"], stored[1]["number"]), None)
    _classify(report, "patent", ch, stored, values)
    idx.patent_number[key] = d["ref"]
    return None


def _plan_copyright(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    if d["enterprise_ref"] not in idx.known["enterprise"]:
        return "enterprise_ref", idx.missing("enterprise", d["enterprise_ref"])
    values = {"ref": d["ref"], **_copyright_values(d), "enterprise_ref": d["enterprise_ref"]}
    _classify(report, "copyright", ch, idx.copyright.get(d["ref"]), values)
    return None


def _plan_trademark(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    if d["enterprise_ref"] not in idx.known["enterprise"]:
        return "enterprise_ref", idx.missing("enterprise", d["enterprise_ref"])
    values = {"ref": d["ref"], **_trademark_values(d), "enterprise_ref": d["enterprise_ref"]}
    _classify(report, "trademark", ch, idx.trademark.get(d["ref"]), values)
    return None


def _plan_need(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    if d["enterprise_ref"] not in idx.known["enterprise"]:
        return "enterprise_ref", idx.missing("enterprise", d["enterprise_ref"])
    values = {"ref": d["ref"], **_need_values(d), "enterprise_ref": d["enterprise_ref"]}
    stored = idx.need.get(d["ref"])
    if stored is not None:
        from techfin.services.catalog import need_status_problem  # late: catalog imports us

        problem = need_status_problem(stored[1]["status"], values["status"])
        if problem:
            return "status", problem
    _classify(report, "need", ch, stored, values)
    idx.known["need"].add(d["ref"])
    idx.need_info[d["ref"]] = (values["status"], values["kind"])
    return None


def _plan_product(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    if d["funder_ref"] not in idx.known["funder"]:
        return "funder_ref", idx.missing("funder", d["funder_ref"])
    values = {"ref": d["ref"], **_product_values(d), "funder_ref": d["funder_ref"]}
    stored = idx.product.get(d["ref"])
    if stored is not None and any(stored[1].get(k) != v for k, v in values.items() if k != "ref"):
        from techfin.services.lifecycle import product_change_problem  # late: it imports us

        problem = product_change_problem(stored[1]["status"], values["status"])
        if problem:
            return "status", problem
    _classify(report, "product", ch, stored, values)
    idx.known["product"].add(d["ref"])
    idx.product_kind[d["ref"]] = values["kind"]
    return None


def _plan_outcome(idx: _Index, d: dict, report: ImportReport, ch: _Changes) -> Problem:
    if d["need_ref"] not in idx.known["need"]:
        return "need_ref", idx.missing("need", d["need_ref"])
    if d["product_ref"] not in idx.known["product"]:
        return "product_ref", idx.missing("product", d["product_ref"])
    from techfin.services import pipeline  # late: pipeline imports this module

    key = (d["need_ref"], d["product_ref"], d["stage"], d["date"])
    values = {"need_ref": d["need_ref"], "product_ref": d["product_ref"], "stage": d["stage"],
              "date": d["date"], **_outcome_values(d)}  # fmt: skip
    stored = idx.outcome.get(key)
    changed = stored is None or any(stored[1][k] != values[k] for k in _OUT_KEYS)
    if changed:  # what pipeline.advance / catalog.update_outcome refuse, refused here too
        status, need_kind = idx.need_info[d["need_ref"]]
        kinds = (need_kind, idx.product_kind[d["product_ref"]])
        problems = pipeline.funded_problems(d["stage"], kinds, values)
        if stored is None:
            if status == "draft":
                problems = {"need_ref": [pipeline.MSG_DRAFT]}
            else:
                pair = (d["need_ref"], d["product_ref"])
                state = _pair_states(idx).get(pair, pipeline.PairState())
                problems = pipeline.step_problems(state, d["stage"], d["date"]) or problems
        if problems:
            field_name, messages = next(iter(problems.items()))
            return field_name, messages[0]
    if stored is None:
        pair = (d["need_ref"], d["product_ref"])
        states = _pair_states(idx)
        since = states[pair].since if pair in states else None
        states[pair] = pipeline.PairState(
            d["stage"], d["date"] if since is None or d["date"] > since else since
        )
        ch.inserts.append(values)
        report.bump(report.created, "outcome")
    elif any(stored[1][k] != values[k] for k in _OUT_KEYS):
        ch.updates.append((stored[0], values))
        report.bump(report.updated, "outcome")
    else:
        report.bump(report.unchanged, "outcome")
    return None


def _pair_states(idx: _Index) -> dict[tuple[str, str], Any]:
    """Each stored pair's pipeline state, from the outcome rows the index holds (once)."""
    if idx.pairs is None:
        from techfin.services import pipeline

        steps: dict[tuple[str, str], list[tuple[Any, int, str, bool]]] = {}
        for key, (row_id, _v) in idx.outcome.items():
            need_ref, product_ref, stage, day = key
            steps.setdefault((need_ref, product_ref), []).append(
                (day, row_id, stage, key in idx.reopened)
            )
        idx.pairs = {
            pair: pipeline.fold((stage, day, reopened) for day, _i, stage, reopened in sorted(rows))
            for pair, rows in steps.items()
        }
    return idx.pairs


_PLANNERS: dict[str, Callable[[_Index, dict, ImportReport, _Changes], Problem]] = {
    "enterprise": _plan_enterprise,
    "funder": _plan_funder,
    "patent": _plan_patent,
    "copyright": _plan_copyright,
    "trademark": _plan_trademark,
    "need": _plan_need,
    "product": _plan_product,
    "outcome": _plan_outcome,
}


def import_records(
    records: Iterable[tuple[Location, dict[str, Any]]],
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    actor: str = "import",
) -> ImportReport:
    """Validate and upsert records; commit only when all are valid (or skip_invalid).

    `progress` is called with a number of records, twice per record in all (once when it
    is validated, once when it is written or found unchanged or refused).
    """
    report = ImportReport()
    by_type: dict[str, list[tuple[Location, dict[str, Any]]]] = {k: [] for k in TYPE_ORDER}
    seen: dict[tuple[str, Any], Location] = {}
    invalid: dict[tuple[str, str], Location] = {}
    schemas: dict[str, Any] = {}
    step = _Stepper(progress)
    for location, raw in records:
        kind, data, problems = _validate(raw, schemas)
        step(1)
        step.total += 1
        if problems:
            report.errors.extend(ImportError_(location, f, r) for f, r in problems)
            if kind and isinstance(raw.get("ref"), str):
                invalid[(kind, raw["ref"])] = location
            continue
        assert kind is not None
        key = (
            (kind, data["need_ref"], data["product_ref"], data["stage"], data["date"])
            if kind == "outcome"
            else (kind, data["ref"])
        )
        if key in seen:
            report.errors.append(
                ImportError_(location, "ref", f"duplicate of {seen[key]} in the same file")
            )
            continue
        seen[key] = location
        by_type[kind].append((location, data))
    step.flush()

    db.session.flush()  # pending ORM changes go first, through their own hooks
    idx = _Index()
    idx.invalid = invalid
    changes = {kind: _Changes() for kind in TYPE_ORDER}
    # A pair's steps are checked in the order they happened, whatever the file's order.
    from techfin.services.pipeline import RANK  # late: pipeline imports this module

    by_type["outcome"].sort(key=lambda item: (item[1]["date"], RANK[item[1]["stage"]]))
    for kind in TYPE_ORDER:
        planner, plan = _PLANNERS[kind], changes[kind]
        for location, data in by_type[kind]:
            problem = planner(idx, data, report, plan)
            if problem:
                report.errors.append(ImportError_(location, problem[0], problem[1]))
        by_type[kind] = []  # the plan holds what is left to write: free the rest early
    if report.errors and not skip_invalid:
        db.session.rollback()
        step(step.total)  # nothing more to do: the bar ends full
        step.flush()
        return report
    # Records that will not be written (unchanged or refused) count as done now.
    written = sum(len(c.inserts) + len(c.updates) for c in changes.values())
    step(step.total - written)
    try:
        _write(idx, changes, step)
        if report.changed:
            audit.record(
                "import", object_type="file", actor=actor, detail={"summary": report.summary()}
            )
        db.session.commit()
    except Exception:
        # A statement refused halfway (a constraint, a lost connection): none of the file
        # stays, whichever batches went through before it.
        db.session.rollback()
        raise
    report.committed = True
    analyze_after_bulk(db.session, rows=written)  # a region's file: fresh planner statistics
    return report


class _Stepper:
    """Calls `progress` in steps of about BATCH records, not once per record."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress, self.done = progress, 0
        self.total = 0  # records read

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress and self.done >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.progress and self.done:
            self.progress(self.done)
        self.done = 0


def _validate(
    raw: dict[str, Any], schemas: dict[str, Any]
) -> tuple[str | None, dict[str, Any], list[tuple[str, str]]]:
    """validate_record with one schema instance per type (building one costs 3× a load)."""
    if "__error__" in raw:
        return None, {}, [("record", raw["__error__"])]
    kind = raw.get("type")
    if kind not in SCHEMAS:
        return None, {}, [("type", f"must be one of {', '.join(TYPE_ORDER)}")]
    schema = schemas.get(kind)
    if schema is None:
        schema = schemas[kind] = SCHEMAS[kind]()
    body = {k: v for k, v in raw.items() if k != "type"}
    try:
        data = schema.load(body)
    except ValidationError as exc:
        return kind, {}, list(_flatten(exc.messages))
    return kind, data, []


def _batches(rows: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _insert(
    table: Any, rows: list[dict[str, Any]], step: _Stepper | None, *, ids: bool, **where: Any
) -> dict[str, int]:
    """INSERT in batches (one executemany each); with ids, return {ref: new id}.

    The ids are read back by ref afterwards instead of with INSERT … RETURNING: RETURNING
    makes SQLAlchemy send one many-rows VALUES statement per 1 000 rows, and psycopg then
    spends more time parsing those unique statements than PostgreSQL spends inserting.
    `where` narrows the read-back (organizations holds refs of two types).
    """
    for batch in _batches(rows):
        _insert_batch(table, batch)
        if step:
            step(len(batch))
    if not ids:
        return {}
    new: dict[str, int] = {}
    query = select(table.c.ref, table.c.id).where(*(table.c[k] == v for k, v in where.items()))
    refs = [r["ref"] for r in rows]
    for start in range(0, len(refs), LOOKUP_BATCH):
        chunk = refs[start : start + LOOKUP_BATCH]
        for ref, id_ in db.session.execute(query.where(table.c.ref.in_(chunk))):
            new[ref] = id_
    return new


def _insert_batch(table: Any, rows: list[dict[str, Any]]) -> None:
    """One batch of new rows: COPY on PostgreSQL, executemany elsewhere.

    PostgreSQL runs an executemany INSERT as one statement per row, and parsing, planning
    and returning each one cost the server more than storing the row; COPY streams the rows
    into one statement, in the same transaction (the session's connection). SQLite runs in
    this process and does not pay that per-statement cost.
    """
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    from psycopg import sql

    cols = list(rows[0])
    # COPY skips SQLAlchemy's Python-side defaults (status_reason="", closed_reason="", …).
    defaults = {
        col.name: col.default.arg if col.default.is_scalar else col.default.arg(None)
        for col in table.columns
        if col.name not in rows[0] and col.default is not None
    }
    as_json = {c for c in cols if isinstance(table.c[c].type, JSON)}
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in [*cols, *defaults]),
    )
    extra = list(defaults.values())
    with connection.connection.driver_connection.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in as_json else row[c] for c in cols] + extra)


def _update(table: Any, rows: list[dict[str, Any]], step: _Stepper | None) -> None:
    """UPDATE … WHERE id = :row_id, one executemany per batch (all rows set the same keys)."""
    stmt = update(table).where(table.c.id == bindparam("row_id"))
    for batch in _batches(rows):
        db.session.execute(stmt, batch)
        if step:
            step(len(batch))


# Record types with a search document (search_sync.MODELS).
_INDEXED = ("enterprise", "funder", "patent", "copyright", "trademark", "need", "product")


def _write(idx: _Index, changes: dict[str, _Changes], step: _Stepper) -> None:
    now = utcnow()
    stamp = {"created_at": now, "updated_at": now}
    ids = {k: {ref: row[0] for ref, row in getattr(idx, k).items()} for k in idx.known}
    outbox: set[tuple[str, int]] = set()

    # Organisations: a row in organizations, then one in enterprises / funders with its id.
    for kind, sub, keys in (("enterprise", _ENT, _ENT_KEYS), ("funder", _FUN, _FUN_KEYS)):
        ch = changes[kind]
        sub_keys = [k for k in keys if k not in _ORG_KEYS]
        org_rows = [{"type": kind, "ref": v["ref"], **{k: v[k] for k in _ORG_KEYS}, **stamp}
                    for v in ch.inserts]  # fmt: skip
        new = _insert(_ORG, org_rows, None, ids=True, type=kind)
        ids[kind].update(new)
        _insert(sub, [{"id": new[v["ref"]], **{k: v[k] for k in sub_keys}} for v in ch.inserts],
                step, ids=False)  # fmt: skip
        # The shared updated_at moves with any change (as matching._touch_organizations does).
        _update(_ORG, [{"row_id": i, **{k: v[k] for k in _ORG_KEYS}, "updated_at": now}
                       for i, v in ch.updates], None)  # fmt: skip
        _update(sub, [{"row_id": i, **{k: v[k] for k in sub_keys}} for i, v in ch.updates], step)
        outbox.update((kind, i) for i in (*new.values(), *(i for i, _v in ch.updates)))

    # Children: the parent's id comes from the stored rows or from the inserts above.
    for kind, table, keys, parent, fk in (
        ("patent", _PAT, _PAT_KEYS, "enterprise", "enterprise_id"),
        ("copyright", _COPY, _COPY_KEYS, "enterprise", "enterprise_id"),
        ("trademark", _TM, _TM_KEYS, "enterprise", "enterprise_id"),
        ("need", _NEED, _NEED_KEYS, "enterprise", "enterprise_id"),
        ("product", _PROD, _PROD_KEYS, "funder", "funder_id"),
    ):
        ch, parent_ids = changes[kind], ids[parent]
        ref_key = f"{parent}_ref"
        inserts = [{"ref": v["ref"], **{k: v[k] for k in keys}, fk: parent_ids[v[ref_key]],
                    **stamp} for v in ch.inserts]  # fmt: skip
        new = _insert(table, inserts, step, ids=True)
        ids.setdefault(kind, {}).update(new)
        updates = [{"row_id": i, **{k: v[k] for k in keys}, fk: parent_ids[v[ref_key]],
                    "updated_at": now} for i, v in ch.updates]  # fmt: skip
        _update(table, updates, step)
        if kind in _INDEXED:
            outbox.update((kind, i) for i in (*new.values(), *(i for i, _v in ch.updates)))
        if kind == "need":
            # An enterprise's document says whether it has a published need.
            outbox.update(("enterprise", parent_ids[v[ref_key]]) for v in ch.inserts)
            outbox.update(("enterprise", parent_ids[v[ref_key]]) for _i, v in ch.updates)
            # …and so does the one a moved need leaves.
            outbox.update(("enterprise", parent_ids[idx.need[v["ref"]][1][ref_key]])
                          for _i, v in ch.updates)  # fmt: skip

    out = changes["outcome"]
    out_rows = [
        {"need_id": ids["need"][v["need_ref"]], "product_id": ids["product"][v["product_ref"]],
         "stage": v["stage"], "date": v["date"], **{k: v[k] for k in _OUT_KEYS}, **stamp}
        for v in out.inserts
    ]  # fmt: skip
    _insert(_OUT, out_rows, step, ids=False)
    _update(_OUT, [{"row_id": i, **{k: v[k] for k in _OUT_KEYS}, "updated_at": now}
                   for i, v in out.updates], step)  # fmt: skip
    step.flush()

    _search_outbox(idx, changes, ids, outbox, now)
    if any(changes[k].inserts or changes[k].updates for k in TYPE_ORDER if k != "outcome"):
        # Outcomes train the model; they do not change stored rankings (see matching._collect).
        from techfin.services import matching  # late: matching imports much of the app

        matching.mark_all_dirty(db.session)


def _search_outbox(
    idx: _Index,
    changes: dict[str, _Changes],
    ids: dict[str, dict[str, int]],
    keys: set[tuple[str, int]],
    now: Any,
) -> None:
    """Outbox rows for what search_sync's flush hook would have recorded."""
    if db.session.info.get("search_outbox_off"):
        return
    # A changed enterprise's name, industry and region are in its needs' and patents'
    # documents; a changed institution's in its products' (new children are in `keys`).
    moved = {v["ref"] for _i, v in changes["enterprise"].updates}
    if moved:
        keys.update(("need", i) for i, v in idx.need.values() if v["enterprise_ref"] in moved)
        for kind in ("patent", "copyright", "trademark"):
            rows = getattr(idx, kind).values()
            keys.update((kind, i) for i, v in rows if v["enterprise_ref"] in moved)
    funders = {v["ref"] for _i, v in changes["funder"].updates}
    if funders:
        keys.update(("product", i) for i, v in idx.product.values() if v["funder_ref"] in funders)
    if changes["funder"].inserts or funders:
        # Patents shared with "every verified institution" change audience with the roster.
        shared = select(SharingRule.enterprise_id).where(SharingRule.funder_id.is_(None))
        for kind, table in (("patent", _PAT), ("copyright", _COPY), ("trademark", _TM)):
            rows = db.session.execute(select(table.c.id).where(table.c.enterprise_id.in_(shared)))
            keys.update((kind, i) for i in rows.scalars())
    rows = [{"doc_type": t, "doc_id": i, "created_at": now} for t, i in sorted(keys)]
    for batch in _batches(rows):
        _insert_batch(SearchOutbox.__table__, batch)
    if rows:
        db.session.info["search_dirty"] = True


def import_file(
    path: str | Path, *, skip_invalid: bool = False, progress: Progress | None = None
) -> ImportReport:
    return import_records(
        read_file(path),
        skip_invalid=skip_invalid,
        progress=progress,
        actor=f"import:{Path(path).name}",
    )


# ---------------------------------------------------------------- export


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None:
            continue
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def enterprise_record(e: Enterprise) -> dict[str, Any]:
    return _clean(
        {"type": "enterprise", "ref": e.ref, "name": e.name, "uscc": e.uscc, "industry": e.industry,
         "region": e.region, "founded": e.founded, "employees": e.employees,
         "revenue_cny": e.revenue_cny, "total_assets_cny": e.total_assets_cny,
         "high_tech": e.high_tech, "stage": e.stage, "description": e.description,
         "contact_email": e.contact_email}
    )  # fmt: skip


def funder_record(f: Funder) -> dict[str, Any]:
    return _clean(
        {"type": "funder", "ref": f.ref, "name": f.name, "kind": f.kind, "regions": f.regions,
         "description": f.description, "contact_email": f.contact_email, "verified": f.verified}
    )  # fmt: skip


def patent_record(p: Patent) -> dict[str, Any]:
    return _clean(
        {"type": "patent", "ref": p.ref, "enterprise_ref": p.enterprise.ref, "number": p.number,
         "title": p.title, "kind": p.kind, "status": p.status, "filed": p.filed,
         "granted": p.granted, "valuation_cny": p.valuation_cny, "confidential": p.confidential,
         "abstract": p.abstract}
    )  # fmt: skip


def copyright_record(c: Copyright) -> dict[str, Any]:
    return _clean(
        {"type": "copyright", "ref": c.ref, "enterprise_ref": c.enterprise.ref,
         "number": c.number, "title": c.title, "status": c.status, "registered": c.registered,
         "valuation_cny": c.valuation_cny, "confidential": c.confidential}
    )  # fmt: skip


def trademark_record(t: Trademark) -> dict[str, Any]:
    return _clean(
        {"type": "trademark", "ref": t.ref, "enterprise_ref": t.enterprise.ref,
         "number": t.number, "name": t.name, "nice_class": t.nice_class, "status": t.status,
         "registered": t.registered, "valuation_cny": t.valuation_cny,
         "confidential": t.confidential}
    )  # fmt: skip


def need_record(n: Need) -> dict[str, Any]:
    return _clean(
        {"type": "need", "ref": n.ref, "enterprise_ref": n.enterprise.ref, "kind": n.kind,
         "amount_cny": n.amount_cny, "term_months": n.term_months, "purpose": n.purpose,
         "collateral_available": n.collateral_available, "status": n.status, "created": n.created}
    )  # fmt: skip


def product_record(p: Product) -> dict[str, Any]:
    return _clean(
        {"type": "product", "ref": p.ref, "funder_ref": p.funder.ref, "name": p.name,
         "kind": p.kind, "min_amount_cny": p.min_amount_cny, "max_amount_cny": p.max_amount_cny,
         "min_term_months": p.min_term_months, "max_term_months": p.max_term_months,
         "rate_min": p.rate_min, "rate_max": p.rate_max, "industries": p.industries,
         "regions": p.regions, "stages": p.stages, "requires_patent": p.requires_patent,
         "accepted_ip": list(p.accepted_ip or []), "min_ip_count": p.min_ip_count,
         "requires_collateral": p.requires_collateral, "requires_high_tech": p.requires_high_tech,
         "status": p.status, "description": p.description}
    )  # fmt: skip


def outcome_record(o: Outcome) -> dict[str, Any]:
    return _clean(
        {"type": "outcome", "need_ref": o.need.ref, "product_ref": o.product.ref,
         "stage": o.stage, "date": o.date, "amount_cny": o.amount_cny, "rate": o.rate,
         "issued": o.issued, "matures": o.matures, "repayment": o.repayment, "note": o.note}
    )  # fmt: skip


def export_records() -> Iterator[dict[str, Any]]:
    """Every record, parents first, in a stable order (by ref, outcomes by date)."""
    s = db.session

    def rows(query: Any, *parents: Any) -> Iterator[Any]:
        # The parent's ref comes in the same query: a lazy load per row took minutes at
        # 100 000 enterprises (the parents loaded earlier are garbage by then).
        query = query.options(*(joinedload(p, innerjoin=True) for p in parents))
        yield from s.execute(query.execution_options(yield_per=2000)).scalars()

    for e in rows(db.select(Enterprise).order_by(Enterprise.ref)):
        yield enterprise_record(e)
    for f in rows(db.select(Funder).order_by(Funder.ref)):
        yield funder_record(f)
    for p in rows(db.select(Patent).order_by(Patent.ref), Patent.enterprise):
        yield patent_record(p)
    for c in rows(db.select(Copyright).order_by(Copyright.ref), Copyright.enterprise):
        yield copyright_record(c)
    for t in rows(db.select(Trademark).order_by(Trademark.ref), Trademark.enterprise):
        yield trademark_record(t)
    for n in rows(db.select(Need).order_by(Need.ref), Need.enterprise):
        yield need_record(n)
    for p in rows(db.select(Product).order_by(Product.ref), Product.funder):
        yield product_record(p)
    query = db.select(Outcome).order_by(Outcome.date, Outcome.id)
    for o in rows(query, Outcome.need, Outcome.product):
        yield outcome_record(o)


def export_file(path: str | Path, records: Iterable[dict[str, Any]] | None = None) -> int:
    """Write records to .jsonl, .csv or .xlsx; returns the number written."""
    path = Path(path)
    rows = list(records if records is not None else export_records())
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif suffix == ".xlsx":
        _write_xlsx(path, rows)
    elif suffix == ".csv":
        _write_csv(path, rows)
    else:
        raise InterchangeFormatError(f"unsupported file type {suffix!r}: use .jsonl, .csv or .xlsx")
    audit.record(
        "export", object_type="file", actor="cli", detail={"file": path.name, "n": len(rows)}
    )
    db.session.commit()
    return len(rows)


def _columns(kind: str) -> list[str]:
    return ["type", *SCHEMAS[kind]._declared_fields.keys()]


def safe_cell(value: Any) -> Any:
    """A report cell: lists joined, user text neutralised like the interchange export."""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return _guard_text(value)


_GUARDED = re.compile(r"'*[=+\-@\t\r]")


def _guard_text(value: Any) -> Any:
    """Export side of the round trip: text a spreadsheet would run as a formula gets one
    leading apostrophe (so does text already starting with apostrophes before such a
    character, so that _restore_text gives back exactly what was written)."""
    if isinstance(value, str) and _GUARDED.match(value):
        return "'" + value
    return value


def _restore_text(value: Any) -> Any:
    """Import side: drop the apostrophe _guard_text (or a person in Excel) put in front."""
    if isinstance(value, str) and value.startswith("'") and _GUARDED.match(value[1:]):
        return value[1:]
    return value


def _write_xlsx(path: Path, rows: list[dict[str, Any]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    for kind in TYPE_ORDER:
        sheet = book.add_worksheet(kind)
        cols = _columns(kind)
        sheet.write_row(0, 0, cols)
        r = 1
        for row in rows:
            if row["type"] != kind:
                continue
            sheet.write_row(r, 0, [_xlsx_value(row.get(c)) for c in cols])
            r += 1
    book.close()


def _xlsx_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _guard_text(value)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    cols: list[str] = ["type"]
    for kind in TYPE_ORDER:
        cols += [c for c in _columns(kind) if c not in cols]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _guard_text(value)
