"""Digest benchmark: compose and deliver digests for N subscribers to a local aiosmtpd server.

Prints messages per second and peak memory of the whole run beside the time to only compose
the same digests (the baseline: what SMTP and the exactly-once ledger add). Target: the whole
run for 10 000 subscribers under 60 s on this machine.

    .venv/bin/python bench/digests.py [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class CountingHandler:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.count += 1
        return "250 OK"


def items_for(user, sub, since, until):  # noqa: ANN001, ANN201 - five realistic matches
    return [
        {"ref": f"P-{k:03d}", "title": f"中山市科技支行 知识产权质押贷 {k}", "score": 0.9 - k / 20,
         "reasons": ["同在中山市", "3 项发明专利估值覆盖贷款额 2.4 倍", "该行近一年批准同行业企业 12 家"],
         "path": f"/needs/{user.id}/matches", "change": "新产品"}
        for k in range(5)
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()

    from aiosmtpd.controller import Controller
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
    url = f"sqlite:///{tmp / 'bench.db'}"
    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url,
                      "INSTANCE_DIR": str(tmp), "INDEX_DIR": str(tmp / "index"),
                      "MODEL_DIR": str(tmp / "model"), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port,
                      "SERVER_NAME": "127.0.0.1:8000"})  # fmt: skip
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pw = generate_password_hash("bench-password", method="scrypt")
    with app.app_context():
        upgrade()
        db.session.execute(
            db.insert(User),
            [{"email": f"user{i}@bench.cn", "name": f"企业用户{i}", "password_hash": pw,
              "role": "enterprise", "locale": "zh_CN" if i % 3 else "en", "active": True,
              "session_version": 1} for i in range(args.n)],
        )  # fmt: skip
        db.session.commit()
        users = list(db.session.execute(db.select(User)).scalars())
        now = digests.utcnow()
        start, end = digests.window_for("weekly", now)

        # Baseline: compose only (templates, both languages, headers), no SMTP, no ledger.
        t0 = time.perf_counter()
        for user in users:
            sub = digests.subscription(user)
            row = DigestDelivery(user_id=user.id, period="weekly", window_start=start,
                                 window_end=end, status="claimed")  # fmt: skip
            digests.compose(user, sub, row, items_for(user, sub, start, end)).as_bytes()
        compose_s = time.perf_counter() - t0

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        report = digests.send_due("weekly", now=now, items_for=items_for)
        run_s = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    controller.stop()

    n = args.n
    print(f"subscribers: {n}   (SQLite, aiosmtpd on 127.0.0.1:{port}, pid {os.getpid()})")
    print(f"{'':34}{'seconds':>10}{'msgs/s':>10}")
    print(f"{'compose only (baseline)':34}{compose_s:>10.1f}{n / compose_s:>10.0f}")
    print(f"{'claim + compose + SMTP + mark':34}{run_s:>10.1f}{report.sent / run_s:>10.0f}")
    print(
        f"delivered {handler.count}, sent {report.sent}, retry {report.retry}, failed {report.failed}"
    )
    print(f"peak RSS: {peak / 1024:.0f} MiB (before the run: {rss_before / 1024:.0f} MiB)")
    print(f"target: whole run < 60 s -> {'met' if run_s < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
