"""Spreadsheets through LibreOffice (Debian's libreoffice-calc-nogui, installed by
`make browser`): what we write, LibreOffice opens and saves, and we read back the same.

Slow (LibreOffice starts once per conversion, ~5-20 s) but part of the normal suite: it is
the only check that real spreadsheet software, not just our own reader, agrees with us.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from techfin.extensions import db
from techfin.models import Enterprise, Funder, Product
from techfin.services import interchange, reports
from techfin.services import pool as pools

CSV_UTF8 = "csv:Text - txt - csv (StarCalc):44,34,76,1"  # comma, quote, UTF-8, from line 1


def _soffice(src: Path, target: str, outdir: Path, profile: Path, infilter: str = "") -> Path:
    """Convert with LibreOffice headless into `outdir`; the converted file's path."""
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    if binary is None:
        pytest.fail("LibreOffice is missing: run `make browser` (apt libreoffice-calc-nogui)")
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
           "--convert-to", target, "--outdir", str(outdir)]  # fmt: skip
    if infilter:
        cmd.append(f"--infilter={infilter}")
    done = subprocess.run([*cmd, str(src)], capture_output=True, text=True, timeout=300)
    out = outdir / (src.stem + "." + target.split(":")[0])
    assert done.returncode == 0 and out.exists(), (done.stdout, done.stderr)
    return out


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One LibreOffice user profile for the module: its first start is the slow part."""
    return tmp_path_factory.mktemp("lo-profile")


def _records() -> list[dict]:
    return sorted(interchange.export_records(), key=lambda r: (r["type"], str(r)))


def test_export_data_survives_libreoffice(app, sample_data, tmp_path, profile):
    """export-data .xlsx (and .csv) → LibreOffice saves it as .xlsx → import: the same records
    (nothing created or updated, nothing refused), though LibreOffice turned codes into
    numbers and dates into date cells."""
    with app.app_context():
        before = _records()
        assert len(before) > 10
        ours = tmp_path / "export.xlsx"
        interchange.export_file(ours, before)
        resaved = _soffice(ours, "xlsx", tmp_path / "lo", profile)
        report = interchange.import_file(resaved)
        assert report.errors == [] and report.committed
        assert report.changed == 0, report.summary()
        assert sum(report.unchanged.values()) == len(before)

        # A CSV opened in LibreOffice and saved as XLSX: one sheet, a `type` column, and
        # every cell that looks like a number (region 442000, amounts) now a number.
        flat = tmp_path / "export.csv"
        interchange.export_file(flat, before)
        from_csv = _soffice(flat, "xlsx", tmp_path / "lo-csv", profile, infilter="CSV:44,34,76,1")
        report = interchange.import_file(from_csv)
        assert report.errors == [] and report.committed, [str(e) for e in report.errors][:5]
        assert report.changed == 0, report.summary()
        assert sum(report.unchanged.values()) == len(before)
        assert _records() == before


def test_quarterly_report_survives_libreoffice(app, users, user_obj, add_loans, tmp_path, profile):
    """The print-ready 申报汇总表 XLSX, saved by LibreOffice as XLSX and as CSV, reconciles
    with the pool's loans row for row (amounts with thousands separators, dates as dates)."""
    issued = [date(2026, 7, 1), date(2026, 8, 15), date(2026, 9, 30)]
    loans = add_loans("P-001", issued)
    with app.app_context():
        op = user_obj("op@ops.cn")
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        product = db.session.execute(db.select(Product).filter_by(ref="P-001")).scalar_one()
        pool = pools.save_pool(op, None, {
            "name": "省市联合科技贷款风险准备金", "funder_id": bank.id,
            "leverage_cap": Decimal(10), "compensation_pct": Decimal(50),
            "product_ids": [product.id]})  # fmt: skip
        for loan in loans:
            ent = db.session.execute(db.select(Enterprise).filter_by(ref=loan["ref"])).scalar_one()
            pools.add_member(op, pool, ent, date(2026, 1, 1))
        table = pools.quarter_table(pool, "2026Q3")
        assert len(table.rows) == 3
        ours = tmp_path / "report.xlsx"
        ours.write_bytes(reports.to_xlsx([table]))
        for target, name in (("xlsx", "report.xlsx"), (CSV_UTF8, "report.csv")):
            out = _soffice(ours, target, tmp_path / target.split(":")[0], profile)
            rows, errors = pools.read_bank_table(name, out.read_bytes(), "2026Q3")
            assert errors == [], [(e.row, e.problems) for e in errors]
            result = pools.reconcile(pool, "2026Q3", rows, errors)
            assert result.clean and len(result.matched) == 3, (target, result.discrepancies)
            assert sorted(r.amount_cny for r in rows) == sorted(ln["amount"] for ln in loans)
