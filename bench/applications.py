"""The institution's application queue at region scale (issue #16), beside a small database.

    .venv/bin/python bench/applications.py                      # 100 000 / 20 000 vs 150 / 200
    .venv/bin/python bench/applications.py --requests 50        # a shorter measurement
    .venv/bin/python bench/applications.py --enterprises 3000 --applications 2000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/appbench_mid   # a smaller "large"

Target (issue #16): the institution's application queue at 100 000 enterprises and 20 000
applications answers with p95 ≤ 150 ms.

Two PostgreSQL databases:

- the large one, --database-url (default `scale_100k`), is prepared only when it is not
  already complete (migrations, `flask demo-data --enterprises N --seed S`) and is KEPT at
  the end: other benchmarks (matching refresh) reuse it. `flask db upgrade` runs on every
  start, so an index added by a later migration reaches a reused database.
- the baseline, --small-database (default `techfin_appbench_small`, 150 enterprises), is
  likewise reused when complete and kept (--drop-small drops it at the end: a DROP
  DATABASE waits for a checkpoint, minutes when the disk is busy).

Then each gets its applications (unless it already has that many): a sample goes through
the applications service as users would make them (apply, then each transition by the
enterprise's and the bank's own logins), the bulk is inserted directly as a bench fixture
(batched INSERTs of applications and their history rows, not through the service: no
audit, notices or pipeline steps for those). Institutions are skewed as in a region (a
Zipf-like share: the first few banks get most), statuses span the state machine, and open
applications' ages are such that some are past a deadline. The dates come from the same
working-day clock as the service (techfin/services/applications/clock.py).

Measured for the institution with the most applications, by its own staff login and API
token, against gunicorn (2 workers, --preload, bench/load.py's start; one per size, both up
at once) with one client sending requests one after another, to the two sizes in turn
(the latency of the page itself, not queueing; what else runs on the machine weighs on
both sizes alike):

- GET /applications               (the queue, first page)
- GET /applications?status=…      (a filtered page: the status with most of its rows)
- GET /api/v1/applications        (the API's first page)

--requests of each (after a warm-up), p50/p95/p99 at the client and as gunicorn logged
them, beside the same on the small database. Also per page (Flask test client in a
subprocess): the SQL statements one request runs (an engine event counts them) and the
app's CPU per request; and EXPLAIN ANALYZE of the queue's list and count queries, the list
also without migration 0016's index (dropped in a transaction that is rolled back). The
app's stderr goes to WORKDIR/SIZE/app-stderr.log (its workers' first request reports that
there is no search index: the queue pages do not use one, and none is built at 100 000).
Exits 1 when a large-database p95 is over 150 ms. Figures go to WORKDIR/applications.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import load as loadtest  # noqa: E402 - bench/load.py, found through the path above
import scale  # noqa: E402 - bench/scale.py: its timed `flask` steps and sql()
from scale import say, sql  # noqa: E402

P95_MS = 150.0
BENCH_PASSWORD = "Bench-queue-2026!"  # the bench's own logins (zxcvbn-strong enough)
# Status mix of a region's applications after a few months: most are decided or under
# review, a few wait for a first answer.
STATUS_WEIGHTS = {
    "picked_up": 3, "submitted": 16, "accepted": 20, "info_requested": 7,
    "approved": 7, "disbursed": 17, "declined": 21, "withdrawn": 9,
}  # fmt: skip
# The path each status took through the state machine (its history rows).
PATHS = {
    "picked_up": ["picked_up"],
    "submitted": ["submitted"],
    "accepted": ["submitted", "accepted"],
    "info_requested": ["submitted", "accepted", "info_requested"],
    "approved": ["submitted", "accepted", "approved"],
    "disbursed": ["submitted", "accepted", "approved", "disbursed"],
    "declined": ["submitted", "accepted", "declined"],
    "withdrawn": ["submitted", "withdrawn"],
}
PAGES = ("queue", "queue filtered", "api")
CPU_REQUESTS = 50  # per page, in the test client, for the app's CPU per request


# ------------------------------------------------------------------ preparation


def make_size(label: str, database_url: str, enterprises: int, applications: int,
              opts: argparse.Namespace) -> scale.Size:  # fmt: skip
    work = Path(opts.workdir) / label
    work.mkdir(parents=True, exist_ok=True)
    # bench/load.py's environment (instance dirs, secret, no schedules); the embedded SQLite
    # task queue: the bench runs no worker, and the notices of the service-made sample
    # only wait there.
    args = argparse.Namespace(database="sqlite", redis_url="")
    size = scale.Size(label, enterprises, args, work, database_url)
    size.env = loadtest.make_env(args, work, database_url, 0)
    size.figures["applications_target"] = applications
    return size


def _complete(size: scale.Size) -> bool:
    """The demo data of this size is in the database (its import commits all or nothing;
    the demo logins come right after it)."""
    try:
        rows = sql(size.database_url, "SELECT (SELECT count(*) FROM enterprises), "
                   "(SELECT count(*) FROM users WHERE email = 'operator@demo.techfin.cn')")  # fmt: skip
    except Exception:  # noqa: BLE001 - missing database or tables: not complete
        return False
    enterprises, operator = rows[0]
    return enterprises == size.enterprises and operator == 1


def _exists(database_url: str) -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    return bool(sql(admin, "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)))


def drop_database(database_url: str) -> None:
    """The baseline's own database (never the large one: it is kept for other benchmarks)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    sql(admin, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


def prepare(size: scale.Size) -> None:
    """Migrations and demo data, timed; an existing complete database is reused."""
    if _exists(size.database_url) and _complete(size):
        say(f"== {size.label}: reusing {size.database_url} ({size.enterprises} enterprises)")
        size.timings["db upgrade"] = scale.flask(size, "db", "upgrade", log="db-upgrade.log")
        size.figures["reused"] = True
        return
    say(f"== prepare {size.label}: {size.enterprises} enterprises in {size.database_url}")
    loadtest._reset_postgres(size.database_url)
    for step, args in (
        ("db upgrade", ["db", "upgrade"]),
        ("demo-data", ["demo-data", "--enterprises", str(size.enterprises), "--seed",
                       str(scale_seed(size))]),
    ):  # fmt: skip
        size.timings[step] = scale.flask(size, *args, log=step.replace(" ", "-") + ".log")
        say(f"  {step:<20}{size.timings[step]:7.1f} s")


def scale_seed(size: scale.Size) -> int:
    return int(size.figures.get("seed", 2026))


def fixture(size: scale.Size, sample: int) -> dict[str, Any]:
    """Adds the applications (in a subprocess inside the app) and returns the logins."""
    out = size.work / "fixture.json"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--internal-fixture", str(out),
         "--applications", str(size.figures["applications_target"]),
         "--sample", str(sample), "--seed", str(scale_seed(size))],
        cwd=ROOT, env=size.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    (size.work / "fixture.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"the applications fixture failed; see {size.work / 'fixture.log'}")
    size.timings["applications fixture"] = time.perf_counter() - start
    for line in done.stdout.splitlines():
        say(f"  {line}")
    # As autovacuum would have by the time a real queue is this big: planner statistics and
    # the visibility map (index-only counts) of the tables just filled.
    sql(size.database_url, "VACUUM ANALYZE applications, application_events")
    info = json.loads(out.read_text(encoding="utf-8"))
    size.figures["fixture"] = {k: v for k, v in info.items() if k not in ("token", "password")}
    return info


# ------------------------------------------------------------------ in the app (subprocess)


def _zipf_weights(n: int, s: float = 1.3) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@lru_cache(maxsize=4096)
def _due(day: date, days: int) -> date:
    from techfin.services.applications import clock

    return clock.add_working_days(day, days)


def _at(day: date, rng: random.Random) -> datetime:
    """A moment of a Beijing working day, as naive UTC (09:00–17:00 Beijing = 01:00–09:00)."""
    return datetime(day.year, day.month, day.day, 1) + timedelta(minutes=rng.randint(0, 479))


def _bulk_rows(status: str, need: tuple[int, int, int, int | None], product_id: int,
               funder_id: int, today: date, rng: random.Random,
               reason_codes: list[str]) -> tuple[dict[str, Any], list[tuple[str, str, datetime]]]:  # fmt: skip
    """One application in `status` and its history (from, to, at), dated like the service."""
    from techfin.models import REPAYMENTS

    need_id, enterprise_id, amount, term = need
    # Open ones are recent (so a share is past a deadline, as in a real queue); decided
    # ones spread over the last year.
    if status in ("submitted",):
        age = rng.choice([0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 8])
    elif status in ("accepted", "info_requested", "picked_up"):
        age = rng.randint(1, 21)
    elif status == "approved":
        age = rng.randint(3, 30)
    else:
        age = rng.randint(5, 365)
    day = today - timedelta(days=age)
    submitted_at = _at(day, rng)
    row: dict[str, Any] = {
        "need_id": need_id, "product_id": product_id, "funder_id": funder_id,
        "enterprise_id": enterprise_id, "status": status,
        "origin": "picked_up" if status == "picked_up" or rng.random() < 0.08 else "applied",
        "paused_days": 0, "reason_note": "", "escalated_for": "", "reminded_for": "",
        "document_ids": [], "consent_scope": [],
    }  # fmt: skip
    events: list[tuple[str, str, datetime]] = []
    if status == "picked_up":
        events.append(("", "picked_up", submitted_at))
        return row, events
    row.update(submitted_at=submitted_at, first_response_due=_due(day, 3),
               decision_due=_due(day, 10), consent_at=submitted_at,
               consent_scope=["profile", "need", "financials", "patents"])  # fmt: skip
    moment, before = submitted_at, ""
    for step in PATHS[status]:
        if step != "submitted":
            # Each later move a few working hours to a few days after the one before it,
            # never after now.
            moment = min(moment + timedelta(hours=rng.randint(2, 96)),
                         datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1))  # fmt: skip
        events.append((before, step, moment))
        before = step
        if step in ("accepted", "approved", "declined") and row.get("first_response_at") is None:
            row["first_response_at"] = moment
        if step == "info_requested":
            row["paused_on"] = moment.date()
        if step in ("approved", "disbursed", "declined", "withdrawn"):
            row["decided_at"] = row.get("decided_at") or moment
    if status in ("approved", "disbursed"):
        row.update(approved_amount_cny=max(100_000, int(amount * rng.uniform(0.5, 1.0)) // 10_000
                                           * 10_000),
                   approved_rate=round(rng.uniform(3.0, 6.5), 2),
                   approved_term_months=term or rng.choice([12, 24, 36]))  # fmt: skip
    if status == "disbursed":
        issued = row["decided_at"].date() + timedelta(days=rng.randint(1, 5))
        row.update(disbursed_amount_cny=row["approved_amount_cny"],
                   disbursed_rate=row["approved_rate"], issued=issued,
                   matures=issued + timedelta(days=30 * row["approved_term_months"]),
                   repayment=rng.choice(REPAYMENTS))  # fmt: skip
    if status == "declined":
        row.update(reason_code=rng.choice(reason_codes),
                   reason_note="经审核，暂不符合本行该产品的准入要求。")  # fmt: skip
    return row, events


def _staff(funder: Any) -> Any:
    """The bench's staff login of an institution (created once)."""
    from techfin.services import accounts

    email = f"appbench-{funder.ref.lower()}@bench.techfin.cn"
    role = "investor" if funder.kind in ("vc", "guidance_fund") else "bank"
    return accounts.find_user(email) or accounts.create_user(
        email, BENCH_PASSWORD, role, organization=funder, org_role="owner"
    )


def _owner(enterprise: Any) -> Any:
    from techfin.services import accounts

    email = f"appbench-{enterprise.ref.lower()}@bench.techfin.cn"
    return accounts.find_user(email) or accounts.create_user(
        email, BENCH_PASSWORD, "enterprise", organization=enterprise, org_role="owner"
    )


def _through_service(rng: random.Random, funders: list[Any], weights: list[float],
                     products: dict[int, list[Any]], needs_by_kind: dict[str, list[tuple]],
                     wanted: int, budget_s: float = 120.0) -> tuple[int, int]:  # fmt: skip
    """Applications made as users make them: an enterprise login applies (eligible pairs
    only, found by the service's own `gaps`), then the bank and the enterprise move it to
    a status drawn from the same mix. Returns (made, eligibility checks)."""
    from techfin.errors import DomainError
    from techfin.extensions import db
    from techfin.models import Enterprise, Need
    from techfin.services import applications
    from techfin.services.applications import reasons

    made = tries = 0
    started = time.monotonic()
    tried: set[tuple[int, int]] = set()
    statuses, status_w = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    while made < wanted and time.monotonic() - started < budget_s:
        funder = rng.choices(funders, weights)[0]
        product = rng.choice(products[funder.id])
        pool = needs_by_kind.get(product.kind) or []
        if not pool:
            continue
        need_id = rng.choice(pool)[0]
        if (need_id, product.id) in tried:
            continue
        tried.add((need_id, product.id))
        need = db.session.get(Need, need_id)
        tries += 1
        try:
            if applications.gaps(need, product):
                continue
            owner = _owner(db.session.get(Enterprise, need.enterprise_id))
            staff = _staff(funder)
            app = applications.apply(owner, need, product, [])
        except DomainError:  # e.g. the pair already has an open application
            db.session.rollback()
            continue
        made += 1
        status = rng.choices(statuses, status_w)[0]
        if status == "picked_up":
            status = "submitted"  # a pick-up is the bank's own start: not re-made here
        for step in PATHS[status][1:]:
            side = "enterprise" if step == "withdrawn" else "institution"
            data: dict[str, Any] = {"to": step}
            if step == "info_requested":
                data["note"] = "请补充近两年的财务报表。"
            elif step == "approved":
                data.update(amount_cny=need.amount_cny, rate=3.85,
                            term_months=need.term_months or 12)  # fmt: skip
            elif step == "disbursed":
                today = date.today()
                data.update(amount_cny=need.amount_cny, rate=3.85, issued=today.isoformat(),
                            matures=(today + timedelta(days=365)).isoformat(),
                            repayment="equal_installment")  # fmt: skip
            elif step == "declined":
                data.update(reason_code=rng.choice(reasons.CODES), note="抵押物不足。")
            try:
                applications.transition(owner if side == "enterprise" else staff, app, data)
            except DomainError as err:
                # The application stays where it got to (e.g. the pipeline already has
                # this pair funded from the demo data): still a service-made row.
                db.session.rollback()
                print(f"  service sample: #{app.id} stays {app.status} ({err.message}: "
                      f"{err.fields})")  # fmt: skip
                break
    return made, tries


def build_fixture(path: str, target: int, sample: int, seed: int) -> None:
    """Inside the instance: top up the applications to `target` (a service-made sample,
    the rest inserted directly), then the biggest institution's staff login and token."""
    from sqlalchemy import func, insert, select

    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import Application, ApplicationEvent, Funder, Need, Product
    from techfin.services import accounts
    from techfin.services.applications import clock, reasons
    from techfin.services.applications.queries import overdue_filter

    app = create_app()
    with app.app_context():
        rng = random.Random(seed)
        existing = db.session.scalar(select(func.count(Application.id))) or 0
        # Institutions with active products; banks first (they carry most of a region's
        # loan applications), then in id order: a stable ranking for the skew.
        funders = [f for f in db.session.scalars(
            select(Funder).where(Funder.status == "verified").order_by(Funder.id))]  # fmt: skip
        products: dict[int, list[Any]] = {}
        for product in db.session.scalars(select(Product).where(Product.status == "active")):
            products.setdefault(product.funder_id, []).append(product)
        funders = [f for f in funders if products.get(f.id)]
        funders.sort(key=lambda f: (f.kind != "bank", f.id))
        weights = _zipf_weights(len(funders))
        needs_by_kind: dict[str, list[tuple]] = {}
        for row in db.session.execute(
            select(Need.id, Need.enterprise_id, Need.amount_cny, Need.term_months, Need.kind)
            .where(Need.status == "published").order_by(Need.id)
        ):  # fmt: skip
            needs_by_kind.setdefault(row.kind, []).append(tuple(row[:4]))
        made = tries = bulk = 0
        started = time.perf_counter()
        if existing < target:
            if existing == 0 and sample:
                made, tries = _through_service(rng, funders, weights, products, needs_by_kind,
                                               min(sample, target))  # fmt: skip
                print(
                    f"service sample: {made} applications through the applications service "
                    f"({tries} eligibility checks, {time.perf_counter() - started:.1f} s)"
                )
            left = target - existing - made
            open_pairs = {(n, p) for n, p in db.session.execute(
                select(Application.need_id, Application.product_id))}  # fmt: skip
            today = clock.beijing_today()
            codes = list(reasons.CODES)
            statuses, status_w = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
            bulk_started = time.perf_counter()
            batch: list[tuple[dict[str, Any], list]] = []

            def flush() -> None:
                ids = db.session.scalars(
                    insert(Application).returning(Application.id, sort_by_parameter_order=True),
                    [r for r, _e in batch],
                ).all()  # fmt: skip
                db.session.execute(insert(ApplicationEvent), [
                    {"application_id": app_id, "at": at, "user_id": None,
                     "actor": "appbench fixture", "from_status": frm, "to_status": to,
                     "note": ""}
                    for app_id, (_r, events) in zip(ids, batch, strict=True)
                    for frm, to, at in events
                ])  # fmt: skip
                db.session.commit()
                batch.clear()

            while bulk < left:
                funder = rng.choices(funders, weights)[0]
                product = rng.choice(products[funder.id])
                pool = needs_by_kind.get(product.kind)
                if not pool:
                    continue
                need = rng.choice(pool)
                if (need[0], product.id) in open_pairs:
                    continue  # one application per (need, product) in this fixture
                open_pairs.add((need[0], product.id))
                status = rng.choices(statuses, status_w)[0]
                batch.append(_bulk_rows(status, need, product.id, funder.id, today, rng, codes))
                bulk += 1
                if len(batch) >= 2000:
                    flush()
            if batch:
                flush()
            print(
                f"bulk fixture: {bulk} applications inserted directly (batched INSERTs of "
                f"2 000, not through the service) in {time.perf_counter() - bulk_started:.1f} s"
            )
        else:
            print(f"reusing the {existing} applications already in the database")
        # The institution with the most applications, and its staff's login and token.
        top_id, top_count = db.session.execute(
            select(Application.funder_id, func.count()).group_by(Application.funder_id)
            .order_by(func.count().desc()).limit(1)
        ).one()  # fmt: skip
        top = db.session.get(Funder, top_id)
        staff = _staff(top)
        db.session.commit()
        by_status = dict(db.session.execute(
            select(Application.status, func.count()).where(Application.funder_id == top_id)
            .group_by(Application.status)
        ).all())  # fmt: skip
        today = clock.beijing_today()
        overdue = db.session.scalar(select(func.count()).select_from(Application).where(
            Application.funder_id == top_id, overdue_filter(today)))  # fmt: skip
        total = db.session.scalar(select(func.count(Application.id))) or 0
        # Over every run that filled this database: the service's rows have their creator,
        # the fixture's none (and "appbench fixture" in their history).
        service_rows = db.session.scalar(
            select(func.count(Application.id)).where(Application.created_by_id.is_not(None))
        )
        institutions = db.session.scalar(select(func.count(func.distinct(Application.funder_id))))
        info = {
            "email": staff.email, "password": BENCH_PASSWORD,
            "token": accounts.create_api_token(staff, "application queue bench"),
            "funder_id": top_id, "funder": top.name, "funder_kind": top.kind,
            "funder_applications": top_count, "by_status": by_status,
            "overdue": overdue, "today": today.isoformat(),
            "filter": max((s for s in by_status if s not in ("disbursed", "declined", "withdrawn")),
                          key=lambda s: by_status[s]),
            "applications": total, "institutions": institutions,
            "service_made": service_rows, "bulk_inserted": total - service_rows,
            "added_this_run": made + bulk,
        }  # fmt: skip
        print(
            f"{total} applications over {institutions} institutions; the biggest, "
            f"{top.name} ({top.kind}), has {top_count} ({overdue} overdue): {by_status}"
        )
    Path(path).write_text(json.dumps(info, default=str), encoding="utf-8")


def _login(client: Any, email: str, password: str) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    client.post("/auth/login", data={"email": email, "password": password,
                                     "csrf_token": token.group(1) if token else ""})  # fmt: skip


def inspect(path: str, fixture_path: str) -> None:
    """Inside the instance: SQL statements per request (Flask test client) and EXPLAIN
    ANALYZE of the queue's list and count queries for the fixture's institution."""
    from sqlalchemy import event, func, select, text

    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import User
    from techfin.services import applications
    from techfin.services.paging import clamp

    info = json.loads(Path(fixture_path).read_text(encoding="utf-8"))
    app = create_app()
    out: dict[str, Any] = {"statements": {}, "explain": {}}
    with app.app_context():
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
            statements.append(statement)

        client = app.test_client()
        _login(client, info["email"], info["password"])
        urls = page_urls(info)
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            for name, url in urls.items():
                headers = {"Authorization": f"Bearer {info['token']}"} if name == "api" else {}
                client.get(url, headers=headers)  # warm (compiled caches, templates)
                statements.clear()
                answer = client.get(url, headers=headers)
                if answer.status_code != 200:
                    raise SystemExit(f"{url} answered {answer.status_code}")
                out["statements"][name] = len(statements)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        # The app's own CPU per request (this process; PostgreSQL's share not included):
        # unlike the times at the client it hardly moves with what else runs on the machine.
        out["cpu_ms"] = {}
        for name, url in urls.items():
            headers = {"Authorization": f"Bearer {info['token']}"} if name == "api" else {}
            cpu = time.process_time()
            for _ in range(CPU_REQUESTS):
                client.get(url, headers=headers)
            out["cpu_ms"][name] = (time.process_time() - cpu) * 1000 / CPU_REQUESTS
        user = db.session.scalar(select(User).where(User.email == info["email"]))
        number, size = clamp(1, 20)
        for name, status in (("queue", None), ("queue filtered", info["filter"])):
            # The statement applications.page() runs, and its count.
            stmt = applications.queue_statement(user, status)
            queries = {
                "list": stmt.limit(size).offset((number - 1) * size),
                "count": select(func.count()).select_from(stmt.order_by(None).subquery()),
            }
            for part, query in queries.items():
                compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
                plan = [r[0] for r in db.session.execute(
                    text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))]  # fmt: skip
                out["explain"][f"{name} {part}"] = plan
                if part == "list":
                    # The same query without migration 0016's index (dropped inside this
                    # transaction only, then rolled back): what the index saves, same run.
                    db.session.execute(text("DROP INDEX IF EXISTS ix_applications_queue_order"))
                    out["explain"][f"{name} {part} (without the 0016 index)"] = [
                        r[0] for r in db.session.execute(
                            text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))]  # fmt: skip
                    db.session.rollback()
    Path(path).write_text(json.dumps(out), encoding="utf-8")


# ------------------------------------------------------------------ measuring


def page_urls(info: dict[str, Any]) -> dict[str, str]:
    return {"queue": "/applications", "queue filtered": f"/applications?status={info['filter']}",
            "api": "/api/v1/applications"}  # fmt: skip


def run_inspect(size: scale.Size) -> dict[str, Any]:
    out = size.work / "inspect.json"
    done = subprocess.run(
        [sys.executable, __file__, "--internal-inspect", str(out), str(size.work / "fixture.json")],
        cwd=ROOT, env=size.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit("the SQL inspection failed")
    found = json.loads(out.read_text(encoding="utf-8"))
    size.figures["statements"] = found["statements"]
    size.figures["explain"] = found["explain"]
    size.figures["cpu_ms"] = found["cpu_ms"]
    say(f"  SQL statements per request: {found['statements']}; the app's CPU per request "
        f"(test client, ms): { {k: round(v, 1) for k, v in found['cpu_ms'].items()} }")  # fmt: skip
    for name, plan in found["explain"].items():
        timing = [line.strip() for line in plan if line.strip().startswith("Execution Time")]
        scans = sorted({m.group(0) for line in plan
                        for m in [re.search(r"(Index Only Scan|Bitmap Index Scan|Index Scan|"
                                            r"Bitmap Heap Scan|Seq Scan|Sort)( Backward)?"
                                            r"( (using )?\S+ on \w+| on \w+|(?= ))", line)]
                        if m})  # fmt: skip
        say(f"  EXPLAIN {name}: {'; '.join(scans)}; {timing[0] if timing else ''}")
    return found


def _access_ms(log: Path, since: int) -> dict[str, list[float]]:
    """Server-side times from gunicorn's access log (the `%(M)sms` field), per page."""
    out: dict[str, list[float]] = {}
    with log.open("rb") as fh:
        fh.seek(since)
        for line in fh.read().decode("utf-8", "replace").splitlines():
            m = re.search(r'"GET (\S+) HTTP/[\d.]+" (\d+) \S+ (\d+)ms', line)
            if m and m.group(2) == "200":
                out.setdefault(m.group(1), []).append(float(m.group(3)))
    return out


@contextlib.contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    """Processes started inside inherit `path` as their stderr: the app's own log lines (at
    the first request each worker reports that there is no search index, which the queue
    pages do not use and which is not built at 100 000 enterprises) go to the work dir."""
    saved = os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@dataclass
class Target:
    """One size's server and logged-in clients during the measurement."""

    size: scale.Size
    info: dict[str, Any]
    server: subprocess.Popen
    base: str
    clients: dict[str, Any]
    log_offset: int = 0
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def _start(size: scale.Size, info: dict[str, Any]) -> Target:
    import requests

    port = loadtest._free_port()
    env = {**size.env, "EXTERNAL_URL": f"http://127.0.0.1:{port}"}
    started = time.perf_counter()
    with _stderr_into(size.work / "app-stderr.log"):
        server = loadtest.start_gunicorn(env, port, size.work, timeout=600)
    size.timings["gunicorn start"] = time.perf_counter() - started
    say(f"  {size.label}: gunicorn on port {port} answered after "
        f"{size.timings['gunicorn start']:.1f} s")  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {info['token']}"
    session = loadtest._session(base, info["email"], info["password"])
    clients = {name: api if name == "api" else session for name in PAGES}
    return Target(size, info, server, base, clients)


def measure(targets: list[tuple[scale.Size, dict[str, Any]]], requests_n: int) -> None:
    """Both sizes' gunicorns (2 workers each) up at once and one client asking them in
    turn, page by page: whatever else runs on the machine weighs on both sizes alike.
    Client times, and the times gunicorn logged."""
    say("== measure: both sizes, requests interleaved")
    running: list[Target] = []
    try:
        for size, info in targets:
            running.append(_start(size, info))
        # Both workers of each server answer each page a few times first (templates,
        # compiled SQL caches, the session's first-request work).
        for _ in range(10):
            for t in running:
                for name, url in page_urls(t.info).items():
                    t.clients[name].get(t.base + url, timeout=60)
        for t in running:
            log = t.size.work / "access.log"
            t.log_offset = log.stat().st_size if log.exists() else 0
            t.times = {name: [] for name in PAGES}
            t.errors = dict.fromkeys(PAGES, 0)
        for i in range(requests_n):
            for t in running:
                for name, url in page_urls(t.info).items():
                    t0 = time.perf_counter()
                    answer = t.clients[name].get(t.base + url, timeout=60, allow_redirects=False)
                    t.times[name].append((time.perf_counter() - t0) * 1000)
                    ok = answer.status_code == 200 and (
                        name == "api" and answer.json()["total"] >= 0
                        or name != "api" and 'id="application-list"' in answer.text)  # fmt: skip
                    if not ok:
                        t.errors[name] += 1
                        if t.errors[name] == 1:
                            say(f"  {t.size.label} {name}: answer {answer.status_code} at "
                                f"request {i}")  # fmt: skip
        time.sleep(1.0)  # the access log line is written after the answer
    finally:
        for t in running:
            loadtest.stop(t.server)
    pct = loadtest._pct
    for t in running:
        log = t.size.work / "access.log"
        server_ms = _access_ms(log, t.log_offset) if log.exists() else {}
        result: dict[str, Any] = {}
        for name, url in page_urls(t.info).items():
            values, logged = t.times[name], server_ms.get(url, [])
            result[name] = {
                "url": url, "n": len(values), "errors": t.errors[name],
                "p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99),
                "server_p50": pct(logged, 50), "server_p95": pct(logged, 95),
            }  # fmt: skip
        t.size.figures["measured"] = result


# ------------------------------------------------------------------ report


def table(sizes: list[scale.Size]) -> bool:
    small, large = sizes
    fs, fl = small.figures.get("fixture", {}), large.figures.get("fixture", {})
    print(f"\nlarge: {large.enterprises} enterprises, {fl.get('applications')} applications "
          f"({fl.get('service_made')} made through the service, {fl.get('bulk_inserted')} "
          f"inserted as a fixture; {fl.get('added_this_run')} added this run); {fl.get('funder')} holds "
          f"{fl.get('funder_applications')} ({fl.get('overdue')} overdue)")  # fmt: skip
    print(f"small: {small.enterprises} enterprises, {fs.get('applications')} applications; "
          f"{fs.get('funder')} holds {fs.get('funder_applications')}")  # fmt: skip
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = (f"{'page':<38}{'large p50/p95/p99 ms':>22}{'server p95':>11}{'SQL':>4}{'CPU':>6}"
            f"{'small p50/p95/p99 ms':>22}{'server p95':>11}{'SQL':>4}{'CPU':>6}"
            f"  target p95 <= 150")  # fmt: skip
    print(head)
    print("-" * len(head))
    ok = True
    ml, ms = large.figures.get("measured", {}), small.figures.get("measured", {})
    for name in PAGES:
        lg, sm = ml.get(name), ms.get(name)

        def cell(m: dict[str, Any] | None) -> str:
            return "—" if not m else f"{m['p50']:.0f} / {m['p95']:.0f} / {m['p99']:.0f}"

        def srv(m: dict[str, Any] | None) -> str:
            return "—" if not m else f"{m['server_p95']:.0f}"

        good = bool(lg) and lg["p95"] <= P95_MS and lg["errors"] == 0
        ok = ok and good
        label = f"GET {(lg or sm or {}).get('url', name)}"

        def cpu(size: scale.Size, name: str = name) -> str:
            value = size.figures.get("cpu_ms", {}).get(name)
            return "—" if value is None else f"{value:.0f}"

        print(f"{label:<38}{cell(lg):>22}{srv(lg):>11}"
              f"{large.figures.get('statements', {}).get(name, '—')!s:>4}{cpu(large):>6}"
              f"{cell(sm):>22}{srv(sm):>11}{small.figures.get('statements', {}).get(name, '—')!s:>4}"
              f"{cpu(small):>6}"
              f"  {'ok' if good else 'MISSED'}"
              + (f" ({lg['errors']} errors)" if lg and lg["errors"] else ""))  # fmt: skip
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=f"{scale.PG_SERVER}/scale_100k",
                    help="the large database: reused when complete, never dropped")  # fmt: skip
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--applications", type=int, default=20_000)
    ap.add_argument("--small-database", default="techfin_appbench_small")
    ap.add_argument("--small-enterprises", type=int, default=150)
    ap.add_argument("--small-applications", type=int, default=200)
    ap.add_argument("--sample", type=int, default=100,
                    help="applications made through the service (the rest: a direct fixture)")  # fmt: skip
    ap.add_argument("--requests", type=int, default=200, help="of each page")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--prepare-only", action="store_true", help="the large database only")
    ap.add_argument("--drop-small", action="store_true", help="drop the small database at the end")
    ap.add_argument("--workdir", default=None, help="default: a new directory under /tmp")
    ap.add_argument("--internal-fixture", help=argparse.SUPPRESS)
    ap.add_argument("--internal-inspect", nargs=2, help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.internal_fixture:
        build_fixture(opts.internal_fixture, opts.applications, opts.sample, opts.seed)
        return 0
    if opts.internal_inspect:
        inspect(*opts.internal_inspect)
        return 0
    opts.workdir = str(Path(opts.workdir or f"/tmp/techfin-appbench-{os.getpid()}").resolve())
    Path(opts.workdir).mkdir(parents=True, exist_ok=True)
    small = make_size("small", f"{scale.PG_SERVER}/{opts.small_database}",
                      opts.small_enterprises, opts.small_applications, opts)  # fmt: skip
    large = make_size("large", opts.database_url, opts.enterprises, opts.applications, opts)
    for size in (small, large):
        size.figures["seed"] = opts.seed
    sizes = [small, large]

    def save() -> None:
        Path(opts.workdir, "applications.json").write_text(json.dumps(
            {s.label: {"database": s.database_url, "enterprises": s.enterprises,
                       "timings": s.timings, **s.figures} for s in sizes},
            indent=1, default=str))  # fmt: skip

    say(f"work dir {opts.workdir}")
    if opts.prepare_only:
        prepare(large)
        fixture(large, opts.sample)
        save()
        return 0
    try:
        infos = []
        for size in sizes:
            prepare(size)
            infos.append(fixture(size, opts.sample if size is large else 20))
            save()
            run_inspect(size)
            save()
        measure(list(zip(sizes, infos, strict=True)), opts.requests)
        ok = table(sizes)
        print(f"figures: {opts.workdir}/applications.json; logs under {opts.workdir}/small, "
              f"/large (the large database {large.database_url} is kept)")  # fmt: skip
    finally:
        save()
        # Last: DROP DATABASE waits for a checkpoint, minutes when the disk is busy.
        if opts.drop_small:
            with contextlib.suppress(Exception):
                drop_database(small.database_url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
