"""One unit per figure: the dashboard, its downloads and the pool's form messages in 万元."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from openpyxl import load_workbook

from techfin.extensions import db
from techfin.models import Enterprise, Funder, Outcome, Product, RiskPool
from techfin.money import to_wan, wan_text


def test_dashboard_tables_and_downloads_in_wan(app, client, users, login, body, add_loans):
    today = date.today()
    loans = add_loans("P-001", [today - timedelta(days=d) for d in range(5, 45, 5)])
    with app.app_context():
        funded = sum(
            db.session.execute(
                db.select(Outcome.amount_cny).filter(Outcome.stage == "funded",
                                                     Outcome.date >= today - timedelta(days=60))
            ).scalars()
        )  # fmt: skip
    assert len(loans) == 8 and funded > 10_000_000  # over 1 000 万元: a separator shows
    login("op@ops.cn")
    html = body(client.get("/operations/dashboard?lang=en"))
    shown = wan_text(funded)
    assert "," in shown
    # The KPI, the trend table's total and its header all say 万元, with separators.
    assert f'data-kpi="amount_funded" data-value="{funded}"' in html
    trend = html[html.index('id="table-trend"') :]
    trend = trend[: trend.index("</table>")]
    assert "Amount funded (万元)" in trend and "(yuan)" not in html
    assert f"<td>{shown}</td>" in trend.split("<tfoot>")[1]
    # CSV: header in 万元, the exact plain number; XLSX: a number in 万元 shown with separators.
    resp = client.get("/operations/dashboard/export/csv/trend?lang=en")
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][-1] == "Amount funded (万元)"
    assert rows[-1][-1] == str(to_wan(funded))
    sheet = load_workbook(io.BytesIO(client.get(
        "/operations/dashboard/export/xlsx/trend?lang=en").data)).worksheets[0]  # fmt: skip
    last = [c for c in sheet.iter_rows(min_row=sheet.max_row)][0][-1]
    assert abs(last.value - funded / 10_000) < 1e-6 and last.number_format == "#,##0.00"
    header = [c.value for c in sheet[2]]
    assert header[-1] == "Amount funded (万元)"
    # The key-figures download says 万元 and holds 万元.
    resp = client.get("/operations/dashboard/export/csv/kpis?lang=en")
    kpis = dict(list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))[1:])
    assert kpis["Amount funded (万元)"] == str(to_wan(funded))
    # Chinese pages label the same columns in 万元 too.
    html = body(client.get("/operations/dashboard?lang=zh_CN"))
    assert "（元）" not in html and "(元)" not in html


def test_compensation_limit_is_said_in_wan(app, client, users, login, body):
    with app.app_context():
        bank = db.session.execute(db.select(Funder.id).filter_by(ref="F-001")).scalar_one()
        product = db.session.execute(db.select(Product.id).filter_by(ref="P-001")).scalar_one()
        e1 = db.session.execute(db.select(Enterprise.id).filter_by(ref="E-001")).scalar_one()
    login("op@ops.cn")
    client.post("/operations/pools/new", data={
        "name": "中山联合准备金", "funder_id": bank, "leverage_cap": "10",
        "compensation_pct": "50", "product_ids": [product]})  # fmt: skip
    with app.app_context():
        pool_id = db.session.execute(db.select(RiskPool.id)).scalar_one()
        loan = db.session.execute(db.select(Outcome.id).filter_by(stage="funded")).scalar_one()
    client.post(f"/operations/pools/{pool_id}/contributions",
                data={"contributor": "省生产力促进中心", "amount_cny": "1000", "date": "2026-01-05"})  # fmt: skip
    client.post(f"/operations/pools/{pool_id}/enterprises",
                data={"enterprise_id": e1, "date": "2026-01-01"})  # fmt: skip
    url = f"/operations/pools/{pool_id}/compensations"
    # A loss of 200.0003 万元: the pool's half, rounded half-up to the yuan, is 100.0002 万元.
    form = {"outcome_id": loan, "defaulted_on": "2026-11-01", "loss_cny": "200.0003",
            "amount_cny": "150", "paid_on": "2026-11-05"}  # fmt: skip
    html = body(client.post(url + "?lang=zh_CN", data=form))
    assert "100.0002 万元" in html and "1,000,002" not in html
    html = body(client.post(url + "?lang=en", data=form))
    assert "At most 50 % of the loss: 100.0002 万元." in html
    # The loan choice names its amount in 万元 as well.
    assert "500 万元" in body(client.get(url))
