"""The operator dashboard: figures equal counts taken straight from the outcome records."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from techfin.extensions import db
from techfin.models import DataAccess, Enterprise, Funder, Need, Outcome, User
from techfin.money import Wan
from techfin.services import dashboard

STAGES = ["recommended", "contacted", "meeting", "approved", "funded"]
START, END = date(2025, 3, 1), max(date.today(), date(2026, 11, 1))


@pytest.fixture
def demo(app):
    from techfin.services.demo import generate
    from techfin.services.interchange import import_records

    with app.app_context():
        report = import_records(generate(enterprises=60, seed=7))
        assert report.committed, [str(e) for e in report.errors[:5]]
        # Add recommendations and meetings so every funnel stage is populated.
        outcomes = (
            db.session.execute(db.select(Outcome).filter_by(stage="contacted").order_by(Outcome.id))
            .scalars()
            .all()
        )
        for n, o in enumerate(outcomes[::3]):
            stage = "recommended" if n % 2 else "meeting"
            db.session.add(Outcome(need_id=o.need_id, product_id=o.product_id, stage=stage,
                                   date=o.date, note="test"))  # fmt: skip
        db.session.add(User(email="op@dash.cn", role="operator", password_hash="x"))
        db.session.commit()


def _expected_funnel() -> dict[str, int]:
    furthest: dict[tuple[int, int], int] = defaultdict(lambda: -1)
    for o in db.session.execute(db.select(Outcome)).scalars():
        if START <= o.date <= END and o.stage in STAGES:
            pair = (o.need_id, o.product_id)
            furthest[pair] = max(furthest[pair], STAGES.index(o.stage))
    return {s: sum(1 for r in furthest.values() if r >= i) for i, s in enumerate(STAGES)}


def test_funnel_and_kpis_equal_the_outcome_records(app, demo):
    with app.test_request_context("/?lang=en"):
        op = db.session.execute(db.select(User).filter_by(email="op@dash.cn")).scalar_one()
        d = dashboard.build(op, dashboard.period(START, END, 30))
        expected = _expected_funnel()
        got = {r[0]: r[1] for r in d.tables["funnel"].rows}
        assert list(got.values()) == [expected[s] for s in STAGES]
        assert expected["funded"] > 0 and expected["meeting"] > 0
        outcomes = [o for o in db.session.execute(db.select(Outcome)).scalars()
                    if START <= o.date <= END]  # fmt: skip
        funded = [o for o in outcomes if o.stage == "funded"]
        needs = [n for n in db.session.execute(db.select(Need)).scalars()
                 if n.status != "draft" and START <= n.created <= END]  # fmt: skip
        k = {key: value for key, _label, value in d.kpis}
        assert k["funded"] == len(funded)
        assert k["amount_funded"] == sum(o.amount_cny for o in funded)

        # A pair has met (been approved) when it reached that stage or a later one: the key
        # figures are the funnel's own, so "Pairs that met" next to the funnel agree.
        def reached(*stages: str) -> int:
            return len({(o.need_id, o.product_id) for o in outcomes if o.stage in stages})

        assert k["approvals"] == reached("approved", "funded")
        assert k["meetings"] == reached("meeting", "approved", "funded") > 0
        funnel = {row[0]: row[1] for row in d.tables["funnel"].rows}
        assert funnel["meeting"] == k["meetings"] and funnel["approved"] == k["approvals"]
        assert k["needs"] == len(needs) and k["amount_asked"] == sum(n.amount_cny for n in needs)
        assert k["institutions"] == db.session.scalar(
            db.select(db.func.count(Funder.id)).filter_by(status="verified"))  # fmt: skip
        registered = db.session.execute(db.select(Enterprise.created_at)).scalars()
        assert k["enterprises"] == sum(1 for at in registered if START <= at.date() <= END) > 0
        # Every breakdown adds up to the same totals.
        for name in ("industry", "region", "size", "kind", "institution"):
            table = d.tables[name]
            col = table.columns.index("Amount funded (万元)")
            assert table.totals[col] == Wan(k["amount_funded"]), name
            if "Needs published" in table.columns:
                assert table.totals[table.columns.index("Needs published")] == k["needs"], name
        trend = d.tables["trend"]
        assert trend.totals[4] == k["funded"] and trend.totals[5] == Wan(k["amount_funded"])
        # The trend counts each pair once: its totals are the key figures and breakdowns'.
        assert trend.totals[3] == k["approvals"]
        industry = d.tables["industry"]
        contacted = industry.totals[industry.columns.index("Pairs contacted")]
        assert trend.totals[2] == contacted > 0


def test_dashboard_page_and_exports(app, client, demo):
    with app.app_context():
        op = db.session.execute(db.select(User).filter_by(email="op@dash.cn")).scalar_one()
        uid = op.get_id()
        ent = db.session.execute(db.select(Enterprise).filter_by(ref="E-0001")).scalar_one()
        ent.name = '=HYPERLINK("http://evil","x")'
        db.session.execute(db.update(Need).where(Need.enterprise_id == ent.id)
                           .values(status="published", created=date(2025, 1, 1)))  # fmt: skip
        db.session.execute(db.delete(Outcome).where(
            Outcome.need_id.in_(db.select(Need.id).where(Need.enterprise_id == ent.id))))  # fmt: skip
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = uid
    query = f"date_from={START}&date_to={END}&days=30"
    html = client.get(f"/operations/dashboard?{query}").get_data(as_text=True)
    assert 'data-kpi="funded"' in html and "data-chart=" in html and 'id="table-gaps"' in html
    assert "<script>" not in html  # no inline scripts (CSP)
    resp = client.get(f"/operations/dashboard/export/csv/unattended?{query}")
    assert resp.status_code == 200 and resp.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    names = [r[0] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil","x")' in names
    assert not any(c[:1] in "=+-@" for r in rows for c in r if c)
    resp = client.get(f"/operations/dashboard/export/xlsx/unattended?{query}")
    sheet = load_workbook(io.BytesIO(resp.data)).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    # The text as typed, no visible apostrophe, and text even when edited (quote prefix).
    (evil,) = [c for c in cells if c.value == '=HYPERLINK("http://evil","x")']
    assert evil.data_type == "s" and evil.quotePrefix
    assert not any(c.value[:1] in "=+-@" and not c.quotePrefix for c in cells)
    assert not any(c.value.startswith("'") for c in cells)
    for name in ("kpis", "funnel", "trend", "industry", "region", "size", "kind", "institution",
                 "gaps"):  # fmt: skip
        for fmt in ("csv", "xlsx"):
            assert (
                client.get(f"/operations/dashboard/export/{fmt}/{name}?{query}").status_code == 200
            )
    assert client.get("/operations/dashboard/export/csv/nope").status_code == 404
    # Bad period input is reported on the form, never a 500.
    resp = client.get("/operations/dashboard?date_from=2026-13-40&days=-1&date_to=x")
    assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)
    resp = client.get("/operations/dashboard?date_from=2026-05-01&date_to=2026-01-01")
    assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)


def test_coverage_monitor(app, users):
    from techfin.services.dashboard import period

    with app.test_request_context("/?lang=en"):
        op = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        p = period(date(2026, 1, 1), date.today(), 30)
        d = dashboard.build(op, p)
        # E-001's need was last contacted on 2026-10-10 and nobody looked since.
        assert [r[0] for r in d.tables["unattended"].rows] == ["中山市明辉照明科技有限公司"]
        assert d.tables["gaps"].rows == []
        e1 = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
        db.session.add(DataAccess(enterprise_id=e1.id, funder_id=bank.id, action="view",
                                  what="profile", at=datetime.utcnow()))  # fmt: skip
        db.session.commit()
        e2 = db.session.execute(db.select(Enterprise).filter_by(ref="E-002")).scalar_one()
        db.session.add(Need(ref="N-INS", enterprise_id=e2.id, kind="insurance",
                            amount_cny=300_000, status="published", created=date.today()))  # fmt: skip
        db.session.commit()
        op = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        d = dashboard.build(op, p)
        assert d.tables["unattended"].rows == []  # viewed today; E-002's need is brand new
        gaps = d.tables["gaps"].rows
        assert len(gaps) == 1 and gaps[0][2] == 1 and gaps[0][3] == Wan(300_000)
