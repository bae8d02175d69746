"""Load test: 50 simulated users for 2 minutes against gunicorn with 2 workers (not a test).

    .venv/bin/python bench/load.py                              # PostgreSQL, 50 users, 2 min
    .venv/bin/python bench/load.py --database sqlite            # SQLite file (WAL)
    .venv/bin/python bench/load.py --users 10 --duration 20s    # a short run

It prepares a fresh database as `make run` does (migrations, demo data for 150 enterprises,
search index, model), adds one login per enterprise / institution and a few docking events,
starts gunicorn (2 workers, --preload) on a free 127.0.0.1 port with a local SMTP sink, and
drives it headless with bench/locustfile.py: enterprise users (marketplace, search, matches
page, edit a need, register for an event, express interest), institution staff (dealflow,
a product's matches, move a pair along the pipeline), anonymous visitors, and the trivial
/ping beside them. Prints requests/s, p50/p95/p99 and errors per endpoint in one table,
compares the writes the clients saw confirmed with the rows in the database, counts
"database is locked", and exits 1 when a target is missed.

PostgreSQL: the database in --pg-url is DROPPED and recreated (default techfin_load).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/techfin_load"
MATCHES = "GET /needs/[id]/matches"
TRIVIAL = "GET /ping"
LOAD_ENTERPRISES = 60  # logins handed out to enterprise users (one each)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seconds(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 120, 20s, 2m)")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (exact: locust's own table rounds to buckets)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))
    return ordered[rank - 1]


# ------------------------------------------------------------------ database


def _reset_postgres(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    if not name or name in {"postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to drop database {name!r}: give a dedicated --pg-url")
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _pg_reachable(url: str) -> bool:
    """The server answers (the database itself may not exist yet)."""
    from sqlalchemy.engine import make_url

    from techfin.tools.pg_ready import main as pg_ready

    admin = make_url(url).set(drivername="postgresql", database="postgres")
    return pg_ready(admin.render_as_string(hide_password=False)) == 0


COUNTS = {
    # write kind → SQL counting its rows; the deltas must equal the confirmed writes
    "outcomes": "SELECT count(*) FROM outcomes",
    "event_register": "SELECT count(*) FROM event_registrations",
    "need_edit": "SELECT count(*) FROM audit_entries "
    "WHERE action = 'update' AND object_type = 'need'",
}


def _counts(database_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    from techfin.config import normalise_database_url

    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as conn:
            return {k: int(conn.execute(text(sql)).scalar() or 0) for k, sql in COUNTS.items()}
    finally:
        engine.dispose()


def setup_fixture(path: str) -> None:
    """Inside the prepared instance (a subprocess with its env): logins, events, ids."""
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import EVENT_KINDS, Enterprise, Funder, Need, Product
    from techfin.services import accounts, events
    from techfin.services.demo import DEMO_PASSWORD

    app = create_app()
    with app.app_context():
        fixture: dict[str, Any] = {"password": DEMO_PASSWORD, "enterprises": [], "funders": []}
        for ent in db.session.execute(select(Enterprise).order_by(Enterprise.id)).scalars():
            needs = db.session.execute(
                select(Need.id, Need.status).where(
                    Need.enterprise_id == ent.id, Need.status != "closed"
                )
            ).all()
            if not needs:
                continue
            email = f"load-{ent.ref.lower()}@load.techfin.cn"
            if accounts.find_user(email) is None:
                accounts.create_user(email, DEMO_PASSWORD, "enterprise", organization=ent,
                                     org_role="owner")  # fmt: skip
            fixture["enterprises"].append({
                "email": email,
                "needs": [n for n, _s in needs],
                "published": [n for n, s in needs if s == "published"],
            })  # fmt: skip
            if len(fixture["enterprises"]) >= LOAD_ENTERPRISES:
                break
        funders = db.session.execute(
            select(Funder).where(Funder.status == "verified").order_by(Funder.id)
        ).scalars()
        for funder in funders:
            products = list(
                db.session.execute(
                    select(Product.id).where(
                        Product.funder_id == funder.id, Product.status == "active"
                    )
                ).scalars()
            )
            if not products:
                continue
            email = f"load-{funder.ref.lower()}@load.techfin.cn"
            role = "investor" if funder.kind in ("vc", "guidance_fund") else "bank"
            if accounts.find_user(email) is None:
                accounts.create_user(email, DEMO_PASSWORD, role, organization=funder,
                                     org_role="owner")  # fmt: skip
            fixture["funders"].append({"email": email, "products": products})
        db.session.commit()
        operator = accounts.find_user("operator@demo.techfin.cn")
        start = datetime.now().replace(hour=9, minute=0, second=0, microsecond=0)
        fixture["events"] = []
        for i in range(25):
            day = start + timedelta(days=30 + i)
            event = events.save_event(operator, None, {
                "title": f"负载测试对接会 {i + 1}", "kind": EVENT_KINDS[0], "starts_at": day,
                "ends_at": day + timedelta(hours=4), "capacity": 1000, "place": "中山",
            })  # fmt: skip
            fixture["events"].append(event.id)
        fixture["products"] = list(
            db.session.execute(select(Product.id).where(Product.status == "active")).scalars()
        )
    Path(path).write_text(json.dumps(fixture), encoding="utf-8")


def prepare(args: argparse.Namespace, env: dict[str, str], work: Path) -> Path:
    if args.database == "postgresql":
        _reset_postgres(args.pg_url)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(str(work / "techfin.db") + suffix).unlink(missing_ok=True)
    shutil.rmtree(work / "instance", ignore_errors=True)
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    steps = [
        flask + ["db", "upgrade"],
        flask + ["demo-data", "--enterprises", str(args.enterprises), "--seed", str(args.seed)],
        flask + ["search", "reindex"],
        flask + ["matching", "train"],
    ]
    fixture = work / "fixture.json"
    steps.append([sys.executable, __file__, "--internal-setup", str(fixture)])
    for cmd in steps:
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        print(f"  {' '.join(cmd[3:5] if cmd[0] != sys.executable else ['setup']):<28}"
              f"{time.perf_counter() - t:6.1f} s")  # fmt: skip
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise SystemExit(f"preparation step failed: {' '.join(cmd)}")
    return fixture


# ------------------------------------------------------------------ servers


class SmtpSink:
    """A local SMTP server that accepts every message: "express interest" mails somewhere."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink

        self.port = _free_port()
        self.controller = Controller(Sink(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


def start_gunicorn(env: dict[str, str], port: int, work: Path) -> subprocess.Popen:
    cmd = [str(BIN / "gunicorn"), "--workers", "2", "--preload", "--bind", f"127.0.0.1:{port}",
           "--access-logfile", str(work / "access.log"),
           "--access-logformat", '%(t)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s',
           "--error-logfile", str(work / "gunicorn.log"), "wsgi:app"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode}); see {work / 'gunicorn.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise SystemExit("gunicorn did not answer /ping within 120 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _session(base: str, email: str, password: str) -> Any:
    import requests

    session = requests.Session()
    page = session.get(f"{base}/auth/login", timeout=60).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    session.post(f"{base}/auth/login", timeout=60, data={
        "email": email, "password": password, "csrf_token": token.group(1) if token else ""})  # fmt: skip
    return session


def warm_up(port: int, fixture: Path) -> None:
    """Before the clock starts: each worker imports the matching library, loads jieba's
    dictionary and the model and builds its snapshot on its first ranking (seconds on a
    busy machine), so concurrent rankings are asked until both workers have done so."""
    from concurrent.futures import ThreadPoolExecutor

    base = f"http://127.0.0.1:{port}"
    data = json.loads(fixture.read_text(encoding="utf-8"))
    ent, inst = data["enterprises"][0], data["funders"][0]

    def one(i: int) -> None:
        with contextlib.suppress(OSError, ValueError):
            if i % 2:
                s = _session(base, inst["email"], data["password"])
                s.get(f"{base}/dealflow/matches", timeout=120)
            else:
                s = _session(base, ent["email"], data["password"])
                s.get(f"{base}/needs/{ent['needs'][0]}/matches", timeout=120)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(12)))


def run_locust(args: argparse.Namespace, env: dict[str, str], port: int, work: Path) -> dict:
    results = work / "results.json"
    results.unlink(missing_ok=True)
    # The measured window is --duration after the last user has arrived.
    # locustfile stops --duration s after the last user has logged in; this is a backstop.
    ramp = int(-(-args.users // args.spawn_rate)) + 60
    cmd = [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
           "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
           "--run-time", f"{args.duration + ramp}s", "--host", f"http://127.0.0.1:{port}",
           "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
           ]  # fmt: skip
    out = work / "locust.log"
    with out.open("w") as log:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                       timeout=args.duration + ramp + 120, check=False)  # fmt: skip
    if not results.exists():
        raise SystemExit(f"locust wrote no results; see {out}")
    return json.loads(results.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ report


def report(
    args: argparse.Namespace,
    data: dict,
    lost: dict[str, tuple[int, int]],
    locked: int,
    server_ms: list[float],
) -> bool:
    times: dict[str, list[float]] = data["times"]
    failures: dict[str, int] = data["failures"]
    window = data.get("window") or args.duration  # seconds measured after the ramp-up
    width = max(len(k) for k in times) + 2 if times else 20
    head = f"{'endpoint':<{width}}{'reqs':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}" \
           f"{'p99 ms':>9}{'errors':>8}"  # fmt: skip
    print("\n" + head)
    print("-" * len(head))
    total = 0
    order = sorted(set(times) | set(failures), key=lambda k: (k != TRIVIAL, k.split(" ", 1)[1], k))
    for name in order:
        ms = times.get(name, [])
        total += len(ms)
        label = name + (" (trivial)" if name == TRIVIAL else "")
        print(f"{label:<{width}}{len(ms):>7}{len(ms) / window:>8.1f}"
              f"{_pct(ms, 50):>9.0f}{_pct(ms, 95):>9.0f}{_pct(ms, 99):>9.0f}"
              f"{failures.get(name, 0):>8}")  # fmt: skip
    errors = sum(failures.values())
    every = [t for ms in times.values() for t in ms]
    print("-" * len(head))
    print(f"{'all':<{width}}{total:>7}{total / window:>8.1f}{_pct(every, 50):>9.0f}"
          f"{_pct(every, 95):>9.0f}{_pct(every, 99):>9.0f}{errors:>8}")  # fmt: skip
    print(f"(+ {data.get('ramp_requests', 0)} requests while users were arriving and logging "
          "in: their errors are counted above, their times are not)")  # fmt: skip
    for name, sample in data.get("failure_samples", {}).items():
        print(f"  error sample, {name}: {sample}")

    print("\nwrites confirmed by the clients vs rows in the database:")
    for kind, (client, rows) in lost.items():
        print(f"  {kind:<22} confirmed {client:>5}   new rows {rows:>5}   "
              f"lost {max(0, client - rows)}")  # fmt: skip
    rejected = data.get("rejected", {})
    if rejected:
        print("  refused by the application (not writes): "
              + ", ".join(f"{k} {v}" for k, v in sorted(rejected.items())))  # fmt: skip

    matches_p95 = _pct(times.get(MATCHES, []), 95)
    if server_ms:
        print(f"{MATCHES} inside gunicorn (access log, warm-up included, no queueing): "
              f"p50 {_pct(server_ms, 50):.0f} ms, p95 {_pct(server_ms, 95):.0f} ms, "
              f"p99 {_pct(server_ms, 99):.0f} ms")  # fmt: skip
    lost_total = sum(max(0, c - r) for c, r in lost.values())
    checks = [
        ("errors", errors, "0", errors == 0),
        ("lost writes", lost_total, "0", lost_total == 0),
        (f"{MATCHES} p95 ms", f"{matches_p95:.0f}",
         f"<= {args.matches_target:.0f}", matches_p95 <= args.matches_target),
        ('"database is locked"', locked, "0", locked == 0),
    ]  # fmt: skip
    print(f"\n{'target':<34}{'measured':>10}  {'goal':<8} result")
    for name, value, goal, ok in checks:
        print(f"{name:<34}{value:>10}  {goal:<8} {'ok' if ok else 'MISSED'}")
    load = os.getloadavg()
    print(f"\n{args.users} users, {window:.0f} s measured, {args.database}; load average "
          f"{load[0]:.2f} {load[1]:.2f} (figures on a busy machine are preliminary)")  # fmt: skip
    return all(ok for *_x, ok in checks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("LOAD_PG_URL", DEFAULT_PG),
                    help="PostgreSQL database to DROP and recreate (default %(default)s)")  # fmt: skip
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--spawn-rate", type=float, default=10)
    ap.add_argument("--duration", type=_seconds, default=120, help="e.g. 120, 20s, 2m")
    ap.add_argument("--enterprises", type=int, default=150)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    ap.add_argument("--matches-target", type=float, default=150.0, help="p95 ms")
    ap.add_argument("--workdir", help="keep database file, logs and results here")
    ap.add_argument("--reuse", action="store_true",
                    help="skip preparation: reuse --workdir's database as it is (development)")  # fmt: skip
    ap.add_argument("--internal-setup", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.internal_setup:
        setup_fixture(args.internal_setup)
        return 0

    if args.database == "postgresql" and not _pg_reachable(args.pg_url):
        print(f"PostgreSQL is not reachable at {args.pg_url}: running on SQLite instead")
        args.database = "sqlite"
    work = Path(args.workdir or tempfile.mkdtemp(prefix="techfin-load-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    database_url = args.pg_url if args.database == "postgresql" else f"sqlite:///{work}/techfin.db"
    port = args.port or _free_port()
    secret = work / "secret"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(32))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(work / "instance"),
        "INDEX_DIR": str(work / "instance" / "index"),
        "MODEL_DIR": str(work / "instance" / "model"),
        "SECRET_KEY": secret.read_text(),
        "TECHFIN_ENV": "development",
        "FLASK_DEBUG": "0",
        "REDIS_URL": "",
        # 60+ users log in within seconds from one address: the limiter would refuse them.
        "LOGIN_RATE_LIMIT": "100000 per minute",
        "EXTERNAL_URL": f"http://127.0.0.1:{port}",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    print(f"== load test on {args.database}: {args.users} users, {args.duration} s "
          f"(work dir {work})")  # fmt: skip
    if args.reuse and (work / "fixture.json").exists():
        fixture = work / "fixture.json"
    else:
        fixture = prepare(args, env, work)
    (work / "gunicorn.log").unlink(missing_ok=True)
    before = _counts(database_url)
    with SmtpSink() as smtp:
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_SECURITY="none")
        server = start_gunicorn(env, port, work)
        try:
            warm_up(port, fixture)
            data = run_locust(
                args, {**env, "LOAD_FIXTURE": str(fixture), "LOAD_DURATION": str(args.duration),
                       "LOAD_RESULTS": str(work / "results.json")}, port, work,
            )  # fmt: skip
        finally:
            stop(server)
    after = _counts(database_url)
    writes = data.get("writes", {})
    lost = {
        "outcomes (interest+move)": (
            writes.get("interest", 0) + writes.get("move", 0),
            after["outcomes"] - before["outcomes"],
        ),
        "event registrations": (writes.get("event_register", 0),
                                after["event_register"] - before["event_register"]),
        "need edits (audit rows)": (writes.get("need_edit", 0),
                                    after["need_edit"] - before["need_edit"]),
    }  # fmt: skip
    log = (work / "gunicorn.log").read_text(errors="replace")
    locked = log.count("database is locked") + int(data.get("locked_responses", 0))
    access = (work / "access.log").read_text(errors="replace")
    server_ms = [
        float(m) for m in re.findall(r'"GET /needs/\d+/matches HTTP[^"]*" \d+ \S+ (\d+)ms', access)
    ]
    ok = report(args, data, lost, locked, server_ms)
    print(f"logs: {work}/gunicorn.log, {work}/access.log, {work}/locust.log")
    if not args.workdir and ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
