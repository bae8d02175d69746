"""Load test: 50 simulated users for 2 minutes against gunicorn with 2 workers (not a test).

    .venv/bin/python bench/load.py                              # PostgreSQL, 50 users, 2 min
    .venv/bin/python bench/load.py --database sqlite            # SQLite file (WAL)
    .venv/bin/python bench/load.py --users 10 --duration 20s    # a short run
    .venv/bin/python bench/load.py --no-worker                  # gunicorn only (as before #12)

It prepares a fresh database as `make run` does (migrations, demo data for 150 enterprises,
search index, model), adds one login per enterprise / institution and a few docking events,
starts gunicorn (2 workers, --preload) on a free 127.0.0.1 port with a local SMTP sink and
the task worker beside it (`flask --app wsgi worker`: on PostgreSQL its queue is Redis at
--redis-url under a queue name of this run's own, on SQLite the embedded SQLite queue), and
drives it headless with bench/locustfile.py: enterprise users (marketplace, search, matches
page, edit a need, register for an event, express interest), institution staff (dealflow,
a product's matches, move a pair along the pipeline), anonymous visitors, and the trivial
/ping beside them. Prints requests/s, p50/p95/p99 and errors per endpoint in one table,
compares the writes the clients saw confirmed with the rows in the database, counts
"database is locked", reports the dirty marks left when the load stopped and how long the
worker took to drain them, the gunicorn workers' PSS, and exits 1 when a target is missed.

PostgreSQL: the database in --pg-url is DROPPED and recreated (default techfin_load).
--reuse --workdir DIR skips the preparation and runs on DIR's database as it is (bench/scale.py
prepares a region-scale database once and runs the load on it through `run()`).
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/techfin_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
MATCHES = "GET /needs/[id]/matches"
# Every page that shows a ranking: a need's (live), the overview (stored counts) and the
# institution's dealflow (stored matches).
MATCHES_PAGES = (MATCHES, "GET /matches", "GET /dealflow/matches",
                 "GET /dealflow/matches?product_id=[id]")  # fmt: skip
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
        # Only enterprises with an open need, and no more than are handed out: at region
        # scale, loading every enterprise here took longer than the rest of the setup.
        with_needs = select(Need.enterprise_id).where(Need.status != "closed")
        first = (
            select(Enterprise)
            .where(Enterprise.id.in_(with_needs))
            .order_by(Enterprise.id)
            .limit(LOAD_ENTERPRISES)
        )
        for ent in db.session.execute(first).scalars():
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


def prepare(
    args: argparse.Namespace,
    env: dict[str, str],
    work: Path,
    timings: dict[str, float] | None = None,
) -> Path:
    """Fresh database, demo data, index, model, fixture; each step's seconds into `timings`."""
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
        step = " ".join(cmd[3:5] if cmd[0] != sys.executable else ["setup"])
        seconds = time.perf_counter() - t
        print(f"  {step:<28}{seconds:6.1f} s", flush=True)
        if timings is not None:
            timings[step] = seconds
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


def start_gunicorn(
    env: dict[str, str], port: int, work: Path, timeout: float = 120.0
) -> subprocess.Popen:
    """gunicorn (2 workers, --preload) answering /ping; `timeout` covers the master's
    warm-up (the matching snapshot: minutes at 100 000 enterprises on a busy machine)."""
    cmd = [str(BIN / "gunicorn"), "--workers", "2", "--preload", "--bind", f"127.0.0.1:{port}",
           "--access-logfile", str(work / "access.log"),
           "--access-logformat", '%(t)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s',
           "--error-logfile", str(work / "gunicorn.log"), "wsgi:app"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
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
    raise SystemExit(f"gunicorn did not answer /ping within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_worker(env: dict[str, str], work: Path, name: str = "worker") -> subprocess.Popen:
    """`flask --app wsgi worker` in its own process group (its log: WORK/NAME.log)."""
    log = (work / f"{name}.log").open("ab")
    try:
        return subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "worker"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()  # the child holds its own copy


def dirty_marks(database_url: str) -> int:
    """Dirty marks waiting (stored matches not yet recomputed)."""
    from sqlalchemy import create_engine, text

    from techfin.config import normalise_database_url

    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM dirty_marks")).scalar() or 0)
    finally:
        engine.dispose()


def wait_drained(
    database_url: str, timeout: float, worker: subprocess.Popen | None
) -> float | None:
    """Seconds until no dirty mark is left (None: not within `timeout`, or no worker)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if dirty_marks(database_url) == 0:
            return time.monotonic() - start
        if worker is None or worker.poll() is not None:
            return None
        time.sleep(0.5)
    return None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a gunicorn master's workers)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return sorted(out)


def pss_mib(pid: int) -> float | None:
    """Proportional set size: shared pages (the preloaded app) split among the processes
    that share them, so the workers' figures add up to what they really cost."""
    try:
        text_ = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    m = re.search(r"^Pss:\s+(\d+) kB", text_, re.M)
    return int(m.group(1)) / 1024 if m else None


def _role(cmdline: str) -> str:
    """Which part of the run a process is, by its command line."""
    if "gunicorn" in cmdline:
        return "web (gunicorn)"
    if "flask" in cmdline and " worker" in cmdline:
        return "task worker"
    if cmdline.startswith("postgres"):
        return "postgresql"
    if "redis-server" in cmdline:
        return "redis"
    if "locust" in cmdline:
        return "load generator (locust)"
    return "other"


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """Every process's role and CPU seconds so far (user + system, /proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out[int(proc.name)] = (_role(cmdline), (int(fields[11]) + int(fields[12])) / tick)
    return out


class CpuSampler:
    """Samples every process's CPU time each second in a thread, so the CPU used during
    the measured window (which starts once every user has logged in) can be told apart by
    role: a ratio between two sizes is only as fair as the share of the two cores the
    server gets, and the load generator and the task worker run on the same cores."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, dict[int, tuple[str, float]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), cpu_snapshot()))
            self._stop.wait(1.0)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), cpu_snapshot()))

    def shares(self, end: float, seconds: float) -> dict[str, float]:
        """Per role, the CPU used in the `seconds` before `end` (monotonic), as a percentage
        of one core (two busy cores: 200)."""
        if not self.samples or seconds <= 0:
            return {}
        start = end - seconds
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        inside = [s for s in self.samples if first[0] <= s[0] <= end + 0.5]
        if len(inside) < 2:
            return {}
        # A process's CPU as last seen in the window: locust itself exits right after the
        # window ends, often before the sample nearest to that moment.
        seen: dict[int, tuple[str, float]] = {}
        for _t, snap in inside:
            seen.update(snap)
        span = inside[-1][0] - first[0]
        used: dict[str, float] = {}
        for pid, (role, secs) in seen.items():
            before = first[1].get(pid)
            used[role] = used.get(role, 0.0) + secs - (before[1] if before else 0.0)
        return {role: round(100 * secs / span, 1) for role, secs in sorted(used.items())}


def queue_settings(args: argparse.Namespace, work: Path) -> dict[str, str]:
    """The task queue of this run: Redis under a name of its own (so it never collides with
    another user of that Redis), or the embedded SQLite queue in the work directory."""
    if args.database == "postgresql" and args.redis_url:
        return {"TASK_QUEUE_URL": args.redis_url,
                "TASK_QUEUE_NAME": f"techfin-bench-{os.getpid()}-{secrets.token_hex(4)}"}  # fmt: skip
    return {"TASK_QUEUE_URL": f"sqlite:///{work / 'instance' / 'tasks.db'}",
            "TASK_QUEUE_NAME": "techfin-bench"}  # fmt: skip


def forget_queue(env: dict[str, str]) -> None:
    """Remove this run's keys from Redis (only its own queue name: never a FLUSHDB)."""
    url = env.get("TASK_QUEUE_URL", "")
    if not url.startswith("redis://"):
        return
    from huey.storage import RedisStorage

    with contextlib.suppress(Exception):
        RedisStorage(name=env["TASK_QUEUE_NAME"], url=url).flush_all()


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False


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
    worker: dict[str, Any] | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Print the table and the targets; return (all met, the figures for bench/scale.py)."""
    times: dict[str, list[float]] = data["times"]
    failures: dict[str, int] = data["failures"]
    window = data.get("window") or args.duration  # seconds measured after the ramp-up
    width = max(len(k) for k in times) + 2 if times else 20
    head = f"{'endpoint':<{width}}{'reqs':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}" \
           f"{'p99 ms':>9}{'errors':>8}"  # fmt: skip
    print("\n" + head)
    print("-" * len(head))
    total = 0
    endpoints: dict[str, dict[str, float]] = {}
    order = sorted(set(times) | set(failures), key=lambda k: (k != TRIVIAL, k.split(" ", 1)[1], k))
    for name in order:
        ms = times.get(name, [])
        total += len(ms)
        label = name + (" (trivial)" if name == TRIVIAL else "")
        endpoints[name] = {"reqs": len(ms), "p50": _pct(ms, 50), "p95": _pct(ms, 95),
                           "p99": _pct(ms, 99), "errors": failures.get(name, 0)}  # fmt: skip
        print(f"{label:<{width}}{len(ms):>7}{len(ms) / window:>8.1f}"
              f"{_pct(ms, 50):>9.0f}{_pct(ms, 95):>9.0f}{_pct(ms, 99):>9.0f}"
              f"{failures.get(name, 0):>8}")  # fmt: skip
    errors = sum(failures.values())
    every = [t for ms in times.values() for t in ms]
    # Every confirmed-or-refused form POST is a write attempt (its redirect target is a GET).
    writes_ms = [t for name, ms in times.items() if name.startswith("POST ") for t in ms
                 if name != "POST /auth/login"]  # fmt: skip
    pages_ms = [t for name in MATCHES_PAGES for t in times.get(name, [])]
    print("-" * len(head))
    print(f"{'all':<{width}}{total:>7}{total / window:>8.1f}{_pct(every, 50):>9.0f}"
          f"{_pct(every, 95):>9.0f}{_pct(every, 99):>9.0f}{errors:>8}")  # fmt: skip
    for label, ms in (("writes (every POST but login)", writes_ms),
                      ("matches pages (need, overview, dealflow)", pages_ms)):  # fmt: skip
        print(f"{label:<{width}}{len(ms):>7}{len(ms) / window:>8.1f}{_pct(ms, 50):>9.0f}"
              f"{_pct(ms, 95):>9.0f}{_pct(ms, 99):>9.0f}")  # fmt: skip
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
    if worker is not None:
        pss = worker.get("pss_mib") or {}
        print("gunicorn PSS after the load: " + ", ".join(
            f"{role} {pid} {mib:.0f} MiB" for role, pid, mib in pss.get("processes", [])))  # fmt: skip
        if worker.get("enabled"):
            drain = worker.get("drain_s")
            print(f"task worker ({worker['queue']}): {worker['marks_at_stop']} dirty mark(s) "
                  f"left when the load stopped; "
                  + (f"drained {drain:.1f} s later" if drain is not None else
                     f"NOT drained within {args.drain_timeout:.0f} s "
                     f"({worker.get('marks_after')} left)"))  # fmt: skip
    if worker is not None and worker.get("cpu_percent"):
        print("CPU in the measured window, % of one core (2 cores: 200): " + ", ".join(
            f"{role} {pct:.0f}" for role, pct in worker["cpu_percent"].items()))  # fmt: skip
    lost_total = sum(max(0, c - r) for c, r in lost.values())
    checks = [
        ("errors", errors, "0", errors == 0),
        ("lost writes", lost_total, "0", lost_total == 0),
        (f"{MATCHES} p95 ms", f"{matches_p95:.0f}",
         f"<= {args.matches_target:.0f}", matches_p95 <= args.matches_target),
        ('"database is locked"', locked, "0", locked == 0),
    ]  # fmt: skip
    if worker is not None and worker.get("enabled"):
        drained = worker.get("drain_s") is not None
        checks.append(("dirty marks drained after the load", "yes" if drained else "no",
                       f"<= {args.drain_timeout:.0f}s", drained))  # fmt: skip
    print(f"\n{'target':<34}{'measured':>10}  {'goal':<8} result")
    for name, value, goal, ok in checks:
        print(f"{name:<34}{value:>10}  {goal:<8} {'ok' if ok else 'MISSED'}")
    load = os.getloadavg()
    print(f"\n{args.users} users, {window:.0f} s measured, {args.database}; load average "
          f"{load[0]:.2f} {load[1]:.2f} (figures on a busy machine are preliminary)")  # fmt: skip
    summary = {
        "window_s": window, "requests": total, "errors": errors, "lost_writes": lost_total,
        "locked": locked, "endpoints": endpoints,
        "writes": {"reqs": len(writes_ms), "p50": _pct(writes_ms, 50),
                   "p95": _pct(writes_ms, 95), "p99": _pct(writes_ms, 99)},
        "matches_pages": {"reqs": len(pages_ms), "p50": _pct(pages_ms, 50),
                          "p95": _pct(pages_ms, 95), "p99": _pct(pages_ms, 99)},
        "need_matches_p95": matches_p95, "loadavg": list(load), "worker": worker or {},
    }  # fmt: skip
    return all(ok for *_x, ok in checks), summary


def build_parser() -> argparse.ArgumentParser:
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
    ap.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                    help="run the task worker (`flask worker`) beside gunicorn (default on)")  # fmt: skip
    ap.add_argument("--redis-url", default=os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS),
                    help="the task queue's Redis on PostgreSQL runs (default %(default)s; "
                         "'' for the embedded SQLite queue); this run's queue has a name "
                         "of its own")  # fmt: skip
    ap.add_argument("--drain-timeout", type=_seconds, default=600,
                    help="how long to wait for the worker to drain the dirty marks after the load")  # fmt: skip
    ap.add_argument("--workdir", help="keep database file, logs and results here")
    ap.add_argument("--reuse", action="store_true",
                    help="skip preparation: reuse --workdir's database as it is "
                         "(needs its fixture.json; bench/scale.py prepares one this way)")  # fmt: skip
    ap.add_argument("--internal-setup", help=argparse.SUPPRESS)
    return ap


def make_env(args: argparse.Namespace, work: Path, database_url: str, port: int) -> dict[str, str]:
    """The environment of every process of the run: gunicorn, the worker, the CLI steps."""
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
        # The code of this checkout, whatever is installed in the venv.
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        ),
        # The worker's scheduler keeps only the minute sweep: a digest run, a retraining,
        # the hourly index check or the ten-minute dashboard falling inside the measured
        # window would measure that job (the dashboard alone: ~29 s of the worker and of
        # PostgreSQL at 100 000 enterprises; a window with it: matches pages p95 127 ms).
        "SCHEDULE_DIGESTS_DAILY": "",
        "SCHEDULE_DIGESTS_WEEKLY": "",
        "SCHEDULE_RETRAIN": "",
        "SCHEDULE_SEARCH_CHECK": "",
        "SCHEDULE_DASHBOARD": "",
        "SCHEDULE_APPLICATION_DEADLINES": "",
    }
    env.update(queue_settings(args, work))
    return env


@dataclass
class LoadContext:
    """What a hook running beside the load (bench/scale.py's probes) needs to know."""

    args: argparse.Namespace
    work: Path
    env: dict[str, str]
    database_url: str
    port: int
    fixture: Path
    server: subprocess.Popen


During = Callable[[LoadContext], AbstractContextManager[Any]]


@contextlib.contextmanager
def _nothing(_ctx: LoadContext) -> Iterator[None]:
    yield


def resolve(args: argparse.Namespace) -> tuple[Path, str]:
    """The work directory and database URL of a run (falls back to SQLite without PG)."""
    if args.database == "postgresql" and not _pg_reachable(args.pg_url):
        print(f"PostgreSQL is not reachable at {args.pg_url}: running on SQLite instead")
        args.database = "sqlite"
    if args.database == "postgresql" and args.worker and args.redis_url \
            and not _redis_reachable(args.redis_url):  # fmt: skip
        print(f"Redis is not reachable at {args.redis_url}: the worker uses the SQLite queue")
        args.redis_url = ""
    work = Path(args.workdir or tempfile.mkdtemp(prefix="techfin-load-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    database_url = args.pg_url if args.database == "postgresql" else f"sqlite:///{work}/techfin.db"
    return work, database_url


def run(args: argparse.Namespace, during: During | None = None) -> tuple[bool, dict[str, Any]]:
    """The whole load test; `during` wraps the measured load (bench/scale.py's probes)."""
    work, database_url = resolve(args)
    port = args.port or _free_port()
    env = make_env(args, work, database_url, port)
    print(f"== load test on {args.database}: {args.users} users, {args.duration} s, task worker "
          f"{'on (' + env['TASK_QUEUE_URL'].split('@')[-1] + ')' if args.worker else 'off'} "
          f"(work dir {work})", flush=True)  # fmt: skip
    if args.reuse and (work / "fixture.json").exists():
        fixture = work / "fixture.json"
    else:
        if args.reuse:
            print("  --reuse: no fixture.json in the work dir, preparing a fresh database")
        fixture = prepare(args, env, work)
    for name in ("gunicorn.log", "access.log", "worker.log"):
        (work / name).unlink(missing_ok=True)
    before = _counts(database_url)
    worker_info: dict[str, Any] = {"enabled": bool(args.worker),
                                   "queue": env["TASK_QUEUE_URL"].split("@")[-1]
                                   + f" queue {env['TASK_QUEUE_NAME']}"}  # fmt: skip
    # The worker sends the notices the load's writes queue (an interest, a pipeline step):
    # it gets the mail sink too, or each of its mail tasks fails and retries in the window.
    with SmtpSink() as smtp:
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_SECURITY="none")
        task_worker = start_worker(env, work) if args.worker else None
        try:
            server = start_gunicorn(env, port, work)
            try:
                warm_up(port, fixture)
                ctx = LoadContext(args, work, env, database_url, port, fixture, server)
                with CpuSampler() as cpu, (during or _nothing)(ctx):
                    data = run_locust(
                        args, {**env, "LOAD_FIXTURE": str(fixture),
                               "LOAD_DURATION": str(args.duration),
                               "LOAD_RESULTS": str(work / "results.json")}, port, work,
                    )  # fmt: skip
                stopped = time.monotonic()
                # The window ends when locust quits and writes its results (before it exits).
                ended = stopped - max(0.0, time.time() - (work / "results.json").stat().st_mtime)
                worker_info["cpu_percent"] = cpu.shares(ended, data.get("window") or 0)
                worker_info["marks_at_stop"] = dirty_marks(database_url)
                # Measured while the workers are still warm from the load, before they stop.
                procs = [("master", server.pid)] + [("worker", p) for p in children(server.pid)]
                worker_info["pss_mib"] = {
                    "processes": [(role, pid, pss_mib(pid) or 0.0) for role, pid in procs],
                    "workers_max": max((pss_mib(p) or 0.0 for r, p in procs if r == "worker"),
                                       default=0.0),
                }  # fmt: skip
            finally:
                stop(server)
            if task_worker is not None:
                # Counted from the moment locust stopped (PSS and gunicorn's stop included).
                waited = time.monotonic() - stopped
                drained = wait_drained(database_url, max(1.0, args.drain_timeout - waited),
                                       task_worker)  # fmt: skip
                worker_info["drain_s"] = (
                    0.0 if worker_info["marks_at_stop"] == 0 else None if drained is None
                    else waited + drained
                )  # fmt: skip
                worker_info["marks_after"] = dirty_marks(database_url)
                if task_worker.poll() is not None:
                    worker_info["exited"] = task_worker.returncode
        finally:
            if task_worker is not None:
                stop(task_worker)
            forget_queue(env)
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
    ok, summary = report(args, data, lost, locked, server_ms, worker_info)
    print(f"logs: {work}/gunicorn.log, {work}/access.log, {work}/locust.log"
          + (f", {work}/worker.log" if args.worker else ""))  # fmt: skip
    summary["ok"] = ok
    summary["work"] = str(work)
    return ok, summary


def main() -> int:
    args = build_parser().parse_args()
    if args.internal_setup:
        setup_fixture(args.internal_setup)
        return 0
    ok, summary = run(args)
    if not args.workdir and ok:
        shutil.rmtree(summary["work"], ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
