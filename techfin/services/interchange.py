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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields

from techfin import reference
from techfin.extensions import db
from techfin.models import Enterprise, Funder, Need, Outcome, Patent, Product
from techfin.services import audit
from techfin.services.records import SCHEMAS, TYPE_ORDER

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


def read_file(path: str | Path) -> list[tuple[Location, dict[str, Any]]]:
    """Parse a .jsonl/.json, .csv or .xlsx file into (location, raw record) pairs."""
    path = Path(path)
    suffix = path.suffix.lower()
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
    for sheet in book.worksheets:
        rows = sheet.iter_rows(values_only=True)
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
            record.setdefault("type", sheet.title)
            yield f"{sheet.title}!{number}", _coerce_tabular(record)
    book.close()


_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}


# Every integer below this is exact in a double; above it Excel may already have rounded
# (an 18-digit USCC typed as a number), so such a cell cannot be trusted as digits.
_EXACT_DIGITS = 10**15


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
    if "__error__" in raw:
        return None, {}, [("record", raw["__error__"])]
    kind = raw.get("type")
    if kind not in SCHEMAS:
        return None, {}, [("type", f"must be one of {', '.join(TYPE_ORDER)}")]
    body = {k: v for k, v in raw.items() if k != "type"}
    try:
        data = SCHEMAS[kind]().load(body)
    except ValidationError as exc:
        return kind, {}, list(_flatten(exc.messages))
    return kind, data, []


# ---------------------------------------------------------------- applying


def _set(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


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


def _funder_values(d: dict[str, Any], existing: Funder | None) -> dict[str, Any]:
    verified = d.get("verified", True)
    status = "verified" if verified else "pending"
    if not verified and existing is not None and existing.status == "rejected":
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


class _Index:
    """ref → row maps, loaded once per import so a large file costs no query per line."""

    def __init__(self) -> None:
        s = db.session
        self.enterprise = {e.ref: e for e in s.execute(db.select(Enterprise)).scalars()}
        self.funder = {f.ref: f for f in s.execute(db.select(Funder)).scalars()}
        self.patent = {p.ref: p for p in s.execute(db.select(Patent)).scalars()}
        self.need = {n.ref: n for n in s.execute(db.select(Need)).scalars()}
        self.product = {p.ref: p for p in s.execute(db.select(Product)).scalars()}
        self.outcome = {
            (o.need_id, o.product_id, o.stage, o.date): o
            for o in s.execute(db.select(Outcome)).scalars()
        }
        self.uscc = {e.uscc: e.ref for e in self.enterprise.values() if e.uscc}
        self.invalid: dict[tuple[str, str], Location] = {}

    def missing(self, kind: str, ref: str) -> str:
        """Why a reference does not resolve: unknown, or refused earlier in this file."""
        where = self.invalid.get((kind, ref))
        if where:
            return f"refers to {kind} {ref!r}, which is invalid ({where})"
        return f"no {kind} with ref {ref!r}"


def import_records(
    records: Iterable[tuple[Location, dict[str, Any]]],
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    actor: str = "import",
) -> ImportReport:
    """Validate and upsert records; commit only when all are valid (or skip_invalid)."""
    report = ImportReport()
    by_type: dict[str, list[tuple[Location, dict[str, Any]]]] = {k: [] for k in TYPE_ORDER}
    seen: dict[tuple[str, Any], Location] = {}
    invalid: dict[tuple[str, str], Location] = {}
    for location, raw in records:
        kind, data, problems = validate_record(raw)
        if progress:
            progress(1)
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

    idx = _Index()
    idx.invalid = invalid
    handlers = {
        "enterprise": _apply_enterprise,
        "funder": _apply_funder,
        "patent": _apply_patent,
        "need": _apply_need,
        "product": _apply_product,
        "outcome": _apply_outcome,
    }
    with db.session.no_autoflush:
        for kind in TYPE_ORDER:
            for location, data in by_type[kind]:
                problem = handlers[kind](idx, data, report)
                if problem:
                    report.errors.append(ImportError_(location, problem[0], problem[1]))
    if report.errors and not skip_invalid:
        db.session.rollback()
        return report
    if report.changed:
        audit.record(
            "import", object_type="file", actor=actor, detail={"summary": report.summary()}
        )
    db.session.commit()
    report.committed = True
    return report


def _upsert(
    report: ImportReport, kind: str, existing: Any, make: Callable[[], Any], values: dict
) -> Any:
    if existing is None:
        obj = make()
        _set(obj, values)
        db.session.add(obj)
        report.bump(report.created, kind)
        return obj
    if _set(existing, values):
        report.bump(report.updated, kind)
    else:
        report.bump(report.unchanged, kind)
    return existing


def _apply_enterprise(idx: _Index, d: dict, report: ImportReport) -> tuple[str, str] | None:
    values = _enterprise_values(d)
    owner = idx.uscc.get(values["uscc"]) if values["uscc"] else None
    if owner is not None and owner != d["ref"]:
        return "uscc", f"already used by enterprise {owner}"
    obj = _upsert(
        report, "enterprise", idx.enterprise.get(d["ref"]), lambda: Enterprise(ref=d["ref"]), values
    )
    idx.enterprise[d["ref"]] = obj
    if values["uscc"]:
        idx.uscc[values["uscc"]] = d["ref"]
    return None


def _apply_funder(idx: _Index, d: dict, report: ImportReport) -> tuple[str, str] | None:
    existing = idx.funder.get(d["ref"])
    obj = _upsert(
        report, "funder", existing, lambda: Funder(ref=d["ref"]), _funder_values(d, existing)
    )
    idx.funder[d["ref"]] = obj
    return None


def _apply_patent(idx: _Index, d: dict, report: ImportReport) -> tuple[str, str] | None:
    owner = idx.enterprise.get(d["enterprise_ref"])
    if owner is None:
        return "enterprise_ref", idx.missing("enterprise", d["enterprise_ref"])
    values = _patent_values(d) | {"enterprise": owner}
    idx.patent[d["ref"]] = _upsert(
        report, "patent", idx.patent.get(d["ref"]), lambda: Patent(ref=d["ref"]), values
    )
    return None


def _apply_need(idx: _Index, d: dict, report: ImportReport) -> tuple[str, str] | None:
    owner = idx.enterprise.get(d["enterprise_ref"])
    if owner is None:
        return "enterprise_ref", idx.missing("enterprise", d["enterprise_ref"])
    values = _need_values(d) | {"enterprise": owner}
    idx.need[d["ref"]] = _upsert(
        report, "need", idx.need.get(d["ref"]), lambda: Need(ref=d["ref"]), values
    )
    return None


def _apply_product(idx: _Index, d: dict, report: ImportReport) -> tuple[str, str] | None:
    owner = idx.funder.get(d["funder_ref"])
    if owner is None:
        return "funder_ref", idx.missing("funder", d["funder_ref"])
    values = _product_values(d) | {"funder": owner}
    idx.product[d["ref"]] = _upsert(
        report, "product", idx.product.get(d["ref"]), lambda: Product(ref=d["ref"]), values
    )
    return None


def _apply_outcome(idx: _Index, d: dict, report: ImportReport) -> tuple[str, str] | None:
    need = idx.need.get(d["need_ref"])
    if need is None:
        return "need_ref", idx.missing("need", d["need_ref"])
    product = idx.product.get(d["product_ref"])
    if product is None:
        return "product_ref", idx.missing("product", d["product_ref"])
    if need.id is None or product.id is None:
        db.session.flush()
    key = (need.id, product.id, d["stage"], d["date"])
    idx.outcome[key] = _upsert(
        report,
        "outcome",
        idx.outcome.get(key),
        lambda: Outcome(need=need, product=product, stage=d["stage"], date=d["date"]),
        _outcome_values(d),
    )
    return None


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
    for e in s.execute(db.select(Enterprise).order_by(Enterprise.ref)).scalars():
        yield enterprise_record(e)
    for f in s.execute(db.select(Funder).order_by(Funder.ref)).scalars():
        yield funder_record(f)
    for p in s.execute(db.select(Patent).order_by(Patent.ref)).scalars():
        yield patent_record(p)
    for n in s.execute(db.select(Need).order_by(Need.ref)).scalars():
        yield need_record(n)
    for p in s.execute(db.select(Product).order_by(Product.ref)).scalars():
        yield product_record(p)
    for o in s.execute(db.select(Outcome).order_by(Outcome.date, Outcome.id)).scalars():
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
