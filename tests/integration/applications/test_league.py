"""The institutions' league table: its figures equal a direct count from the raw rows
(three institutions, Beijing-date boundaries, National Day inside a median), the page and
both exports show the same figures, and only operators (and enterprises, when the platform
says so) may see it."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from techfin.extensions import db
from techfin.models import Application, ApplicationEvent, Enterprise, Funder, Need, Product
from techfin.services.applications import clock, league

TODAY = date(2026, 10, 20)
Q4 = (date(2026, 10, 1), date(2026, 12, 31))


def day_of(moment: datetime) -> date:
    """The Beijing date of a stored (naive UTC) time; not the clock's, which tests patch."""
    return (moment + timedelta(hours=8)).date()


def bj(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Beijing wall-clock time as the naive UTC the database stores."""
    return datetime(year, month, day, hour, minute) - timedelta(hours=8)


# funder key, origin, submitted, first response, (decision at, to), status, extra
SPECS: list[dict[str, Any]] = [
    # the bank: submitted on a holiday (Oct 1), answered on Oct 8 after National Day
    dict(f="bank", sub=bj(2026, 10, 1, 9), first=bj(2026, 10, 8), dec=(bj(2026, 10, 10), "approved"),
         status="approved"),
    # asked for information Oct 13, answered Oct 15 (2 working days paused), refused Oct 16
    dict(f="bank", sub=bj(2026, 10, 9), first=bj(2026, 10, 12), dec=(bj(2026, 10, 16), "declined"),
         status="declined", reason="credit_record", paused_days=2),
    # the bank's own pick-up, never answered: overdue now
    dict(f="bank", origin="picked_up", sub=bj(2026, 10, 12), status="submitted"),
    # 23:30 → 00:30 Beijing: one working day, though the UTC dates are the same
    dict(f="bank", sub=bj(2026, 10, 13, 23, 30), first=bj(2026, 10, 14, 0, 30), status="accepted"),
    # the guarantee company: 07:00 Beijing on Oct 1 is Sep 30 in UTC, still in Q4
    dict(f="guarantee", sub=bj(2026, 10, 1, 7), first=bj(2026, 10, 9),
         dec=(bj(2026, 10, 10), "declined"), status="declined", reason="insufficient_collateral"),
    # 20:00 Beijing on Sep 30: Q3, left out
    dict(f="guarantee", sub=bj(2026, 9, 30, 20), first=bj(2026, 10, 9), status="accepted"),
    # withdrawn unanswered after its first-response date: ever overdue, not overdue now
    dict(f="guarantee", sub=bj(2026, 10, 14), status="withdrawn", closed=bj(2026, 10, 21)),
    dict(f="guarantee", origin="picked_up", sub=bj(2026, 10, 15), first=bj(2026, 10, 15, 16),
         dec=(bj(2026, 10, 16), "declined"), status="declined", reason="insufficient_collateral"),
    # refused while waiting for information (paused since Oct 13): the pause to the refusal
    # does not count, and a decision date passed while paused is not late
    dict(f="guarantee", sub=bj(2026, 10, 8), first=bj(2026, 10, 9), dec=(bj(2026, 10, 23), "declined"),
         status="declined", reason="other", paused_on=date(2026, 10, 13)),
    # the micro-lender: disbursed 200 万元
    dict(f="microloan", sub=bj(2026, 10, 5), first=bj(2026, 10, 8), dec=(bj(2026, 10, 9), "approved"),
         status="disbursed", disbursed=2_000_000),
    # 00:30 Beijing on Jan 1 2027: Q1 of 2027, left out
    dict(f="microloan", sub=bj(2027, 1, 1, 0, 30), status="submitted"),
    # a pick-up the enterprise has not accepted: no clock, not an application received
    dict(f="microloan", origin="picked_up", sub=None, status="picked_up"),
]  # fmt: skip


@pytest.fixture
def league_data(app, users, ids) -> dict[str, int]:
    """Three verified institutions with a product each and the applications of SPECS."""
    with app.app_context():
        bank = db.session.get(Funder, ids("funder", "F-001"))
        funders = {"bank": bank}
        for key, kind, name in (("guarantee", "guarantee", "粤科融资担保"),
                                ("microloan", "microloan", "广州科技小贷")):  # fmt: skip
            funders[key] = Funder(ref=f"F-{key}", name=name, kind=kind, regions=[],
                                  status="verified")  # fmt: skip
        db.session.add_all(funders.values())
        db.session.flush()
        products = {"bank": db.session.get(Product, ids("product", "P-001"))}
        for key in ("guarantee", "microloan"):
            products[key] = Product(ref=f"P-{key}", funder_id=funders[key].id, name=f"{key} loan",
                                    kind="ip_pledge", status="active")  # fmt: skip
        db.session.add_all(products.values())
        ent = db.session.scalar(db.select(Enterprise).filter_by(ref="E-001"))
        for n, spec in enumerate(SPECS):
            need = Need(ref=f"N-L{n}", enterprise_id=ent.id, kind="ip_pledge",
                        amount_cny=1_000_000, term_months=12, purpose="league", status="published")  # fmt: skip
            db.session.add(need)
            sub = spec["sub"]
            day = day_of(sub) if sub else None
            app_row = Application(
                need=need, product=products[spec["f"]], funder_id=funders[spec["f"]].id,
                enterprise_id=ent.id, status=spec["status"], origin=spec.get("origin", "applied"),
                submitted_at=sub, first_response_at=spec.get("first"),
                first_response_due=clock.add_working_days(day, 3) if day else None,
                decision_due=(clock.add_working_days(day, 10 + spec.get("paused_days", 0))
                              if day else None),
                paused_days=spec.get("paused_days", 0), paused_on=spec.get("paused_on"),
                reason_code=spec.get("reason"), reason_note="", escalated_for="", reminded_for="",
                disbursed_amount_cny=spec.get("disbursed"),
                decided_at=spec["dec"][0] if "dec" in spec else spec.get("closed"),
                consent_scope=[], document_ids=[])  # fmt: skip
            db.session.add(app_row)
            if "dec" in spec:
                db.session.add(ApplicationEvent(application=app_row, at=spec["dec"][0],
                                                from_status="accepted", to_status=spec["dec"][1]))  # fmt: skip
                if spec["status"] == "disbursed":
                    db.session.add(ApplicationEvent(application=app_row, at=spec["dec"][0] + timedelta(days=3),
                                                    from_status="approved", to_status="disbursed"))  # fmt: skip
        db.session.commit()
        return {k: f.id for k, f in funders.items()}


def _direct(funder_id: int, today: date = TODAY) -> dict[str, Any]:
    """The figures counted straight from the rows, in Python, one application at a time."""
    rows = db.session.scalars(db.select(Application).where(Application.funder_id == funder_id))
    out: dict[str, Any] = defaultdict(int)
    firsts, decisions, refusals = [], [], defaultdict(int)
    for a in rows:
        if a.submitted_at is None or not Q4[0] <= day_of(a.submitted_at) <= Q4[1]:
            continue
        sub = day_of(a.submitted_at)
        out["received"] += 1
        out["picked_up"] += a.origin == "picked_up"
        events = [e for e in a.history if e.to_status in ("approved", "declined")]
        decided = day_of(min(e.at for e in events)) if events else None
        if a.first_response_at:
            firsts.append(clock.working_days_between(sub, day_of(a.first_response_at)))
        if decided:
            out["decided"] += 1
            paused = a.paused_days + (
                clock.working_days_between(a.paused_on, decided) if a.paused_on else 0
            )
            decisions.append(clock.working_days_between(sub, decided) - paused)
        out["approved"] += any(e.to_status == "approved" for e in a.history)
        from techfin.services.applications import overdue_deadline

        out["overdue_now"] += overdue_deadline(a, today) is not None
        end = decided or (day_of(a.decided_at) if not a.is_open else today)
        first_seen = day_of(a.first_response_at) if a.first_response_at else end
        late = a.first_response_due < first_seen or (
            a.decision_due < end and (a.paused_on is None or a.paused_on > a.decision_due)
        )
        out["overdue_ever"] += late
        if a.status == "disbursed":
            out["disbursed_cny"] += a.disbursed_amount_cny
        if a.status == "declined":
            refusals[a.reason_code] += 1
    out["median_first_response"] = statistics.median(firsts) if firsts else None
    out["median_decision"] = statistics.median(decisions) if decisions else None
    out["refusals"] = dict(refusals)
    return dict(out)


FIGURES = ("received", "picked_up", "decided", "approved", "overdue_now", "overdue_ever",
           "disbursed_cny", "median_first_response", "median_decision", "refusals")  # fmt: skip


def test_figures_equal_a_direct_count(app, league_data, as_user, on_day):
    on_day(TODAY)
    with app.app_context():
        result = league.league(as_user("op@x.cn"), league.make_filter(quarter="2026Q4"))
        by_funder = {r.funder_id: r for r in result.rows}
        assert set(by_funder) == set(league_data.values())
        for _key, fid in league_data.items():
            row, direct = by_funder[fid], _direct(fid)
            assert {k: getattr(row, k) for k in FIGURES} == {
                k: direct.get(k, 0) for k in FIGURES
            }, _key
    # and by hand, so the direct count cannot share a mistake with the query: the bank's
    # first responses took 1 (Oct 1 → Oct 8: National Day), 2 (Oct 9 → 12, the 10th an
    # adjusted working Saturday) and 1 (23:30 → 00:30 Beijing) working days
    bank, guarantee, micro = (by_funder[league_data[k]] for k in ("bank", "guarantee", "microloan"))
    assert (bank.received, bank.picked_up, bank.pickup_rate) == (4, 1, 25.0)
    assert bank.median_first_response == 1.0
    # decisions: Oct 1 → 10 is 3 working days; Oct 9 → 16 is 6, less 2 paused = 4
    assert bank.median_decision == 3.5 and bank.approval_rate == 50.0
    assert (bank.overdue_now, bank.overdue_ever, bank.refusals) == (1, 1, {"credit_record": 1})
    # the guarantee company: Oct 1 07:00 counts (Sep 30 UTC), Sep 30 20:00 does not;
    # first responses 2 (Oct 8, 9), 0, 1 → median 1; decisions 3, 1 and 4 → 3 (the last one
    # refused Oct 23 but paused since Oct 13: Oct 9, 10, 12, 13 before the pause)
    assert (guarantee.received, guarantee.median_first_response) == (4, 1.0)
    assert guarantee.median_decision == 3.0 and guarantee.approval_rate == 0.0
    assert guarantee.refusals == {"insufficient_collateral": 2, "other": 1}
    assert (guarantee.overdue_now, guarantee.overdue_ever) == (0, 1)
    assert (micro.received, micro.disbursed_wan, micro.median_first_response) == (1, 200.0, 1.0)
    # quickest first: the micro-lender's single answer (1 day) and the others' medians tie at
    # 1; more applications first
    assert [r.funder_id for r in result.rows][-1] == league_data["microloan"]


def test_kind_and_date_range_filters(app, league_data, as_user, on_day):
    on_day(TODAY)
    with app.app_context():
        op = as_user("op@x.cn")
        banks = league.league(op, league.make_filter(quarter="2026Q4", kind="bank"))
        assert [r.funder_id for r in banks.rows] == [league_data["bank"]]
        # Oct 12–14 (Beijing): the bank's pick-up and its 23:30 application, the guarantee
        # company's withdrawn one
        narrow = league.league(op, league.make_filter(date_from=date(2026, 10, 12),
                                                      date_to=date(2026, 10, 14)))  # fmt: skip
        got = {r.funder_id: r.received for r in narrow.rows}
        assert got == {league_data["bank"]: 2, league_data["guarantee"]: 1}
        q3 = league.league(op, league.make_filter(quarter="2026Q3"))
        assert [(r.funder_id, r.received) for r in q3.rows] == [(league_data["guarantee"], 1)]


@pytest.fixture
def bearer(app) -> Any:
    """Authorization headers of an API token for an account."""

    def _headers(email: str) -> dict[str, str]:
        from techfin.services import accounts

        with app.app_context():
            token = accounts.create_api_token(accounts.find_user(email), "test")
            db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return _headers


def _csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_page_and_exports_show_the_same_figures(app, client, league_data, login, on_day, as_user):
    from openpyxl import load_workbook

    on_day(TODAY)
    login("op@x.cn")
    page = client.get("/operations/league?quarter=2026Q4&lang=zh_CN")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "机构响应排行榜" in html and "抵质押物不足 2" in html and "信用记录问题 1" in html
    with app.app_context():
        result = league.league(as_user("op@x.cn"), league.make_filter(quarter="2026Q4"))
    for row in result.rows:
        cells = f'data-funder="{row.funder_id}"'
        assert cells in html
        chunk = html.split(cells, 1)[1].split("</tr>", 1)[0]
        assert f"<td>{row.received}</td>" in chunk and f"<td>{row.overdue_ever}</td>" in chunk

    rows = _csv(client.get("/operations/league.csv?quarter=2026Q4&lang=zh_CN").data)
    header, body = rows[0], rows[1:]
    assert header[:3] == ["机构", "机构类型", "收到的申请"]
    assert [r[0] for r in body] == [r.name for r in result.rows]
    for line, row in zip(body, result.rows, strict=True):
        assert int(line[2]) == row.received and int(line[3]) == row.picked_up
        assert line[5] == (
            "" if row.median_first_response is None else str(row.median_first_response)
        )
        assert float(line[12]) == row.disbursed_wan
        assert [int(x) for x in line[13:]] == [row.refusals.get(c, 0) for c in league.reasons.CODES]

    xlsx = client.get("/operations/league.xlsx?quarter=2026Q4")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(values) if r[0] == header[0]) + 1
    for line, row in zip(values[start:], result.rows, strict=True):
        assert line[0] == row.name and line[2] == row.received
        assert line[6] == row.median_decision and line[9] == row.approval_rate
        assert line[12] == row.disbursed_wan


def test_access(app, client, league_data, login, bearer):
    client.get("/operations/league")  # anonymous: to the login page
    assert client.get("/operations/league").status_code == 302
    assert client.get("/api/v1/applications/league").status_code == 401
    for email in ("e1@x.cn", "bank@x.cn", "vc@x.cn"):
        login(email)
        assert client.get("/operations/league").status_code == 403, email
        assert client.get("/operations/league.csv").status_code == 403, email
        api = client.get("/api/v1/applications/league", headers=bearer(email))
        assert api.status_code == 403, email
    login("op@x.cn")
    op = bearer("op@x.cn")
    answer = client.get("/api/v1/applications/league?quarter=2026Q4&kind=guarantee", headers=op)
    assert answer.status_code == 200
    assert [i["funder_id"] for i in answer.json["items"]] == [league_data["guarantee"]]
    assert answer.json["items"][0]["refusals"]["insufficient_collateral"] == 2
    bad = client.get(
        "/api/v1/applications/league?date_from=2026-10-10&date_to=2026-10-01", headers=op
    )
    assert bad.status_code == 422 and "date_to" in bad.json["error"]["fields"]
    assert client.get("/api/v1/applications/league?quarter=2026Q9", headers=op).status_code == 422
    from techfin.services.pool import quarter_of

    with app.app_context():
        current = quarter_of(clock.beijing_today())
    default = client.get("/operations/league?lang=en").get_data(as_text=True)
    assert f'<option selected value="{current}">' in default  # the period shown is chosen
    page = client.get("/operations/league?date_from=2026-10-10&date_to=2026-10-01&lang=en")
    assert page.status_code == 200 and "The end is before the start." in page.get_data(as_text=True)


@pytest.mark.app_config(APPLICATION_LEAGUE_FOR_ENTERPRISES=True,
                        APPLICATION_LEAGUE_MIN_APPLICATIONS=2)  # fmt: skip
def test_enterprises_see_it_by_name_when_the_platform_says_so(app, client, league_data, login,
                                                              on_day, bearer):  # fmt: skip
    on_day(TODAY)
    login("e1@x.cn")
    answer = client.get("/api/v1/applications/league?quarter=2026Q4", headers=bearer("e1@x.cn"))
    assert answer.status_code == 200
    # the micro-lender (one application) is below the threshold of 2
    assert {i["funder_id"] for i in answer.json["items"]} == {
        league_data["bank"],
        league_data["guarantee"],
    }
    assert answer.json["hidden"] == 1
    page = client.get("/operations/league?quarter=2026Q4&lang=zh_CN").get_data(as_text=True)
    assert "中国银行中山分行科技支行" in page and "广州科技小贷" not in page
    login("bank@x.cn")
    assert client.get("/operations/league").status_code == 403
