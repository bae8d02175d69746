"""The operator dashboard is computed by the task worker and read by pages (issue #12):
a page reads one stored row, asks for a new computation when it is stale, and shows the
older figures (or "being computed") meanwhile; the queue being down never breaks it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event

from techfin.extensions import db
from techfin.models import DashboardReport, Enterprise, Need, Outcome, Product
from techfin.services.applications.clock import beijing_today
from tests.integration.operations.conftest import work_queue

START, END = date(2026, 1, 1), date(2026, 12, 31)
QUERY = f"date_from={START}&date_to={END}&days=30"


def _kpi(html: str, key: str) -> str:
    marker = f'data-kpi="{key}" data-value="'
    at = html.index(marker) + len(marker)
    return html[at : html.index('"', at)]


def _row(app) -> DashboardReport:
    with app.app_context():
        row = db.session.execute(db.select(DashboardReport)).scalar_one()
        db.session.expunge(row)
        return row


def _age(app, **moves: timedelta) -> None:
    with app.app_context():
        row = db.session.execute(db.select(DashboardReport)).scalar_one()
        for name, delta in moves.items():
            setattr(row, name, getattr(row, name) - delta)
        db.session.commit()


def _fund_one(app) -> None:
    """A new funded loan in the period: the stored figures do not know it yet."""
    with app.app_context():
        need = db.session.execute(db.select(Need).order_by(Need.id)).scalars().first()
        product = db.session.execute(
            db.select(Product).where(Product.kind == need.kind)
        ).scalars().first()  # fmt: skip
        db.session.add(Outcome(need_id=need.id, product_id=product.id, stage="funded",
                               date=date(2026, 6, 1), amount_cny=1_000_000, rate=4.0,
                               issued=date(2026, 6, 1), matures=date(2027, 6, 1),
                               repayment="monthly_interest"))  # fmt: skip
        db.session.commit()


@pytest.fixture
def op(app, users, login):
    app.config["DASHBOARD_MAX_AGE"] = 3600
    login("op@ops.cn")


def test_a_visit_reads_the_stored_figures_until_they_are_stale(app, client, op):
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    funded = int(_kpi(html, "funded"))
    first = _row(app)
    assert first.payload is not None and set(first.payload) == {"zh_CN", "en"}
    _fund_one(app)
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert int(_kpi(html, "funded")) == funded  # the stored figures, not recomputed
    assert _row(app).computed_at == first.computed_at
    assert 'id="dashboard-status"' in html
    _age(app, computed_at=timedelta(hours=2), requested_at=timedelta(hours=2))
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert int(_kpi(html, "funded")) == funded + 1  # stale: the (inline) worker recomputed


def test_with_the_queue_down_the_page_says_the_figures_are_being_computed(app, client, op):
    from techfin import tasks

    tasks.configure("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        resp = client.get(f"/operations/dashboard?{QUERY}")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and 'class="alert alert-info"' in html
        assert "data-poll=" in html and 'data-kpi="funded"' not in html
        assert "http-equiv" not in html  # no timed reload: the page offers the figures
        row = _row(app)
        assert row.payload is None and row.computed_at is None
        resp = client.get(f"/operations/dashboard/export/csv/funnel?{QUERY}")
        assert resp.status_code == 302  # back to the page, with a message
    finally:
        tasks.configure("immediate")
    # Woken less than a minute ago: a visit records its ask but sends no second wake-up
    # (the worker may be busy).
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    again = _row(app)
    assert 'data-kpi="funded"' not in html and again.woken_at == row.woken_at
    assert again.requested_at > row.requested_at
    # The wake-up was lost: REQUEST_RETRY after it the next visit wakes the worker again.
    _age(app, woken_at=timedelta(minutes=2))
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert 'data-kpi="funded"' in html and "data-poll=" not in html
    csv = client.get(f"/operations/dashboard/export/csv/funnel?{QUERY}")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"


def test_the_page_costs_the_same_whatever_the_catalogue(app, client, op):
    from techfin.services import dashboard_reports

    def statements() -> int:
        seen: list[str] = []

        def spy(*args) -> None:  # noqa: ANN002
            seen.append(args[2])

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", spy)
        try:
            assert client.get(f"/operations/dashboard?{QUERY}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", spy)
        big = [s for s in seen if "FROM needs" in s or "FROM enterprises" in s]
        assert not big, big
        return len(seen)

    client.get(f"/operations/dashboard?{QUERY}")
    before = statements()
    with app.app_context():
        for n in range(300):
            ent = Enterprise(name=f"规模测试企业{n}", ref=f"E-SCALE-{n}", industry="C39",
                             region="442000", high_tech=False)  # fmt: skip
            db.session.add(ent)
            db.session.flush()
            db.session.add(Need(ref=f"N-SCALE-{n}", enterprise_id=ent.id, kind="bank_loan",
                                amount_cny=1_000_000, status="published",
                                created=date(2026, 5, 1)))  # fmt: skip
        db.session.commit()
    with app.app_context():
        dashboard_reports.compute_and_store(START, END, 30)
    assert statements() == before


def test_the_schedule_keeps_the_default_period_ready_and_drops_forgotten_ones(app, users):
    from techfin.services import dashboard_reports
    from techfin.services.dashboard import period
    from techfin.tasks import jobs

    assert "dashboard" in jobs.SCHEDULED and app.config["SCHEDULE"]["dashboard"]
    with app.app_context():
        old = DashboardReport(start=date(2020, 1, 1), end=date(2020, 12, 31), days=30,
                              requested_at=date(2020, 1, 1))  # fmt: skip
        db.session.add(old)
        db.session.commit()
        dashboard_reports.refresh_default()
        rows = db.session.execute(db.select(DashboardReport)).scalars().all()
        default = period(None, None)
        assert [(r.start, r.end, r.days) for r in rows] == [
            (default.start, default.end, default.days)
        ]
        assert rows[0].payload and rows[0].computed_on == beijing_today()


def test_stored_figures_equal_a_direct_computation(app, users):
    from techfin.services import dashboard, dashboard_reports

    with app.test_request_context("/?lang=en"):
        p = dashboard.period(START, END, 30)
        direct = dashboard.compute(p)
        stored = dashboard_reports.decode({"en": dashboard_reports.encode(direct)}, "en")
        assert stored.kpis == [tuple(k) for k in direct.kpis]
        for name, table in direct.tables.items():
            again = stored.tables[name]
            assert [str(c) for c in table.columns] == again.columns
            assert table.rows == again.rows and table.totals == again.totals, name
        # Dates stay dates (the XLSX writes them as date cells).
        unattended = stored.tables["unattended"].rows
        assert unattended and isinstance(unattended[0][3], date)
        assert stored.period == p


def test_count_again_now_and_the_status_the_page_polls(app, client, op):
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    funded = int(_kpi(html, "funded"))
    first = _row(app)
    status = client.get(f"/operations/dashboard/status?{QUERY}").get_json()
    assert status == {"computed_at": first.computed_at.isoformat(), "refreshing": False}
    _fund_one(app)
    # "Count again now" recomputes at once, however fresh the stored figures are.
    resp = client.post(f"/operations/dashboard/refresh?{QUERY}")
    assert resp.status_code == 302
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert int(_kpi(html, "funded")) == funded + 1
    assert _row(app).computed_at > first.computed_at


def test_only_operators_see_the_dashboard_status_or_recount(app, client, users, login):
    for email in ("bank@ops.cn", "e1@ops.cn"):
        login(email)
        assert client.get(f"/operations/dashboard/status?{QUERY}").status_code in (302, 403)
        assert client.post(f"/operations/dashboard/refresh?{QUERY}").status_code in (302, 403)
    with app.app_context():
        assert db.session.execute(db.select(DashboardReport)).first() is None


REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def real_queue():
    import os

    from techfin.tasks import configure, huey

    configure(REDIS, f"techfin-dashboard-{os.getpid()}")  # worked by work_queue
    yield
    huey.flush()
    configure("immediate")


def _ask_while_counting(app, monkeypatch, ask) -> list:  # noqa: ANN001
    """The next computation reads the catalogue; then a loan is funded and `ask` runs (as
    an operator would, while the worker is still at it). The figures it computed."""
    from techfin.services import dashboard_reports

    real, during = dashboard_reports.compute, []

    def counting(p, label):  # noqa: ANN001, ANN202
        figures = real(p, label)
        if not during:
            during.append(figures)
            _fund_one(app)
            ask()
        return figures

    monkeypatch.setattr(dashboard_reports, "compute", counting)
    return during


def test_an_ask_while_the_worker_counts_gets_figures_read_after_it(
    app, client, op, real_queue, monkeypatch
):
    """An operator records a loan and looks at the dashboard while the worker is computing
    it from reads made before the loan: that computation must not count as the answer to
    their ask (a CI journey of 2026-12-05 22:27 UTC was offered the old figures)."""
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert "data-poll=" in html and 'data-kpi="funded"' not in html
    during = _ask_while_counting(
        app, monkeypatch, lambda: client.get(f"/operations/dashboard?{QUERY}")
    )
    assert work_queue() == ["compute_dashboard", "compute_dashboard"]
    funded_before = dict((k, v) for k, _t, v in during[0].kpis)["funded"]
    status = client.get(f"/operations/dashboard/status?{QUERY}").get_json()
    assert status["refreshing"] is False
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert int(_kpi(html, "funded")) == funded_before + 1
    assert work_queue() == []  # served: the visit asked for nothing more


def test_count_again_while_a_count_is_under_way_is_not_swallowed(
    app, client, op, real_queue, monkeypatch
):
    client.get(f"/operations/dashboard?{QUERY}")
    assert work_queue() == ["compute_dashboard"]
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    funded = int(_kpi(html, "funded"))
    client.post(f"/operations/dashboard/refresh?{QUERY}")  # a first "count again now"
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    # Being recounted, and "count again now" still offered: this count may have read the
    # records before the one the operator is about to make.
    assert "data-poll=" in html and "/operations/dashboard/refresh" in html
    _ask_while_counting(
        app, monkeypatch, lambda: client.post(f"/operations/dashboard/refresh?{QUERY}")
    )
    assert work_queue() == ["compute_dashboard", "compute_dashboard"]
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert int(_kpi(html, "funded")) == funded + 1 and "data-poll=" not in html


def test_a_computation_that_started_earlier_never_replaces_newer_figures(app, users):
    from techfin.services import dashboard_reports

    with app.app_context():
        dashboard_reports.compute_and_store(START, END, 30)
    newer = _row(app)
    _age(app, computed_at=-timedelta(hours=1))  # as if one that started later had landed
    _fund_one(app)
    with app.app_context():
        dashboard_reports.compute_and_store(START, END, 30)
    kept = _row(app)
    assert kept.computed_at == newer.computed_at + timedelta(hours=1)
    assert kept.payload == newer.payload


def test_an_ask_is_timed_by_the_databases_clock_not_the_hosts(
    app, client, op, real_queue, monkeypatch
):
    """The worker's host runs an hour ahead of the web host's: a computation it starts
    would be stamped later than the asks that follow it, which would look served by a
    computation that never read what the operator recorded. The asks and the starts are
    timed by the one clock they share, the database's. (SQLite runs on one machine: there
    the host's clock is the database's.)"""
    from techfin.services import dashboard_reports

    host = dashboard_reports.utcnow
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        monkeypatch.setattr(dashboard_reports, "utcnow", lambda: host() + timedelta(hours=1))
        ahead = dashboard_reports._now() - host()
        monkeypatch.setattr(dashboard_reports, "utcnow", host)
    if not postgres:
        # SQLite: the web and the worker are one machine, whose clock is the database's
        # (the host's, with the microseconds SQLite's own clock lacks).
        assert timedelta(minutes=59) < ahead <= timedelta(hours=1)
        return
    assert ahead < timedelta(minutes=1)  # the database's clock, whatever this host's says
    client.get(f"/operations/dashboard?{QUERY}")
    monkeypatch.setattr(dashboard_reports, "utcnow", lambda: host() + timedelta(hours=1))
    assert work_queue() == ["compute_dashboard"]  # on the worker's fast clock
    monkeypatch.setattr(dashboard_reports, "utcnow", host)
    funded = int(_kpi(client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True),
                      "funded"))  # fmt: skip
    _fund_one(app)
    client.post(f"/operations/dashboard/refresh?{QUERY}")  # "count again now", right after
    assert client.get(f"/operations/dashboard/status?{QUERY}").get_json()["refreshing"] is True
    assert work_queue() == ["compute_dashboard"]
    html = client.get(f"/operations/dashboard?{QUERY}").get_data(as_text=True)
    assert int(_kpi(html, "funded")) == funded + 1
