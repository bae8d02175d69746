"""Region scale (issue #12): the 50-user load at 100 000 enterprises beside 150 (not a test).

    .venv/bin/python bench/scale.py                                   # 100 000 vs 150, ~1.5 h
    .venv/bin/python bench/scale.py --enterprises 3000 --duration 30s # a short run
    .venv/bin/python bench/scale.py --skip-drill --skip-two-nodes     # the load only

One run, two PostgreSQL databases (techfin_scale_small and techfin_scale_large, DROPPED and
recreated; nothing else is touched), one Redis (a queue name of the run's own). For each size:

1. preparation, each step timed: migrations, `flask demo-data`, `flask search reindex`,
   `flask matching train`, the load's logins, then `flask matching refresh` (every stored
   match, in one process). The dirty marks written before that refresh (the import's and
   the new model's "everything") are then deleted: the refresh has just recomputed what
   they name, and a worker would otherwise recompute it all again during the load.
2. bench/load.py's mixed load (50 users, reads and writes, gunicorn with 2 workers and
   `flask worker` beside it) with a freshness probe beside it: every few seconds it changes
   one need's purpose (a unique token) and amount through the JSON API, then measures from
   the answer (the write is committed) until (a) the search API finds the token, (b) the
   need's stored matches are recomputed (its dirty mark is gone and Match.last_seen_at is
   after the write, read in the database) and (c) the need's matches page shows the new
   amount and a changed ranking. Then the gunicorn workers' PSS (/proc/PID/smaps_rollup).

At the large size only:

3. two web nodes: a second gunicorn on another port with its own INDEX_DIR (a copy of the
   first node's index, then following the outbox), one database, one Redis, one worker;
   writes through one node are timed until the other node's search and page show them.
4. the kill drill: `flask matching refresh --queue`, a worker killed with SIGKILL --kills
   times at random moments of the recompute (each time shortly after it started a chunk),
   one more worker until no dirty mark is left, the stored matches dumped, `flask matching
   refresh`, dumped again: both dumps must be equal.

Prints one table (target / measured / 150-enterprise baseline / ok) and exits 1 when a
target is missed or could not be measured. --deadline HH:MM (UTC) skips the stages that
would start after it (they are then reported as not measured). Figures go to
WORKDIR/scale.json as they are measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import load as loadtest  # noqa: E402 - bench/load.py, found through the path above

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASES = {"small": "techfin_scale_small", "large": "techfin_scale_large"}
P95_MS = 150.0  # writes and matches pages, at the large size
RATIO = 1.5  # … and at most this many times the small size's figure
FRESH_S = 5.0  # a committed write → changed ranking on the page, in search, in stored matches
PSS_MIB = 300.0
REFRESH_S = 180.0  # a full `flask matching refresh` at 100 000 enterprises
PROBE_TIMEOUT = 60.0  # a probe not seen after this long counts as this long (and missed)


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _pct(values: list[float], q: float) -> float:
    return loadtest._pct(values, q)


def _now() -> datetime:
    """Naive UTC, as the application stores its timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


# ------------------------------------------------------------------ one size


@dataclass
class Size:
    label: str
    enterprises: int
    args: argparse.Namespace
    work: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def probe_file(self) -> Path:
        return self.work / "probe.json"


def make_size(label: str, enterprises: int, opts: argparse.Namespace) -> Size:
    work = Path(opts.workdir) / label
    work.mkdir(parents=True, exist_ok=True)
    database_url = f"{PG_SERVER}/{DATABASES[label]}"
    args = loadtest.build_parser().parse_args([
        "--pg-url", database_url, "--enterprises", str(enterprises),
        "--users", str(opts.users), "--duration", str(opts.duration),
        "--workdir", str(work), "--redis-url", opts.redis_url, "--reuse",
    ])  # fmt: skip
    size = Size(label, enterprises, args, work, database_url)
    size.env = loadtest.make_env(args, work, database_url, 0)
    return size


def sql(database_url: str, query: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


class PastDeadline(Exception):
    """A step was stopped at --deadline; the stages after it are not run."""


DEADLINE: list[float] = []  # the --deadline as a Unix time, when given


def flask(size: Size, *args: str, log: str) -> float:
    """`flask --app wsgi ARGS` in this size's environment; seconds taken (fails loudly).
    Stopped (SIGKILL to its process group) at --deadline: PastDeadline."""
    start = time.perf_counter()
    with (size.work / log).open("w") as out:
        proc = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT,
                                env=size.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            proc.wait(timeout=max(1.0, DEADLINE[0] - time.time()) if DEADLINE else None)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            size.figures.setdefault("stopped", {})[log] = time.perf_counter() - start
            raise PastDeadline(
                f"flask {' '.join(args)} stopped at the deadline after "
                f"{time.perf_counter() - start:.0f} s"
            ) from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed; see {size.work / log}")
    return seconds


def refresh_progress(size: Size, since: datetime) -> tuple[int, int]:
    """How far a stopped `flask matching refresh` got: it walks the needs in id order."""
    done, total = sql(size.database_url, "SELECT (SELECT count(*) FROM needs WHERE id <= "
                      "(SELECT coalesce(max(need_id), 0) FROM matches WHERE last_seen_at >= %s)),"
                      " (SELECT count(*) FROM needs)", (since,))[0]  # fmt: skip
    return int(done), int(total)


def refresh_and_settle(size: Size) -> None:
    """Timed full refresh; then the marks it has made obsolete are deleted (see the doc)."""
    before = sql(size.database_url, "SELECT coalesce(max(id), 0), count(*) FROM dirty_marks")[0]
    since, start = _now(), time.perf_counter()
    try:
        seconds = flask(size, "matching", "refresh", log="refresh.log")
    except PastDeadline:
        elapsed = time.perf_counter() - start
        done, total = refresh_progress(size, since)
        size.figures["refresh_partial"] = {"seconds": elapsed, "needs_done": done,
                                           "needs": total}  # fmt: skip
        say(f"  matching refresh stopped at the deadline after {elapsed:.0f} s: {done} of "
            f"{total} needs"
            + (f" (at that rate {elapsed * total / done:.0f} s in all)" if done else ""))  # fmt: skip
        raise
    size.timings["matching refresh"] = seconds
    say(f"  {'matching refresh':<28}{seconds:6.1f} s")
    # Only marks written before the refresh started: the refresh read every need after
    # their transactions had committed, so what they name is up to date now.
    sql(size.database_url, "DELETE FROM dirty_marks WHERE id <= %s", (before[0],))
    left = sql(size.database_url, "SELECT count(*) FROM dirty_marks")[0][0]
    say(f"  {before[1]} dirty mark(s) from the preparation settled by the refresh; {left} left")


def prepare(size: Size) -> None:
    """bench/load.py's preparation, step by step and timed, the refresh before the index
    (with --deadline, the figure with a target comes first)."""
    say(f"== prepare {size.label}: {size.enterprises} enterprises in {size.database_url}")
    loadtest._reset_postgres(size.database_url)
    shutil.rmtree(size.work / "instance", ignore_errors=True)
    (size.work / "fixture.json").unlink(missing_ok=True)
    size.probe_file.unlink(missing_ok=True)
    try:
        for step, args in (
            ("db upgrade", ["db", "upgrade"]),
            ("demo-data", ["demo-data", "--enterprises", str(size.enterprises),
                           "--seed", str(size.args.seed)]),
            ("matching train", ["matching", "train"]),
        ):  # fmt: skip
            size.timings[step] = flask(size, *args, log=step.replace(" ", "-") + ".log")
            say(f"  {step:<28}{size.timings[step]:6.1f} s")
        start = time.perf_counter()
        fixture = size.work / "fixture.json"
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "load.py"), "--internal-setup", str(fixture)],
            cwd=ROOT, env=size.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise SystemExit("the load's setup failed")
        size.timings["load logins"] = time.perf_counter() - start
        say(f"  {'load logins':<28}{size.timings['load logins']:6.1f} s")
        refresh_and_settle(size)
        size.timings["search reindex"] = flask(size, "search", "reindex", log="reindex.log")
        say(f"  {'search reindex':<28}{size.timings['search reindex']:6.1f} s")
        # As autovacuum would have on a production server by the time the load comes (this
        # machine's PostgreSQL runs without it): planner statistics, the visibility map and
        # the hint bits of the rows the preparation just wrote, instead of the load's first
        # reads setting them page by page. bench/applications.py does the same.
        start = time.perf_counter()
        sql(size.database_url, "VACUUM ANALYZE")
        size.timings["vacuum analyze"] = time.perf_counter() - start
        say(f"  {'vacuum analyze':<28}{size.timings['vacuum analyze']:6.1f} s")
    finally:
        # The steps' wake-ups went to a queue no worker reads: only the dirty marks count.
        loadtest.forget_queue(size.env)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--internal-probe-setup", str(size.probe_file)],
        cwd=ROOT, env=size.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit("probe setup failed")
    say(f"  {'probe setup':<28}{time.perf_counter() - start:6.1f} s")
    counts = sql(size.database_url, "SELECT (SELECT count(*) FROM enterprises), "
                 "(SELECT count(*) FROM needs), (SELECT count(*) FROM patents), "
                 "(SELECT count(*) FROM products), (SELECT count(*) FROM outcomes), "
                 "(SELECT count(*) FROM matches)")[0]  # fmt: skip
    size.figures["rows"] = dict(zip(("enterprises", "needs", "patents", "products", "outcomes",
                                     "matches"), counts, strict=True))  # fmt: skip
    say(f"  rows: {size.figures['rows']}")


def setup_probe(path: str) -> None:
    """Inside the prepared instance: a login and an API token for one enterprise (not one
    of the load's) and its published needs that have stored matches."""
    from sqlalchemy import func, select

    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import Enterprise, Match, Need
    from techfin.services import accounts
    from techfin.services.demo import DEMO_PASSWORD

    loaded = {e["email"] for e in json.loads(
        (Path(path).parent / "fixture.json").read_text(encoding="utf-8"))["enterprises"]}  # fmt: skip
    app = create_app()
    with app.app_context():
        rows = db.session.execute(
            select(Need.id, Need.enterprise_id, Need.amount_cny)
            .join(Match, Match.need_id == Need.id)
            .where(Need.status == "published", Match.active.is_(True), Match.eligible.is_(True))
            .group_by(Need.id, Need.enterprise_id, Need.amount_cny)
            .having(func.count(Match.id) >= 3)
            .order_by(Need.id.desc())
            .limit(200)
        ).all()  # fmt: skip
        for need_id, enterprise_id, amount in rows:
            ent = db.session.get(Enterprise, enterprise_id)
            email = f"probe-{ent.ref.lower()}@scale.techfin.cn"
            if f"load-{ent.ref.lower()}@load.techfin.cn" in loaded or not amount:
                continue
            user = accounts.find_user(email) or accounts.create_user(
                email, DEMO_PASSWORD, "enterprise", organization=ent, org_role="owner"
            )
            db.session.commit()
            token = accounts.create_api_token(user, "scale probe")
            probe = {"email": email, "password": DEMO_PASSWORD, "token": token,
                     "enterprise_id": enterprise_id, "need_id": need_id, "amount": amount}  # fmt: skip
            Path(path).write_text(json.dumps(probe), encoding="utf-8")
            return
    raise SystemExit("no published need with stored matches to probe")


# ------------------------------------------------------------------ freshness probe


CSRF_VALUE = re.compile(
    r'(name="csrf_token"[^>]*value=")[^"]*|(value=")[^"]*("[^>]*name="csrf_token")'
)


def _page_parts(html: str) -> tuple[str, str]:
    """(the header line with the need's amount, the ranking below it, tokens blanked)."""
    head = re.search(r'<p class="text-muted">(.*?)</p>', html, re.S)
    start = html.find('<h2 class="h5">')
    body = CSRF_VALUE.sub(lambda m: (m.group(1) or m.group(2)) + (m.group(3) or ""), html[start:])
    return (head.group(1) if head else ""), body


class Probe:
    """Writes through `write_base`; watches search and the page through `read_base`."""

    def __init__(self, info: dict[str, Any], database_url: str, write_base: str,
                 read_base: str, interval: float = 4.0) -> None:  # fmt: skip
        import requests

        self.info, self.database_url = info, database_url
        self.write_base, self.read_base, self.interval = write_base, read_base, interval
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {info['token']}"
        self.search = requests.Session()
        self.search.headers["Authorization"] = f"Bearer {info['token']}"
        self.page = loadtest._session(read_base, info["email"], info["password"])
        self.samples: list[dict[str, float | None]] = []
        self.errors: list[str] = []
        self.amounts = (int(info["amount"]), int(info["amount"]) * 3)
        self.current = self.amounts[0]
        self.ranking_moves = True
        self.warmup_s: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one write and its three observations

    def _write(self, amount: int, token: str) -> bool:
        r = self.api.patch(
            f"{self.write_base}/api/v1/needs/{self.info['need_id']}",
            json={"purpose": f"{token} 扩大研发与生产的资金需求", "amount_cny": amount},
            timeout=60,
        )
        if r.status_code != 200:
            self.errors.append(f"PATCH {r.status_code}: {r.text[:200]}")
            return False
        return True

    def _page(self) -> tuple[str, str]:
        r = self.page.get(f"{self.read_base}/needs/{self.info['need_id']}/matches", timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"matches page {r.status_code}")
        return _page_parts(r.text)

    def calibrate(self) -> None:
        """Whether the two amounts rank differently (else the page check is the amount);
        then waits for the task worker's first recompute, which loads the matching library
        and builds its catalogue (a cold worker's warm-up, not the steady state)."""
        pages = []
        for amount in self.amounts:
            written_at = _now()
            if self._write(amount, f"calib{secrets.token_hex(4)}"):
                self.current = amount
            pages.append(self._page()[1])
        self.ranking_moves = pages[0] != pages[1]
        t0 = time.monotonic()
        self.warmup_s = self._seen_stored(written_at, t0 + 600, t0)

    def _seen_in_search(self, token: str, deadline: float, t0: float) -> float | None:
        need_id = self.info["need_id"]
        while time.monotonic() < deadline and not self._stop.is_set():
            with contextlib.suppress(Exception):
                r = self.search.get(f"{self.read_base}/api/v1/search",
                                    params={"q": token, "type": "need"}, timeout=30)  # fmt: skip
                if r.status_code == 200 and any(
                    i["type"] == "need" and i["id"] == need_id for i in r.json()["items"]
                ):
                    return time.monotonic() - t0
            time.sleep(0.1)
        return None

    def _seen_stored(self, written_at: datetime, deadline: float, t0: float) -> float | None:
        import psycopg

        need_id, ent_id = self.info["need_id"], self.info["enterprise_id"]
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline and not self._stop.is_set():
                pending, seen = conn.execute(
                    "SELECT (SELECT count(*) FROM dirty_marks WHERE (kind = 'need' AND "
                    "object_id = %s) OR (kind = 'enterprise' AND object_id = %s) OR kind IN "
                    "('everything', 'product')), (SELECT max(last_seen_at) FROM matches "
                    "WHERE need_id = %s)", (need_id, ent_id, need_id),
                ).fetchone()  # fmt: skip
                # The mark written with the change is gone (a worker claimed it after the
                # commit and recomputed) and the rows were rewritten after the write began.
                if pending == 0 and seen is not None and seen >= written_at:
                    return time.monotonic() - t0
                time.sleep(0.1)
        return None

    def _seen_on_page(self, before: tuple[str, str], deadline: float, t0: float) -> float | None:
        while time.monotonic() < deadline and not self._stop.is_set():
            with contextlib.suppress(Exception):
                head, body = self._page()
                if head != before[0] and (body != before[1] or not self.ranking_moves):
                    return time.monotonic() - t0
            time.sleep(0.1)
        return None

    def one(self) -> dict[str, float | None] | None:
        # The other amount each time, so the page's header always changes with the write.
        amount = self.amounts[1] if self.current == self.amounts[0] else self.amounts[0]
        token = f"probe{secrets.token_hex(5)}"
        try:
            before = self._page()
        except Exception as exc:  # noqa: BLE001 - counted, the probe goes on
            self.errors.append(f"page before the write: {exc}")
            return None
        written_at = _now()
        if not self._write(amount, token):
            return None
        t0 = time.monotonic()
        self.current = amount
        deadline = t0 + PROBE_TIMEOUT
        with ThreadPoolExecutor(3) as pool:
            search = pool.submit(self._seen_in_search, token, deadline, t0)
            stored = pool.submit(self._seen_stored, written_at, deadline, t0)
            page = pool.submit(self._seen_on_page, before, deadline, t0)
            sample = {"search": search.result(), "stored": stored.result(), "page": page.result()}
        self.samples.append(sample)
        return sample

    # -- a thread beside the load

    def _loop(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                self.one()
            except Exception as exc:  # noqa: BLE001 - counted, the probe goes on
                self.errors.append(repr(exc)[:300])
            self._stop.wait(max(0.5, self.interval - (time.monotonic() - start)))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(PROBE_TIMEOUT + 30)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"probes": len(self.samples), "errors": self.errors[:5],
                               "error_count": len(self.errors),
                               "ranking_moves": self.ranking_moves,
                               "worker_warmup_s": self.warmup_s}  # fmt: skip
        for what in ("search", "stored", "page"):
            seen = [s[what] for s in self.samples if s[what] is not None]
            missed = sum(1 for s in self.samples if s[what] is None)
            # A probe never seen counts as the timeout: the percentiles cannot hide it.
            values = seen + [PROBE_TIMEOUT] * missed
            out[what] = {"p50": _pct(values, 50), "p95": _pct(values, 95),
                         "max": max(values, default=float("nan")), "missed": missed}  # fmt: skip
        return out


def print_probe(title: str, summary: dict[str, Any]) -> None:
    warm = summary.get("worker_warmup_s")
    say(f"  {title}: {summary['probes']} probes, {summary['error_count']} errors"
        + ("" if summary["ranking_moves"] else " (the two amounts rank alike: page = amount)")
        + (f"; before them, the worker's first recompute (warm-up) {warm:.1f} s"
           if warm is not None else "; the worker's first recompute was not seen"))  # fmt: skip
    for what in ("search", "stored", "page"):
        f = summary[what]
        say(f"    {what:<7} p50 {f['p50']:.2f} s  p95 {f['p95']:.2f} s  max {f['max']:.2f} s"
            f"  not seen {f['missed']}")  # fmt: skip
    for err in summary["errors"]:
        say(f"    error: {err}")


# ------------------------------------------------------------------ the load


def run_load(size: Size, opts: argparse.Namespace) -> None:
    info = json.loads(size.probe_file.read_text(encoding="utf-8"))
    probes: list[Probe] = []

    @contextlib.contextmanager
    def during(ctx: loadtest.LoadContext) -> Iterator[None]:
        base = f"http://127.0.0.1:{ctx.port}"
        probe = Probe(info, size.database_url, base, base, interval=opts.probe_interval)
        probe.calibrate()
        probes.append(probe)
        probe.start()
        try:
            yield
        finally:
            probe.stop()

    say(f"== load at {size.label} ({size.enterprises} enterprises)")
    ok, summary = loadtest.run(size.args, during)
    size.figures["load"] = summary
    size.figures["load_ok"] = ok
    if probes:
        size.figures["fresh"] = probes[0].summary()
        print_probe("freshness under load", size.figures["fresh"])


# ------------------------------------------------------------------ two web nodes


def two_nodes(size: Size, opts: argparse.Namespace) -> None:
    say("== two web nodes")
    info = json.loads(size.probe_file.read_text(encoding="utf-8"))
    index_a = Path(size.env["INDEX_DIR"])
    index_b = size.work / "index-b"
    shutil.rmtree(index_b, ignore_errors=True)
    # Node B's own index: a copy taken while no process writes node A's (derived data; it
    # then follows the outbox like any node's).
    shutil.copytree(index_a, index_b)
    env_a = dict(size.env)
    env_b = {**size.env, "INDEX_DIR": str(index_b)}
    env_a.update(loadtest.queue_settings(size.args, size.work))
    env_b.update({k: env_a[k] for k in ("TASK_QUEUE_URL", "TASK_QUEUE_NAME")})
    procs: list[subprocess.Popen] = []
    try:
        worker = loadtest.start_worker(env_a, size.work, "two-nodes-worker")
        procs.append(worker)
        nodes = {}
        for name, env in (("a", env_a), ("b", env_b)):
            work = size.work / f"node-{name}"
            work.mkdir(exist_ok=True)
            port = loadtest._free_port()
            procs.append(loadtest.start_gunicorn({**env, "EXTERNAL_URL": f"http://127.0.0.1:{port}"},
                                                 port, work))  # fmt: skip
            nodes[name] = f"http://127.0.0.1:{port}"
        results = {}
        for src, dst in (("a", "b"), ("b", "a")):
            probe = Probe(info, size.database_url, nodes[src], nodes[dst], interval=0)
            probe.calibrate()
            for _ in range(opts.two_node_writes):
                probe.one()
            results[f"{src}->{dst}"] = probe.summary()
            print_probe(f"write through node {src.upper()}, read through {dst.upper()}",
                        results[f"{src}->{dst}"])  # fmt: skip
        size.figures["two_nodes"] = results
    finally:
        for proc in reversed(procs):
            loadtest.stop(proc)
        loadtest.forget_queue(env_a)


# ------------------------------------------------------------------ kill drill


DUMP = ("SELECT need_id, product_id, funder_id, round(score::numeric, 9) AS score, rank, "
        "eligible, active FROM matches")  # fmt: skip


def drill(size: Size, opts: argparse.Namespace, deadline: float | None) -> None:
    say(f"== kill drill: {opts.kills} × SIGKILL of the task worker during a full recompute")
    env = {**size.env, **loadtest.queue_settings(size.args, size.work)}
    log = size.work / "drill-worker.log"
    log.unlink(missing_ok=True)
    sql(size.database_url, "DROP TABLE IF EXISTS scale_drill_a, scale_drill_b")
    size.env, saved = env, size.env
    try:
        flask(size, "matching", "refresh", "--queue", log="refresh-queue.log")
    finally:
        size.env = saved
    rng = random.Random(opts.seed)
    start = time.monotonic()
    kills = 0
    worker = None
    try:
        while kills < opts.kills:
            if deadline is not None and time.time() > deadline:
                say("  past the deadline: no more kills")
                break
            offset = log.stat().st_size if log.exists() else 0
            marks = sql(size.database_url, "SELECT count(*) FROM dirty_marks")[0][0]
            worker = loadtest.start_worker(env, size.work, "drill-worker")
            # The first kill lands a random moment after the first task began (inside the
            # expansion of "everything" into one mark per need, or just after); the others
            # a random moment after the worker committed its first chunk (it warms up
            # first), so they land inside the recompute's transactions, not its start-up.
            began = time.monotonic()
            while time.monotonic() - began < 300 and worker.poll() is None:
                if kills == 0:
                    with log.open("rb") as fh:
                        fh.seek(offset)
                        if b"Executing techfin.tasks.jobs.refresh_matches" in fh.read():
                            break
                elif sql(size.database_url, "SELECT count(*) FROM dirty_marks")[0][0] != marks:
                    break
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, opts.kill_spread if kills else 1.0))
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                kills += 1
            left = sql(size.database_url, "SELECT count(*) FROM dirty_marks")[0][0]
            say(f"  kill {kills}: {left} dirty mark(s) left")
            if left == 0:
                say("  the recompute finished before all kills: stopping the kills here")
                break
        worker = loadtest.start_worker(env, size.work, "drill-worker")
        timeout = (deadline - time.time()) if deadline else 7200.0
        drained = loadtest.wait_drained(size.database_url, max(1.0, timeout), worker)
    finally:
        if worker is not None:
            loadtest.stop(worker)
        loadtest.forget_queue(env)
    figures: dict[str, Any] = {"kills": kills, "recompute_s": time.monotonic() - start}
    size.figures["drill"] = figures
    if drained is None:
        figures["drained"] = False
        say("  the worker did not drain the dirty marks in time: no comparison")
        return
    figures["drained"] = True
    say(f"  drained: {figures['recompute_s']:.0f} s for the recompute with {kills} kills")
    # Which model each need's stored ranking came from: the comparison below leaves the
    # model out, so a mismatch is easier to read with it.
    figures["models"] = {f"{kind} {version}": needs for kind, version, needs in sql(
        size.database_url, "SELECT model_kind, model_version, count(DISTINCT need_id) FROM "
        "matches WHERE active GROUP BY 1, 2 ORDER BY 1, 2")}  # fmt: skip
    say(f"  needs per model in the stored matches after the drill: {figures['models']}")
    sql(size.database_url, f"CREATE TABLE scale_drill_a AS {DUMP}")
    seconds = flask(size, "matching", "refresh", log="refresh-drill.log")
    figures["refresh_s"] = seconds
    sql(size.database_url, f"CREATE TABLE scale_drill_b AS {DUMP}")
    rows, only_a, only_b = sql(size.database_url, """
        SELECT (SELECT count(*) FROM scale_drill_a),
               (SELECT count(*) FROM (SELECT * FROM scale_drill_a EXCEPT ALL
                                      SELECT * FROM scale_drill_b) d),
               (SELECT count(*) FROM (SELECT * FROM scale_drill_b EXCEPT ALL
                                      SELECT * FROM scale_drill_a) d)""")[0]  # fmt: skip
    figures.update(rows=rows, differ=only_a + only_b)
    say(f"  {rows} stored matches after the drill; {only_a} only after the drill, {only_b} "
        f"only in the from-scratch refresh ({seconds:.0f} s)")  # fmt: skip
    if only_a or only_b:
        for row in sql(size.database_url, "(SELECT 'drill', * FROM scale_drill_a EXCEPT ALL "
                       "SELECT 'drill', * FROM scale_drill_b) LIMIT 5"):  # fmt: skip
            say(f"    {row}")
    sql(size.database_url, "DROP TABLE IF EXISTS scale_drill_a, scale_drill_b")


# ------------------------------------------------------------------ the table


def table(small: Size, large: Size, opts: argparse.Namespace, skipped: set[str]) -> bool:
    rows: list[tuple[str, str, str, str, bool | None]] = []

    def add(name: str, target: str, measured: Any, baseline: Any, ok: bool | None) -> None:
        rows.append((name, target, measured, baseline, ok))

    def fmt(value: Any, unit: str = "") -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            if value != value:  # NaN: nothing was measured
                return "nan"
            digits = 2 if unit == "s" and value < 100 else 0
            return f"{value:.{digits}f} {unit}".strip()
        return f"{value} {unit}".strip()

    lg, sm = large.figures.get("load"), small.figures.get("load")
    if "load" not in skipped:
        # Either side may be missing (--deadline): "not run" beside the other's figure.
        def get(load: dict | None, *path: str) -> Any:
            value: Any = load
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return value

        missing = "not run"
        for key, name in (("writes", "writes p95"), ("matches_pages", "matches pages p95")):
            value, base = get(lg, key, "p95"), get(sm, key, "p95")
            ok = value is not None and value <= P95_MS and (base is None or value <= RATIO * base)
            add(name, f"<= {P95_MS:.0f} ms, <= {RATIO}× baseline",
                fmt(value, "ms") if lg else missing, fmt(base, "ms"), ok)  # fmt: skip
        add(f"  {loadtest.MATCHES} p95", "(reported)",
            fmt(get(lg, "need_matches_p95"), "ms") if lg else missing,
            fmt(get(sm, "need_matches_p95"), "ms"), None)  # fmt: skip
        for key in ("errors", "lost_writes"):
            value = get(lg, key)
            add(key.replace("_", " "), "0", value if lg else missing, fmt(get(sm, key)),
                value == 0)  # fmt: skip
        fresh, base_fresh = large.figures.get("fresh"), small.figures.get("fresh")
        for what, name in (("search", "fresh: search"), ("stored", "fresh: stored matches"),
                           ("page", "fresh: matches page")):  # fmt: skip
            value = get(fresh, what, "p95") if fresh and fresh["probes"] else None
            base = get(base_fresh, what, "p95") if base_fresh and base_fresh["probes"] else None
            probes = fresh["probes"] if fresh else 0
            add(f"{name} p95 ({probes} probes)", f"<= {FRESH_S:.0f} s",
                fmt(value, "s") if fresh else missing, fmt(base, "s"),
                value is not None and value <= FRESH_S)  # fmt: skip
        pss, base_pss = (get(x, "worker", "pss_mib", "workers_max") for x in (lg, sm))
        add("gunicorn worker PSS (max)", f"<= {PSS_MIB:.0f} MiB",
            fmt(pss, "MiB") if lg else missing, fmt(base_pss, "MiB"),
            pss is not None and pss <= PSS_MIB)  # fmt: skip
        add("dirty marks at load stop / drain", "(reported)",
            f"{get(lg, 'worker', 'marks_at_stop')} / {fmt(get(lg, 'worker', 'drain_s'), 's')}"
            if lg else missing,
            f"{get(sm, 'worker', 'marks_at_stop')} / {fmt(get(sm, 'worker', 'drain_s'), 's')}",
            None)  # fmt: skip
    if "two-nodes" not in skipped:
        nodes = large.figures.get("two_nodes")
        if nodes is None:
            add("two nodes", "run", "not run", "", False)
        for direction, res in (nodes or {}).items():
            for what in ("search", "page"):
                value = res[what]["p95"]
                add(f"two nodes {direction}: {what} p95 ({res['probes']})", f"<= {FRESH_S:.0f} s",
                    fmt(value, "s"), "", value <= FRESH_S and not res["error_count"])  # fmt: skip
    if "drill" not in skipped:
        d = large.figures.get("drill")
        if d is None or not d.get("drained"):
            add("kill drill", "0 differing rows", "not finished" if d else "not run", "", False)
        elif "differ" not in d:  # drained, but the from-scratch refresh met the deadline
            add(f"kill drill: {d['kills']} kills, rows differing", "0",
                "drained; not compared (the from-scratch refresh was stopped)", "", False)  # fmt: skip
        else:
            add(f"kill drill: {d['kills']} kills, rows differing", "0",
                f"{d['differ']} of {d['rows']}", "", d["differ"] == 0 and d["kills"] == opts.kills)  # fmt: skip
            add("  recompute by the killed workers", "(reported)", fmt(d["recompute_s"], "s"), "",
                None)  # fmt: skip
    logs = {"demo-data": "demo-data.log", "matching train": "matching-train.log",
            "load logins": "", "matching refresh": "refresh.log", "search reindex": "reindex.log"}  # fmt: skip
    for step, log in logs.items():
        value, base = large.timings.get(step), small.timings.get(step)
        target = f"<= {REFRESH_S:.0f} s" if step == "matching refresh" else "(timed)"
        ok = (value is not None and value <= REFRESH_S) if step == "matching refresh" else None
        measured = fmt(value, "s")
        stopped = large.figures.get("stopped", {}).get(log)
        if value is None and stopped is None and opts.reuse:
            measured, ok = "reused", None  # no preparation in this run: no verdict either
        if value is None and stopped is not None:
            # Stopped at the deadline: a lower bound (over the target if it ran longer).
            measured = f"> {stopped:.0f} s"
            ok = False if step == "matching refresh" and stopped > REFRESH_S else None
        add(f"time: {step}", target, measured, fmt(base, "s"), ok)

    width = max(len(r[0]) for r in rows) + 2
    head = f"{'target':<{width}}{'goal':<32}{'measured':>16}{'baseline':>14}  ok"
    print(f"\n{large.enterprises} enterprises (baseline: {small.enterprises}), {opts.users} users,"
          f" {opts.duration} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print(head)
    print("-" * len(head))
    for name, target, measured, baseline, ok in rows:
        mark = "" if ok is None else ("ok" if ok else "MISSED")
        if measured in ("not run", "not finished"):
            mark = "NOT MEASURED"  # counts as a miss for the exit status
        print(f"{name:<{width}}{target:<32}{str(measured):>16}{str(baseline):>14}  {mark}")
    return all(ok is not False for *_x, ok in rows)


# ------------------------------------------------------------------ main


def save(opts: argparse.Namespace, sizes: list[Size]) -> None:
    out = {s.label: {"enterprises": s.enterprises, "timings": s.timings, **s.figures}
           for s in sizes}  # fmt: skip
    Path(opts.workdir, "scale.json").write_text(json.dumps(out, indent=1, default=str))


def drop(size: Size) -> None:
    from sqlalchemy.engine import make_url

    admin = make_url(size.database_url).set(database="postgres")
    sql(admin.render_as_string(hide_password=False),
        f'DROP DATABASE IF EXISTS "{DATABASES[size.label]}" WITH (FORCE)')  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=150, help="the baseline's enterprises")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--duration", type=loadtest._seconds, default=120, help="e.g. 120, 30s, 2m")
    ap.add_argument("--redis-url", default=loadtest.DEFAULT_REDIS)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--kill-spread", type=float, default=3.0,
                    help="a kill lands up to this many seconds after a chunk started")  # fmt: skip
    ap.add_argument("--probe-interval", type=float, default=4.0, help="seconds between writes")
    ap.add_argument("--two-node-writes", type=int, default=10, help="writes each way")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--skip-drill", action="store_true")
    ap.add_argument("--skip-two-nodes", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the databases prepared by an earlier run with this --workdir")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    ap.add_argument("--deadline", help="HH:MM UTC: start no stage after it")
    ap.add_argument("--workdir", default=None, help="default: a new directory under /tmp")
    ap.add_argument("--internal-probe-setup", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.internal_probe_setup:
        setup_probe(opts.internal_probe_setup)
        return 0
    opts.workdir = str(Path(opts.workdir or f"/tmp/techfin-scale-{os.getpid()}").resolve())
    Path(opts.workdir).mkdir(parents=True, exist_ok=True)
    deadline = None
    if opts.deadline:
        hh, mm = (int(x) for x in opts.deadline.split(":"))
        now = datetime.now(UTC)
        at = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if at < now - timedelta(hours=12):  # 00:10 asked at 23:44 is tomorrow's
            at += timedelta(days=1)
        deadline = at.timestamp()
        DEADLINE.append(deadline)
    if not loadtest._redis_reachable(opts.redis_url):
        raise SystemExit(f"Redis is not reachable at {opts.redis_url}")

    def in_time(stage: str) -> bool:
        if deadline is not None and time.time() > deadline:
            say(f"-- {stage}: skipped, past the deadline {opts.deadline} UTC")
            return False
        return True

    small = make_size("small", opts.small, opts)
    large = make_size("large", opts.enterprises, opts)
    sizes = [small, large]
    skipped = {name for name, flag in (("load", opts.skip_load), ("drill", opts.skip_drill),
                                       ("two-nodes", opts.skip_two_nodes)) if flag}  # fmt: skip
    say(f"work dir {opts.workdir}; {opts.enterprises} vs {opts.small} enterprises")
    try:
        for size in sizes:
            if not in_time(f"prepare {size.label}"):
                break
            if opts.reuse and size.probe_file.exists():
                say(f"== {size.label}: reusing {size.database_url}")
            else:
                prepare(size)
            save(opts, sizes)
            if not opts.skip_load and in_time(f"load {size.label}"):
                run_load(size, opts)
                save(opts, sizes)
        if not opts.skip_two_nodes and large.probe_file.exists() and in_time("two nodes"):
            two_nodes(large, opts)
            save(opts, sizes)
        if not opts.skip_drill and large.probe_file.exists() and in_time("drill"):
            drill(large, opts, deadline)
            save(opts, sizes)
    except PastDeadline as stopped:
        say(f"-- {stopped}; the stages after it are not run")
    finally:
        save(opts, sizes)
        ok = table(small, large, opts, skipped)
        print(f"figures: {opts.workdir}/scale.json; logs under {opts.workdir}/small, /large")
        if not opts.keep:
            for size in sizes:
                with contextlib.suppress(Exception):
                    drop(size)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
