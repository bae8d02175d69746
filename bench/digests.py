"""Digest benchmark: compose and deliver digests for N subscribers to a local aiosmtpd server.

Prints messages per second and peak memory of the whole run beside the time to only compose
the same digests (the baseline: what SMTP and the exactly-once ledger add), wall-clock and
CPU time of this process. Target: the whole run for 10 000 subscribers under 60 s on this
machine.

The SMTP server runs in its own process, as a mail server does in production; with
--smtp-in-process it shares this process (and its GIL) instead. --database-url runs on
PostgreSQL (in a schema `bench_digests` of that database, dropped afterwards); the default
is a fresh SQLite file.

With --real-matches the items are not the stub below but what production reads: a demo
catalogue (techfin.services.demo, --enterprises of them) is imported, `matching refresh`
stores its Match rows, and the N subscribers are members of those enterprises (every tenth
one of a verified institution). The run then looks each batch's new matches up as
`flask digests send` does; the item lookup alone is also timed, batched (as the run does
it) and one user at a time (`matching.new_matches_for_user`, on a --per-user-sample).

    .venv/bin/python bench/digests.py [--n 10000] [--database-url postgresql://…/db]
    .venv/bin/python bench/digests.py --real-matches [--n 10000] [--enterprises 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_SCHEMA = "bench_digests"


class CountingHandler:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.count += 1
        return "250 OK"


def serve(port: int) -> None:
    """The SMTP server process: counts messages until stdin closes, then prints the count."""
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    print(handler.count, flush=True)


class SmtpProcess:
    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-smtp", str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    @property
    def count(self) -> int:
        out, _err = self.proc.communicate(timeout=60)
        return int(out.split()[-1])


def items_for(user, sub, since, until):  # noqa: ANN001, ANN201 - five realistic matches
    return [
        {"ref": f"P-{k:03d}", "title": f"中山市科技支行 知识产权质押贷 {k}", "score": 0.9 - k / 20,
         "reasons": ["同在中山市", "3 项发明专利估值覆盖贷款额 2.4 倍", "该行近一年批准同行业企业 12 家"],
         "path": f"/needs/{user.id}/matches", "change": "新产品"}
        for k in range(5)
    ]  # fmt: skip


def build_real_dataset(n: int, enterprises: int, password_hash: str) -> dict[str, float]:
    """Demo catalogue → stored matches → n subscribers who are members of its organisations
    (nine in ten of an enterprise, one in ten of a verified institution). Build timings."""
    from flask import current_app

    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Match, Membership, Need, User
    from techfin.services import demo, matching
    from techfin.services.interchange import import_records

    t0 = time.perf_counter()
    report = import_records(demo.generate(enterprises=enterprises), actor="bench")
    assert report.committed, [str(e) for e in report.errors[:5]]
    t1 = time.perf_counter()
    matching.refresh_all()
    t2 = time.perf_counter()
    ent_ids = list(db.session.execute(db.select(Enterprise.id).order_by(Enterprise.id)).scalars())
    funder_ids = list(db.session.execute(
        db.select(Funder.id).where(Funder.status == "verified").order_by(Funder.id)).scalars())  # fmt: skip
    rows, orgs = [], []
    for i in range(n):
        institution = i % 10 == 9
        rows.append({"email": f"user{i}@bench.cn", "name": f"订阅用户{i}",
                     "password_hash": password_hash, "role": "bank" if institution else "enterprise",
                     "locale": "zh_CN" if i % 3 else "en", "active": True, "session_version": 1})  # fmt: skip
        orgs.append(funder_ids[i % len(funder_ids)] if institution else ent_ids[i % len(ent_ids)])
    db.session.execute(db.insert(User), rows)
    ids = dict(db.session.execute(db.select(User.email, User.id)).all())
    db.session.execute(db.insert(Membership), [
        {"user_id": ids[r["email"]], "organization_id": org, "role": "owner"}
        for r, org in zip(rows, orgs, strict=True)])  # fmt: skip
    db.session.commit()
    t3 = time.perf_counter()
    # `flask digests send` runs in a process of its own that never builds the rankings'
    # snapshot: drop the one the refresh built, and the garbage it leaves for the collector.
    current_app.extensions.pop("techfin_matching", None)
    gc.collect()
    count = db.session.scalar(db.select(db.func.count(Match.id)).where(Match.eligible.is_(True)))
    needs = db.session.scalar(db.select(db.func.count(Need.id)))
    print(f"dataset: {enterprises} enterprises, {needs} needs, {count} eligible stored matches, "
          f"{n} subscribers")  # fmt: skip
    return {"import": t1 - t0, "refresh": t2 - t1, "subscribers": t3 - t2}


def time_lookups(users: list, now, start, end, sample: int) -> dict[str, float]:  # noqa: ANN001
    """Seconds to load every batch's users, settings and items as the run does (its dry-run
    path: no claims, no mail), and per user for `sample` users asked one at a time."""
    from techfin.extensions import db
    from techfin.services import digests, matching

    ids = [u.id for u in users]
    source = digests._default_items()
    report = digests.RunReport("bench")
    t0 = time.perf_counter()
    for part in digests._batches(ids, digests.DEFAULT_BATCH):
        digests._prepare(part, "weekly", start, end, now, digests.DEFAULT_LEASE, source, report,
                         True)  # fmt: skip
    batched = time.perf_counter() - t0
    db.session.expunge_all()
    some = db.session.execute(db.select(type(users[0])).where(
        type(users[0]).id.in_(ids[:sample]))).scalars().all()  # fmt: skip
    t0 = time.perf_counter()
    for u in some:
        matching.new_matches_for_user(u, start, end)
    one_by_one = time.perf_counter() - t0
    db.session.expunge_all()
    counts = [k for _email, k in report.would_send]
    return {"batched": batched, "one_by_one": one_by_one, "sampled": len(some),
            "with_items": sum(1 for k in counts if k), "items": sum(counts)}  # fmt: skip


def _postgres_url(url: str) -> str:
    """A schema of its own in the given database, so the bench never touches its tables."""
    from sqlalchemy import create_engine, text

    from techfin.config import normalise_database_url

    url = normalise_database_url(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{PG_SCHEMA}"


def _drop_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; default SQLite")
    parser.add_argument("--smtp-in-process", action="store_true")
    parser.add_argument("--async-marks", action="store_true",
                        help="DIGEST_ASYNC_MARKS: PostgreSQL marks without waiting for WAL flush")  # fmt: skip
    parser.add_argument(
        "--real-matches",
        action="store_true",
        help="real subscribers of a demo catalogue with stored matches",
    )
    parser.add_argument(
        "--enterprises",
        type=int,
        default=0,
        help="demo enterprises for --real-matches (default n/5, at least 120)",
    )
    parser.add_argument(
        "--per-user-sample",
        type=int,
        default=1000,
        help="users timed one at a time for --real-matches",
    )
    parser.add_argument("--serve-smtp", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve(args.serve_smtp)
        return

    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import User
    from techfin.models.digests import DigestDelivery
    from techfin.services import digests

    tmp = Path(tempfile.mkdtemp(prefix="bench-digests-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if args.database_url:
        url, where = _postgres_url(args.database_url), f"PostgreSQL schema {PG_SCHEMA}"
    else:
        url, where = f"sqlite:///{tmp / 'bench.db'}", "SQLite"
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url,
                      "INSTANCE_DIR": str(tmp), "INDEX_DIR": str(tmp / "index"),
                      "MODEL_DIR": str(tmp / "model"), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port,
                      "SERVER_NAME": "127.0.0.1:8000", "DIGEST_ASYNC_MARKS": args.async_marks,
                      # The bench refreshes the stored matches itself, once, and times it.
                      "MATCHING_REFRESH_OFF": True})  # fmt: skip
    if args.smtp_in_process:
        from aiosmtpd.controller import Controller

        server: CountingHandler | SmtpProcess = CountingHandler()
        controller = Controller(server, hostname="127.0.0.1", port=port)
        controller.start()
    else:
        server = SmtpProcess(port)
    pw = generate_password_hash("bench-password", method="scrypt")
    try:
        with app.app_context():
            upgrade()
            now = digests.utcnow()
            if args.real_matches:
                enterprises = args.enterprises or max(120, args.n // 5)
                build = build_real_dataset(args.n, enterprises, pw)
                # The matches were first seen just now: run as if a week had passed.
                now += timedelta(days=7)
            else:
                db.session.execute(
                    db.insert(User),
                    [{"email": f"user{i}@bench.cn", "name": f"企业用户{i}", "password_hash": pw,
                      "role": "enterprise", "locale": "zh_CN" if i % 3 else "en", "active": True,
                      "session_version": 1} for i in range(args.n)],
                )  # fmt: skip
                db.session.commit()
            users = list(db.session.execute(
                db.select(User).where(User.email.like("%@bench.cn")).order_by(User.id)).scalars())  # fmt: skip
            start, end = digests.window_for("weekly", now)
            lookups = (
                time_lookups(users, now, start, end, args.per_user_sample)
                if args.real_matches
                else None
            )
            items = None if args.real_matches else items_for

            # Baseline: compose only (templates, both languages, headers), no SMTP, no ledger.
            t0 = time.perf_counter()
            composer = digests.DigestComposer()
            for user in users:
                sub = digests.subscription(user)
                row = DigestDelivery(user_id=user.id, period="weekly", window_start=start,
                                     window_end=end, status="claimed")  # fmt: skip
                composer(user, sub, row, items_for(user, sub, start, end)).as_bytes()
            compose_s = time.perf_counter() - t0
            del users
            db.session.expunge_all()

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            cpu0, t0 = time.process_time(), time.perf_counter()
            report = digests.send_due("weekly", now=now, items_for=items)
            run_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            db.session.remove()
            db.engine.dispose()
    finally:
        if args.smtp_in_process:
            controller.stop()
        delivered = server.count
        if args.database_url:
            _drop_postgres_schema(url)

    n = args.n
    mode = "this process" if args.smtp_in_process else "its own process"
    marks = ", async marks" if args.async_marks else ""
    print(f"subscribers: {n}   ({where}{marks}, aiosmtpd on 127.0.0.1:{port} in {mode})")
    print(f"{'':34}{'seconds':>10}{'msgs/s':>10}{'CPU s':>10}")
    print(f"{'compose only (baseline)':34}{compose_s:>10.1f}{n / compose_s:>10.0f}")
    print(f"{'claim + compose + SMTP + mark':34}{run_s:>10.1f}{report.sent / run_s:>10.0f}"
          f"{cpu_s:>10.1f}")  # fmt: skip
    print(f"delivered {delivered}, sent {report.sent}, retry {report.retry}, "
          f"failed {report.failed}, skipped {report.skipped}")  # fmt: skip
    if lookups is not None:
        per_batched = lookups["batched"] / n * 1000
        per_single = lookups["one_by_one"] / max(1, lookups["sampled"]) * 1000
        print(f"build: import {build['import']:.1f} s, matching refresh {build['refresh']:.1f} s, "
              f"subscribers {build['subscribers']:.1f} s")  # fmt: skip
        print(f"item lookup, batched as the run does: {lookups['batched']:.1f} s "
              f"({per_batched:.2f} ms/user; {lookups['with_items']} users with items, "
              f"{lookups['items']} items)")  # fmt: skip
        print(f"item lookup, one user at a time ({lookups['sampled']} users): "
              f"{per_single:.2f} ms/user -> {per_single * 10:.0f} s per 10 000")  # fmt: skip
        print(f"whole run per subscriber: {run_s / n * 1000:.2f} ms "
              f"-> {run_s / n * 10000:.0f} s per 10 000")  # fmt: skip
    print(f"peak RSS: {peak / 1024:.0f} MiB (before the run: {rss_before / 1024:.0f} MiB)")
    print(f"target: whole run < 60 s -> {'met' if run_s < 60 else 'NOT met'}")
    print(f"(pid {os.getpid()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
