"""The operator dashboard: KPIs for a period, breakdowns, the conversion funnel, the monthly
trend and the coverage monitor — every figure computed from the records, every table
exportable.

Definitions (the page repeats them):
- a *pair* is a (need, product) docking; it *reaches* a funnel stage when, within the period,
  it has an outcome at that stage or a later one (recommended → contacted → meeting →
  approved → funded); declined and withdrawn are not stages of the funnel;
- *needs published* are needs created in the period that are not drafts (published, or
  published and since closed);
- *amount funded* sums the funded outcomes dated in the period.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from techfin import reference
from techfin.errors import Forbidden
from techfin.extensions import db
from techfin.localtime import beijing_today
from techfin.models import (
    DataAccess,
    Enterprise,
    Funder,
    Need,
    Outcome,
    Product,
    User,
)
from techfin.money import Wan, chart_value
from techfin.services.reports import Table

FUNNEL = ("recommended", "contacted", "meeting", "approved", "funded")
RANK = {stage: n for n, stage in enumerate(FUNNEL)}
DEFAULT_UNATTENDED_DAYS = 30
MUNICIPALITIES = ("11", "12", "31", "50")
CONTACT_STAGES = ("contacted", "meeting", "approved", "funded", "declined")
Labeller = Callable[[str, Any], str]


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    days: int = DEFAULT_UNATTENDED_DAYS
    today: date = field(default_factory=date.today)

    def __contains__(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    def query(self) -> dict[str, Any]:
        return {"date_from": self.start.isoformat(), "date_to": self.end.isoformat(),
                "days": self.days}  # fmt: skip


def period(start: date | None, end: date | None, days: int | None = None) -> Period:
    """Default: the twelve months up to today, Beijing's date: the dates the platform records
    are Beijing's (an event's day, a step recorded at it), and the server's own date is a
    day behind from 16:00 UTC."""
    today = beijing_today()
    end = end or today
    if start is None:
        first = date(end.year, end.month, 1)
        start = date(first.year - 1, first.month, 1) + timedelta(days=31)
        start = date(start.year, start.month, 1)
    return Period(start, end, days or DEFAULT_UNATTENDED_DAYS, today)


def city_of(code: str | None) -> str:
    """The prefecture-level city of a region code (municipalities count as one city)."""
    entry = reference.region(code)
    if entry is None:
        return code or ""
    if code[:2] in MUNICIPALITIES:
        return code[:2] + "0000"
    if entry.level == "county" and entry.parent:
        parent = reference.region(entry.parent)
        if parent is not None and parent.level == "prefecture":
            return parent.code
    return entry.code


def _day(value: datetime | date | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


@dataclass
class Chart:
    """What static/js/charts.js draws: kind bar | line | funnel | pie."""

    name: str
    kind: str
    title: str
    labels: list[str]
    series: list[dict[str, Any]]

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "labels": self.labels,
                "series": self.series}  # fmt: skip


@dataclass
class Dashboard:
    period: Period
    kpis: list[tuple[str, str, Any]]
    tables: dict[str, Table]
    charts: dict[str, Chart]
    has_matches: bool

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)


# ------------------------------------------------------------------ loading the records


@dataclass(frozen=True)
class _Ent:
    id: int
    name: str
    industry: str
    region: str
    size: str | None


@dataclass(frozen=True)
class _Step:
    need_id: int
    product_id: int
    stage: str
    date: date
    amount: int
    enterprise_id: int
    product_kind: str
    funder_id: int


def _enterprises() -> dict[int, _Ent]:
    out = {}
    for e in db.session.execute(select(Enterprise)).scalars():
        out[e.id] = _Ent(e.id, e.name, e.industry, e.region, e.size_class)
    return out


def _steps(p: Period) -> list[_Step]:
    rows = db.session.execute(
        select(Outcome.need_id, Outcome.product_id, Outcome.stage, Outcome.date,
               Outcome.amount_cny, Need.enterprise_id, Product.kind, Product.funder_id)
        .join(Need, Outcome.need_id == Need.id)
        .join(Product, Outcome.product_id == Product.id)
        .where(Outcome.date >= p.start, Outcome.date <= p.end,
               Outcome.reopened_at.is_(None))  # an ending an operator reopened is void
    ).all()  # fmt: skip
    return [_Step(r[0], r[1], r[2], r[3], int(r[4] or 0), r[5], r[6], r[7]) for r in rows]


def _needs(p: Period) -> list[Need]:
    # `created` (the source system's date) when given, else the day the row was written;
    # the SQL bound on either keeps the rest of the catalogue out of memory.
    after = datetime.combine(p.start, datetime.min.time())
    before = datetime.combine(p.end + timedelta(days=1), datetime.min.time())
    needs = db.session.execute(
        select(Need).where(
            Need.status != "draft",
            or_(
                Need.created.between(p.start, p.end),
                Need.created.is_(None) & (Need.created_at >= after) & (Need.created_at < before),
            ),
        )
    ).scalars()
    return [n for n in needs if (n.created or _day(n.created_at)) in p]


# ------------------------------------------------------------------ figures


def funnel(steps: Iterable[_Step]) -> dict[str, dict[str, int]]:
    """Per stage: pairs that reached it (or a later one) and pairs recorded at it exactly."""
    furthest: dict[tuple[int, int], int] = {}
    exact: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for s in steps:
        if s.stage not in RANK:
            continue
        pair = (s.need_id, s.product_id)
        furthest[pair] = max(furthest.get(pair, -1), RANK[s.stage])
        exact[s.stage].add(pair)
    return {
        stage: {
            "reached": sum(1 for r in furthest.values() if r >= RANK[stage]),
            "recorded": len(exact[stage]),
        }
        for stage in FUNNEL
    }


def kpis(p: Period, steps: list[_Step], needs: list[Need]) -> list[tuple[str, str, Any]]:
    registered = db.session.scalar(
        select(func.count(Enterprise.id)).where(
            Enterprise.created_at >= datetime.combine(p.start, datetime.min.time()),
            Enterprise.created_at
            < datetime.combine(p.end + timedelta(days=1), datetime.min.time()),
        )
    )
    verified = db.session.scalar(select(func.count(Funder.id)).where(Funder.status == "verified"))
    funded = [s for s in steps if s.stage == "funded"]
    # "Pairs that met" and "Pairs approved" are the funnel's own figures (a pair that met and
    # was then approved or funded has met), so the key figure and the funnel beside it agree.
    reached = funnel(steps)
    out: list[tuple[str, str, Any]] = [
        ("enterprises", _("Enterprises registered"), int(registered or 0)),
        ("institutions", _("Verified institutions"), int(verified or 0)),
        ("needs", _("Needs published"), len(needs)),
        ("amount_asked", _("Amount asked (万元)"), sum(n.amount_cny for n in needs)),
    ]
    matches = _match_count(p)
    if matches is not None:
        out.append(("matches", _("Matches found"), matches))
    out += [
        ("meetings", _("Pairs that met"), reached["meeting"]["reached"]),
        ("approvals", _("Pairs approved"), reached["approved"]["reached"]),
        ("funded", _("Fundings"), len(funded)),
        ("amount_funded", _("Amount funded (万元)"), sum(s.amount for s in funded)),
    ]
    return out


def _match_count(p: Period) -> int | None:
    """Matches first found in the period, when the matches table exists."""
    try:
        from techfin.models import Match
    except ImportError:  # pragma: no cover - before the matching feature
        return None
    return int(
        db.session.scalar(
            select(func.count(Match.id)).where(
                Match.first_seen_at >= datetime.combine(p.start, datetime.min.time()),
                Match.first_seen_at
                < datetime.combine(p.end + timedelta(days=1), datetime.min.time()),
            )
        )
        or 0
    )


def _breakdown(
    name: str,
    title: Any,
    heading: Any,
    key_needs: Callable[[Need], str] | None,
    key_steps: Callable[[_Step], str],
    label: Callable[[str], str],
    needs: list[Need],
    steps: list[_Step],
) -> Table:
    asked: Counter[str] = Counter()
    count: Counter[str] = Counter()
    if key_needs is not None:
        for n in needs:
            k = key_needs(n)
            count[k] += 1
            asked[k] += n.amount_cny
    contacted: dict[str, set] = defaultdict(set)
    funded_n: Counter[str] = Counter()
    funded_amount: Counter[str] = Counter()
    for s in steps:
        k = key_steps(s)
        if s.stage in CONTACT_STAGES:
            contacted[k].add((s.need_id, s.product_id))
        if s.stage == "funded":
            funded_n[k] += 1
            funded_amount[k] += s.amount
    keys = sorted(set(count) | set(contacted) | set(funded_n), key=lambda k: (-funded_amount[k],
                                                                               -count[k], k))  # fmt: skip
    columns = [str(heading)]
    if key_needs is not None:
        columns += [_("Needs published"), _("Amount asked (万元)")]
    columns += [_("Pairs contacted"), _("Fundings"), _("Amount funded (万元)")]
    rows = []
    for k in keys:
        row: list[Any] = [label(k)]
        if key_needs is not None:
            row += [count[k], Wan(asked[k])]
        row += [len(contacted[k]), funded_n[k], Wan(funded_amount[k])]
        rows.append(row)
    totals: list[Any] = [_("Total")]
    for col in range(1, len(columns)):
        totals.append(sum(r[col] for r in rows))
    return Table(name, str(title), columns, rows, totals)


def _trend(p: Period, needs: list[Need], steps: list[_Step]) -> Table:
    months: list[str] = []
    cursor = date(p.start.year, p.start.month, 1)
    while cursor <= p.end and len(months) < 240:
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    rows = {m: [m, 0, set(), set(), 0, 0] for m in months}
    for n in needs:
        m = (n.created or _day(n.created_at)).strftime("%Y-%m")
        if m in rows:
            rows[m][1] += 1
    # A pair counts once, in the month it was first contacted (any contact stage, as in the
    # breakdowns) and in the month it first reached approval (approved or funded, as in the
    # funnel and the key figures), so the trend's totals are those figures.
    first_contact: dict[tuple[int, int], date] = {}
    first_approval: dict[tuple[int, int], date] = {}
    for s in steps:
        pair = (s.need_id, s.product_id)
        if s.stage in CONTACT_STAGES:
            first_contact[pair] = min(s.date, first_contact.get(pair, s.date))
        if s.stage in ("approved", "funded"):
            first_approval[pair] = min(s.date, first_approval.get(pair, s.date))
        m = s.date.strftime("%Y-%m")
        if s.stage == "funded" and m in rows:
            rows[m][4] += 1
            rows[m][5] += s.amount
    for column, firsts in ((2, first_contact), (3, first_approval)):
        for pair, day in firsts.items():
            m = day.strftime("%Y-%m")
            if m in rows:
                rows[m][column].add(pair)
    data = [[r[0], r[1], len(r[2]), len(r[3]), r[4], Wan(r[5])] for r in rows.values()]
    columns = [_("Month"), _("Needs published"), _("Pairs contacted"), _("Pairs approved"),
               _("Fundings"), _("Amount funded (万元)")]  # fmt: skip
    totals = [_("Total"), *[sum(r[c] for r in data) for c in range(1, 6)]]
    return Table("trend", _("Monthly trend"), columns, data, totals)


def _funnel_table(steps: list[_Step], label: Labeller) -> Table:
    figures = funnel(steps)
    rows = []
    previous = None
    for stage in FUNNEL:
        reached = figures[stage]["reached"]
        rate = "" if previous in (None, 0) else f"{100 * reached / previous:.1f}%"
        rows.append([label("outcome_stage", stage), reached, figures[stage]["recorded"], rate])
        previous = reached
    columns = [_("Stage"), _("Pairs reaching the stage"), _("Pairs recorded at the stage"),
               _("Conversion from the previous stage")]  # fmt: skip
    return Table("funnel", _("Conversion funnel"), columns, rows)


# ------------------------------------------------------------------ coverage monitor


def unattended(p: Period, ents: dict[int, _Ent]) -> Table:
    """Enterprises whose published needs, open for N days, no institution viewed or
    contacted in those N days."""
    cutoff = datetime.combine(p.today - timedelta(days=p.days), datetime.min.time())
    open_needs: dict[int, list[Need]] = defaultdict(list)
    for n in db.session.execute(select(Need).where(Need.status == "published")).scalars():
        open_needs[n.enterprise_id].append(n)
    viewed = dict(db.session.execute(
        select(DataAccess.enterprise_id, func.max(DataAccess.at))
        .where(DataAccess.funder_id.is_not(None)).group_by(DataAccess.enterprise_id)
    ).all())  # fmt: skip
    contacted = dict(db.session.execute(
        select(Need.enterprise_id, func.max(Outcome.date)).join(Need, Outcome.need_id == Need.id)
        .where(Outcome.stage.in_(CONTACT_STAGES)).group_by(Need.enterprise_id)
    ).all())  # fmt: skip
    rows = []
    for ent_id, needs in open_needs.items():
        since = min((n.created or _day(n.created_at)) for n in needs)
        if since > cutoff.date():
            continue
        last_view, last_contact = viewed.get(ent_id), contacted.get(ent_id)
        if (last_view and last_view >= cutoff) or (last_contact and last_contact >= cutoff.date()):
            continue
        e = ents[ent_id]
        rows.append([e.name, len(needs), Wan(sum(n.amount_cny for n in needs)), since,
                     _day(last_view), last_contact])  # fmt: skip
    rows.sort(key=lambda r: (r[3], r[0]))
    columns = [_("Enterprise"), _("Open needs"), _("Amount asked (万元)"), _("Open since"),
               _("Last viewed by an institution"), _("Last contacted")]  # fmt: skip
    title = _("Enterprises no institution viewed or contacted in %(days)s days", days=p.days)
    return Table("unattended", title, columns, rows)


def _covers(product: Product, kind: str, industry: str, region: str, stage: str | None) -> bool:
    return (
        product.kind == kind
        and reference.industry_matches(industry, product.industries)
        and reference.region_matches(region, product.regions)
        and (not product.stages or stage in product.stages)
    )


def gaps(ents: dict[int, _Ent], label: Labeller) -> Table:
    """Published needs no active product of a verified institution is open to (kind,
    industry, region, stage), grouped by industry section and city."""
    products = list(db.session.execute(
        select(Product).join(Funder, Product.funder_id == Funder.id)
        .where(Product.status == "active", Funder.status == "verified")
    ).scalars())  # fmt: skip
    # Coverage depends only on (kind, industry, region, stage): the published needs are
    # grouped by those in SQL and each combination checked once against the products
    # (a few thousand combinations, not products × needs).
    combos = db.session.execute(
        select(Need.kind, Enterprise.industry, Enterprise.region, Enterprise.stage,
               func.count(Need.id), func.coalesce(func.sum(Need.amount_cny), 0))
        .join(Enterprise, Need.enterprise_id == Enterprise.id)
        .where(Need.status == "published")
        .group_by(Need.kind, Enterprise.industry, Enterprise.region, Enterprise.stage)
    ).all()  # fmt: skip
    groups: dict[tuple[str, str], list[Any]] = {}
    for kind, industry, region, stage, count, amount in combos:
        if any(_covers(pr, kind, industry, region, stage) for pr in products):
            continue
        key = (reference.industry_section(industry) or "?", city_of(region))
        group = groups.setdefault(key, [0, 0, set()])
        group[0] += int(count)
        group[1] += int(amount)
        group[2].add(kind)
    rows = [[_section_label(s), _city_label(c), g[0], Wan(g[1]),
             "、".join(label("need_kind", k) for k in sorted(g[2]))]
            for (s, c), g in sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0]))]  # fmt: skip
    columns = [_("Industry"), _("City"), _("Uncovered needs"), _("Amount asked (万元)"),
               _("Kinds asked")]  # fmt: skip
    return Table("gaps", _("Industries and cities with needs but no eligible product"),
                 columns, rows)  # fmt: skip


# ------------------------------------------------------------------ labels


def _locale() -> str:
    from techfin.i18n import current_locale

    return current_locale()


def _section_label(section: str) -> str:
    name = reference.industry_name(section, _locale())
    return f"{section} {name}" if name else section


def _city_label(code: str) -> str:
    name = reference.region_name(code, _locale())
    return name or code


def raw_label(group: str, value: Any) -> str:
    """The enum value itself: pages pass techfin.web.labels.label instead."""
    return "—" if value in (None, "") else str(value)


# ------------------------------------------------------------------ the whole dashboard


def build(user: User, p: Period, label: Labeller = raw_label) -> Dashboard:
    """The dashboard computed now (commands, tests; pages read dashboard_reports)."""
    if not user.is_operator:
        raise Forbidden(_("Only operators see the dashboard."))
    return compute(p, label)


def compute(p: Period, label: Labeller = raw_label) -> Dashboard:
    """Every figure of the period, from the records: whole-catalogue work, so it runs in
    the task worker (dashboard_reports), never in a request."""
    ents = _enterprises()
    steps = _steps(p)
    needs = _needs(p)
    funders = dict(db.session.execute(select(Funder.id, Funder.name)).all())

    def ent_of(n: Need) -> _Ent:
        return ents[n.enterprise_id]

    def section(code: str) -> str:
        return reference.industry_section(code) or "?"

    tables = {
        "industry": _breakdown(
            "industry", _l("By industry (GB/T 4754 section)"), _l("Industry"),
            lambda n: section(ent_of(n).industry), lambda s: section(ents[s.enterprise_id].industry),
            _section_label, needs, steps),
        "region": _breakdown(
            "region", _l("By city"), _l("City"), lambda n: city_of(ent_of(n).region),
            lambda s: city_of(ents[s.enterprise_id].region), _city_label, needs, steps),
        "size": _breakdown(
            "size", _l("By SME size class"), _l("Size class"), lambda n: ent_of(n).size or "?",
            lambda s: ents[s.enterprise_id].size or "?",
            lambda k: label("sme_size", k) if k != "?" else str(_l("Unknown")), needs, steps),
        "kind": _breakdown(
            "kind", _l("By product kind"), _l("Kind"), lambda n: n.kind,
            lambda s: s.product_kind, lambda k: label("need_kind", k), needs, steps),
        "institution": _breakdown(
            "institution", _l("By institution"), _l("Institution"), None,
            lambda s: str(s.funder_id), lambda k: funders.get(int(k), k), needs, steps),
        "funnel": _funnel_table(steps, label),
        "trend": _trend(p, needs, steps),
        "unattended": unattended(p, ents),
        "gaps": gaps(ents, label),
    }  # fmt: skip
    figures = kpis(p, steps, needs)
    tables["kpis"] = Table("kpis", _("Key figures"), [_("Figure"), _("Value")],
                           [[label, _kpi_value(key, value)] for key, label, value in figures])  # fmt: skip
    return Dashboard(p, figures, tables, _charts(tables), any(k == "matches" for k, *_r in figures))


def _kpi_value(key: str, value: Any) -> Any:
    return Wan(value) if key.startswith("amount") else value


def _charts(t: dict[str, Table]) -> dict[str, Chart]:
    def column(table: Table, index: int) -> list[Any]:
        return [r[index] for r in table.rows]

    def wan(values: list[Wan]) -> list[float]:
        return [chart_value(v.cny) for v in values]

    funnel_t, trend_t = t["funnel"], t["trend"]
    charts = {
        "funnel": Chart("funnel", "funnel", funnel_t.title, [str(x) for x in column(funnel_t, 0)],
                        [{"name": funnel_t.columns[1], "data": column(funnel_t, 1)}]),
        "trend": Chart("trend", "line", trend_t.title, column(trend_t, 0), [
            {"name": trend_t.columns[1], "data": column(trend_t, 1)},
            {"name": trend_t.columns[2], "data": column(trend_t, 2)},
            {"name": trend_t.columns[4], "data": column(trend_t, 4)},
        ]),
    }  # fmt: skip
    for name in ("industry", "region", "size", "kind", "institution"):
        table = t[name]
        rows = table.rows[:15]
        amount = table.columns.index(_("Amount funded (万元)"))
        series = [{"name": _("Amount funded (万元)"), "data": wan([r[amount] for r in rows])}]
        if _("Needs published") in table.columns:
            asked = table.columns.index(_("Amount asked (万元)"))
            series.insert(0, {"name": _("Amount asked (万元)"),
                              "data": wan([r[asked] for r in rows])})  # fmt: skip
        charts[name] = Chart(name, "bar", table.title, [str(r[0]) for r in rows], series)
    return charts
