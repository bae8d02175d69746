"""The risk-reserve pool: exact balance and leverage, the quarterly table, reconciliation."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from openpyxl import Workbook, load_workbook

from techfin.errors import DomainError, Forbidden
from techfin.extensions import db
from techfin.models import Enterprise, Funder, Outcome, Product, RiskPool
from techfin.services import pool as pools
from tests.integration.operations.conftest import valid_uscc


def _make_pool(user, members=("E-001",), products=("P-001",)) -> RiskPool:
    funder = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
    ids = [db.session.execute(db.select(Product.id).filter_by(ref=r)).scalar_one()
           for r in products]  # fmt: skip
    pool = pools.save_pool(user, None, {
        "name": "省市联合科技贷款风险准备金", "funder_id": funder.id, "leverage_cap": Decimal(10),
        "compensation_pct": Decimal(50), "product_ids": ids})  # fmt: skip
    for ref in members:
        ent = db.session.execute(db.select(Enterprise).filter_by(ref=ref)).scalar_one()
        pools.add_member(user, pool, ent, date(2026, 1, 1))
    return pool


def test_balance_and_leverage_are_exact(app, users, user_obj, add_loans):
    loans = add_loans("P-001", [date(2026, 7, 1), date(2026, 8, 15)], kind="ip_pledge")
    with app.app_context():
        op = user_obj("op@ops.cn")
        pool = _make_pool(op, members=("E-001", *(ln["ref"] for ln in loans)))
        pools.add_contribution(op, pool, "广东省生产力促进中心", 10_000_000, date(2026, 1, 5))
        pools.add_contribution(op, pool, "小榄镇政府", 40_000_000, date(2026, 2, 1))
        day = date(2026, 11, 1)
        s = pools.summary(pool, day)
        outstanding = 5_000_000 + sum(ln["amount"] for ln in loans if ln["matures"] > day)
        assert (s.contributed, s.compensated, s.balance) == (50_000_000, 0, 50_000_000)
        assert s.outstanding == outstanding
        assert s.leverage == Fraction(outstanding, 50_000_000)
        assert s.headroom == 500_000_000 - outstanding and not s.over_cap
        # Before the second contribution the balance is the province's 1 000 万元 only.
        early = pools.summary(pool, date(2026, 1, 20))
        assert (early.balance, early.outstanding, early.leverage) == (10_000_000, 0, 0)

        sample = db.session.execute(
            db.select(Outcome).filter_by(stage="funded", amount_cny=5_000_000)
        ).scalar_one()
        comp = pools.record_compensation(op, pool, sample.id, defaulted_on=date(2026, 10, 20),
                                         loss_cny=3_333_333, paid_on=date(2026, 10, 25))  # fmt: skip
        assert comp.amount_cny == 1_666_667  # 50 % rounded half-up to the yuan
        s = pools.summary(pool, day)
        assert s.balance == 50_000_000 - 1_666_667
        assert s.outstanding == outstanding - 5_000_000  # the defaulted loan is written off
        assert s.leverage == Fraction(outstanding - 5_000_000, 50_000_000 - 1_666_667)
        assert s.headroom == (50_000_000 - 1_666_667) * 10 - (outstanding - 5_000_000)
        with pytest.raises(DomainError) as err:
            pools.record_compensation(op, pool, sample.id, defaulted_on=date(2026, 10, 20),
                                      loss_cny=1, paid_on=date(2026, 10, 25))  # fmt: skip
        assert "outcome_id" in err.value.fields


def test_compensation_is_bounded(app, users, user_obj, add_loans):
    loans = add_loans("P-001", [date(2026, 7, 1)], kind="ip_pledge")
    with app.app_context():
        op = user_obj("op@ops.cn")
        pool = _make_pool(op, members=(loans[0]["ref"],))
        pools.add_contribution(op, pool, "省", 1_000_000, date(2026, 1, 5))
        loan = pools.loans(pool)[0]
        cases = [
            ({"loss_cny": loan.amount_cny + 1}, "loss_cny"),
            ({"loss_cny": 100_000, "amount_cny": 50_001}, "amount_cny"),
            ({"loss_cny": loan.amount_cny, "amount_cny": 1_000_001}, "amount_cny"),
            ({"loss_cny": 100, "defaulted_on": date(2026, 6, 1)}, "defaulted_on"),
            ({"loss_cny": 100, "paid_on": date(2026, 7, 1)}, "paid_on"),
        ]
        for extra, field in cases:
            args = {"defaulted_on": date(2026, 9, 1), "paid_on": date(2026, 9, 10)} | extra
            with pytest.raises(DomainError) as err:
                pools.record_compensation(op, pool, loan.outcome_id, **args)
            assert field in err.value.fields, (extra, err.value.fields)
            db.session.rollback()
        assert pools.summary(pool).balance == 1_000_000
        # The bank may look, not manage.
        bank = user_obj("bank@ops.cn")
        with pytest.raises(DomainError):
            pools.add_contribution(bank, pool, "x", 1, date(2026, 1, 1))
        assert pools.visible_pools(bank) == [pool]
        with pytest.raises(Forbidden):  # an unverified institution sees no pool at all
            pools.visible_pools(user_obj("vc@ops.cn"))


def _expected_rows(pool_id: int, start: date, end: date) -> list[tuple]:
    """Straight from the outcome records, independently of the service."""
    pool = db.session.get(RiskPool, pool_id)
    members = {m.enterprise_id for m in pool.members}
    products = {p.id for p in pool.products}
    rows = []
    for o in db.session.execute(db.select(Outcome).filter_by(stage="funded")).scalars():
        issued = o.issued or o.date
        if (o.product_id in products and o.need.enterprise_id in members
                and o.product.kind in ("loan", "ip_pledge") and start <= issued <= end):  # fmt: skip
            e = o.need.enterprise
            rows.append((e.name, e.uscc, o.amount_cny, issued, o.matures, o.rate, o.need.purpose))
    return sorted(rows, key=lambda r: (r[3], r[0]))


def test_quarterly_xlsx_equals_the_loans_of_the_quarter(app, client, users, login, add_loans):
    days = [date(2026, 7, 3), date(2026, 8, 9), date(2026, 9, 30), date(2026, 10, 1),
            date(2026, 6, 30)]  # fmt: skip
    loans = add_loans("P-001", days, kind="ip_pledge")
    outsider = add_loans("P-001", [date(2026, 8, 1)], prefix="X", seed=99, kind="ip_pledge")
    with app.app_context():
        from techfin.models import User

        user = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        pool = _make_pool(user, members=[ln["ref"] for ln in loans])
        pool_id = pool.id
        expected = _expected_rows(pool_id, date(2026, 7, 1), date(2026, 9, 30))
    assert len(expected) == 3 and outsider
    login("op@ops.cn")
    resp = client.get(f"/operations/pools/{pool_id}/report.xlsx?quarter=2026Q3")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == pools.REPORT_TITLE
    header = rows.index(pools.REPORT_COLUMNS)
    body, totals = rows[header + 1 : -1], rows[-1]
    got = [(r[1], r[2], r[3], r[4].date(), r[5].date(), r[6], r[7]) for r in body]
    assert got == expected
    assert [r[0] for r in body] == [1, 2, 3]
    assert totals[0] == "合计" and totals[3] == sum(r[2] for r in expected)
    assert all(isinstance(r[3], int) for r in body)
    # The page shows the same table; a bad quarter is a 404, not a 500.
    page = client.get(f"/operations/pools/{pool_id}/report?quarter=2026Q3").get_data(as_text=True)
    assert expected[0][0] in page
    assert client.get(f"/operations/pools/{pool_id}/report.xlsx?quarter=2026Q9").status_code == 404
    # The same table as CSV (issue #14 item 12), linked from the page.
    assert f"/operations/pools/{pool_id}/report.csv?quarter=2026Q3" in page
    resp = client.get(f"/operations/pools/{pool_id}/report.csv?quarter=2026Q3")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == list(pools.REPORT_COLUMNS) and len(lines) == 1 + len(expected) + 1
    assert [ln[1] for ln in lines[1:-1]] == [r[0] for r in expected]


def _bank_file(rows: list[list], fmt: str) -> bytes:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["科技贷款项目风险准备金申报汇总表"])
        writer.writerow(pools.REPORT_COLUMNS)
        for r in rows:
            writer.writerow([v.isoformat() if isinstance(v, date) else v for v in r])
        writer.writerow(["合计", "", "", sum(r[3] for r in rows if isinstance(r[3], int))])
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    book = Workbook()
    sheet = book.active
    sheet.append(["科技贷款项目风险准备金申报汇总表"])
    sheet.append(["准备金：…"])
    sheet.append(pools.REPORT_COLUMNS)
    for r in rows:
        sheet.append([datetime(v.year, v.month, v.day) if isinstance(v, date) else v for v in r])
    sheet.append(["合计"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_reconciliation_finds_every_planted_discrepancy_and_nothing_else(
    app, client, users, login, add_loans, fmt
):
    rng = random.Random(5)
    days = [date(2026, 7, 1) + timedelta(days=rng.randint(0, 80)) for _ in range(9)]
    loans = add_loans("P-001", days, kind="ip_pledge")
    stranger = add_loans("P-001", [date(2026, 8, 8)], prefix="S", seed=11, kind="ip_pledge")[0]
    with app.app_context():
        from techfin.models import User

        user = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        pool_id = _make_pool(user, members=[ln["ref"] for ln in loans]).id
    row = {ln["ref"]: [0, f"企业{ln['ref']}", ln["uscc"], ln["amount"], ln["issued"], ln["matures"],
                       ln["rate"], "流动资金", "到期一次还本付息"] for ln in loans}  # fmt: skip
    refs = [ln["ref"] for ln in loans]
    # Planted: 0 amount differs, 1 issue date differs, 2 maturity differs, 3 missing from the
    # bank's table, a loan to a non-recommended enterprise, a loan the platform never saw.
    row[refs[0]][3] += 10_000
    row[refs[1]][4] = row[refs[1]][4] + timedelta(days=1) if row[refs[1]][4].day < 28 else \
        row[refs[1]][4] - timedelta(days=1)  # fmt: skip
    row[refs[2]][5] += timedelta(days=31)
    del row[refs[3]]
    unknown_uscc = valid_uscc(random.Random(123))
    extra = [
        [0, "外来企业", stranger["uscc"], stranger["amount"], stranger["issued"],
         stranger["matures"], 4.5, "流动资金", "到期一次还本付息"],
        [0, "未记录的贷款", loans[4]["uscc"], 1_230_000, date(2026, 9, 29), date(2027, 9, 29),
         4.2, "设备", "等额分期"],
    ]  # fmt: skip
    # Rows with errors (row numbers below): bad check digit, bad date, negative amount.
    bad_uscc = unknown_uscc[:-1] + ("0" if unknown_uscc[-1] != "0" else "1")
    broken = [
        [0, "校验位错误", bad_uscc, 100_000, date(2026, 8, 1), date(2027, 8, 1), 4, "x", ""],
        [0, "日期错误", loans[5]["uscc"], 100_000, "2026-02-30", date(2027, 8, 1), 4, "x", ""],
        [0, "金额错误", loans[6]["uscc"], -5, date(2026, 8, 1), date(2027, 8, 1), 4, "x", ""],
    ]
    data_rows = [*row.values(), *extra, *broken]
    first = 3 if fmt == "csv" else 4  # the first data row's number in the file
    broken_rows = {first + len(data_rows) - 3 + i for i in range(3)}
    login("op@ops.cn")
    resp = client.post(
        f"/operations/pools/{pool_id}/reconcile",
        data={"quarter": "2026Q3", "file": (io.BytesIO(_bank_file(data_rows, fmt)), f"q3.{fmt}")},
        content_type="multipart/form-data",
    )
    # The POST stores the file and queues the check (run inline by the test queue), then
    # shows the job's page, where the stored result is.
    assert resp.status_code == 302
    assert f"/operations/pools/{pool_id}/reconcile/" in resp.headers["Location"]
    resp = client.get(resp.headers["Location"])
    assert resp.status_code == 200
    with app.app_context():
        pool = db.session.get(RiskPool, pool_id)
        rows, errors = pools.read_bank_table(f"q3.{fmt}", _bank_file(data_rows, fmt), "2026Q3")
        result = pools.reconcile(pool, "2026Q3", rows, errors)
    assert {e.row for e in errors} == broken_rows
    assert len(errors) == 3
    by_kind = {k: result.of(k) for k in ("not_recommended", "missing_in_records",
                                         "missing_in_bank", "differs")}  # fmt: skip
    assert [d.bank.uscc for d in by_kind["not_recommended"]] == [stranger["uscc"]]
    assert [d.bank.amount_cny for d in by_kind["missing_in_records"]] == [1_230_000]
    assert [d.loan.uscc for d in by_kind["missing_in_bank"]] == [loans[3]["uscc"]]
    differs = {d.loan.uscc: set(d.fields) for d in by_kind["differs"]}
    assert differs == {loans[0]["uscc"]: {"amount_cny"}, loans[1]["uscc"]: {"issued"},
                       loans[2]["uscc"]: {"matures"}}  # fmt: skip
    assert len(result.discrepancies) == 6
    assert len(result.matched) == 9 - 1 - 2  # minus missing and the two paired by fallback
    html = resp.get_data(as_text=True)
    assert 'id="disc-not_recommended"' in html and 'id="row-errors"' in html
    for n in broken_rows:
        assert f'data-row="{n}"' in html


def test_reconcile_rejects_unreadable_files_with_a_field_message(app, client, users, login):
    with app.app_context():
        from techfin.models import User

        user = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        pool_id = _make_pool(user).id
    login("bank@ops.cn")  # the partner bank may upload its own table
    # Refused before anything is stored: a damaged zip, a name that is not XLSX or CSV.
    for name, data in (("x.xlsx", b"PK\x03\x04garbage"), ("x.txt", b"hello")):
        resp = client.post(f"/operations/pools/{pool_id}/reconcile",
                           data={"quarter": "2026Q3", "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")  # fmt: skip
        assert resp.status_code == 200, name
        assert "is-invalid" in resp.get_data(as_text=True), name
    # A CSV without the table's header is only found out by reading it: the job fails and
    # its page says why.
    resp = client.post(f"/operations/pools/{pool_id}/reconcile",
                       data={"quarter": "2026Q3", "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                       content_type="multipart/form-data", follow_redirects=True)  # fmt: skip
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'data-status="failed"' in html and 'id="job-error"' in html
    assert "企业名称" in html  # the message names the columns the table needs
    login("vc@ops.cn")
    assert client.get(f"/operations/pools/{pool_id}").status_code == 404
    login("e1@ops.cn")
    assert client.get(f"/operations/pools/{pool_id}").status_code == 403
