"""Lighthouse on the four main pages (issue #14, item 16; not a test).

    .venv/bin/python bench/lighthouse.py                 # demo database of 150 enterprises
    .venv/bin/python bench/lighthouse.py --runs 3        # the median of 3 runs per page

Prepares a fresh SQLite demo database as `make run` does (migrations, demo data, search index,
model, stored matches), starts gunicorn (2 workers) on a free 127.0.0.1 port, logs in one demo
account per role and runs Lighthouse (npm `lighthouse`, pinned in package.json; Debian's
chromium via CHROME_PATH, headless; its default mobile profile: a mid-range phone on a slow 4G
link, simulated throttling) against the landing page, the enterprise dashboard, the bank's
ranked dealflow and the operator dashboard, each with the session's cookie (extraHeaders).

Baseline in the same run: the same page fetched with `Accept-Encoding: identity`, i.e. what
it cost before text responses were compressed.

Prints performance and accessibility scores, FCP / LCP / TBT and the bytes transferred per
page, and exits 1 when a page scores below 90 (performance) or 95 (accessibility).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import load as loadtest  # noqa: E402 - bench/load.py, found through the path above

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROME = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "demo-pass-2026"
PAGES = [  # (name, role's demo login or None, path)
    ("landing", None, "/"),
    ("enterprise dashboard", "enterprise@demo.techfin.cn", "/dashboard"),
    ("bank dealflow", "bank@demo.techfin.cn", "/dealflow/matches"),
    ("operator dashboard", "operator@demo.techfin.cn", "/operations/dashboard"),
]
TARGET_PERFORMANCE, TARGET_ACCESSIBILITY = 90, 95


def make_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'techfin.db'}",
        "INSTANCE_DIR": str(work / "instance"),
        "INDEX_DIR": str(work / "instance" / "index"),
        "MODEL_DIR": str(work / "instance" / "model"),
        "TASK_QUEUE_URL": f"sqlite:///{work / 'tasks.db'}",
        "SECRET_KEY": "lighthouse-bench-secret",
        "TECHFIN_ENV": "development",
        "FLASK_DEBUG": "0",
        "REDIS_URL": "",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
    }


def prepare(env: dict[str, str], enterprises: int) -> None:
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
    for step in (["db", "upgrade"], ["demo-data", "--enterprises", str(enterprises), "--seed",
                 "2026"], ["search", "reindex"], ["matching", "train"], ["matching", "refresh"]):  # fmt: skip
        t = time.perf_counter()
        done = subprocess.run(flask + step, cwd=ROOT, env=env, capture_output=True, text=True)
        print(f"  {' '.join(step[:2]):<24}{time.perf_counter() - t:6.1f} s", flush=True)
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise SystemExit(f"preparation step failed: flask {' '.join(step)}")


def lighthouse(url: str, headers: dict[str, str], out: Path) -> dict:
    """One Lighthouse run; the scores (0-100) and the metrics that explain them."""
    cmd = [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
           "--only-categories=performance,accessibility",
           "--chrome-flags=--headless=new --no-sandbox --disable-gpu --no-first-run",
           f"--extra-headers={json.dumps(headers)}"]  # fmt: skip
    done = subprocess.run(cmd, env={**os.environ, "CHROME_PATH": CHROME}, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
    report = json.loads(out.read_text(encoding="utf-8"))
    if report.get("runtimeError"):
        raise SystemExit(f"lighthouse: {report['runtimeError']}")
    audits, cats = report["audits"], report["categories"]
    final = report.get("finalDisplayedUrl") or report.get("finalUrl")
    if final and final.split("?")[0] != url.split("?")[0]:
        raise SystemExit(f"{url} ended at {final}: the login did not hold")
    return {
        "performance": round(cats["performance"]["score"] * 100),
        "accessibility": round(cats["accessibility"]["score"] * 100),
        "fcp": audits["first-contentful-paint"]["numericValue"] / 1000,
        "lcp": audits["largest-contentful-paint"]["numericValue"] / 1000,
        "tbt": audits["total-blocking-time"]["numericValue"],
        "kib": audits["total-byte-weight"]["numericValue"] / 1024,
        "failed_a11y": [
            a["id"] for a in (audits[r["id"]] for r in cats["accessibility"]["auditRefs"])
            if a.get("score") is not None and a["score"] < 1
        ],
    }  # fmt: skip


def median_run(url: str, headers: dict[str, str], work: Path, runs: int, tag: str) -> dict:
    results = [lighthouse(url, headers, work / f"{tag}-{i}.json") for i in range(runs)]
    results.sort(key=lambda r: r["performance"])
    best = results[len(results) // 2]  # the median run by performance, as Lighthouse advises
    best["performance_all"] = [r["performance"] for r in results]
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enterprises", type=int, default=150)
    ap.add_argument("--runs", type=int, default=1, help="runs per page (the median is kept)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the uncompressed runs")
    ap.add_argument("--workdir", help="keep the database and the reports here")
    args = ap.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit("node_modules/.bin/lighthouse is missing: run `npm ci` (make install)")
    if not Path(CHROME).exists():
        raise SystemExit("Debian's chromium is missing: run `make browser`")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="techfin-lighthouse-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = make_env(work)
    print(f"preparing a demo database of {args.enterprises} enterprises in {work}")
    prepare(env, args.enterprises)
    port = loadtest._free_port()
    proc = loadtest.start_gunicorn(env, port, work)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        cookies = {}
        for _, email, _ in PAGES:
            if email and email not in cookies:
                session = loadtest._session(base, email, PASSWORD)
                cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
                assert session.get(f"{base}/dashboard", timeout=60).url.endswith("/dashboard")
                cookies[email] = cookie
        for name, email, path in PAGES:
            headers = {"Cookie": cookies[email]} if email else {}
            url = f"{base}{path}"
            row = {"page": name, "path": path,
                   "ours": median_run(url, headers, work, args.runs, f"{name}-ours")}  # fmt: skip
            if not args.no_baseline:
                row["baseline"] = median_run(url, {**headers, "Accept-Encoding": "identity"},
                                             work, args.runs, f"{name}-identity")  # fmt: skip
            rows.append(row)
            print(f"  measured {name}", flush=True)
    finally:
        loadtest.stop(proc)

    print("\nLighthouse 12 (mobile profile, simulated slow 4G), "
          f"{args.runs} run(s) per page, median; chromium {_chromium_version()}")  # fmt: skip
    head = f"{'page':<22}{'perf':>6}{'a11y':>6}{'FCP s':>7}{'LCP s':>7}{'TBT ms':>8}{'KiB':>7}"
    print(f"{head}   | baseline (Accept-Encoding: identity) perf / FCP / LCP / KiB")
    failed = []
    for row in rows:
        o = row["ours"]
        line = (f"{row['page']:<22}{o['performance']:>6}{o['accessibility']:>6}{o['fcp']:>7.1f}"
                f"{o['lcp']:>7.1f}{o['tbt']:>8.0f}{o['kib']:>7.0f}")  # fmt: skip
        if "baseline" in row:
            b = row["baseline"]
            line += f"   | {b['performance']:>3} / {b['fcp']:.1f} / {b['lcp']:.1f} / {b['kib']:.0f}"
        print(line)
        if len(o["performance_all"]) > 1:
            print(f"{'':<22}performance of each run: {o['performance_all']}")
        if o["failed_a11y"]:
            print(f"{'':<22}accessibility audits not passed: {', '.join(o['failed_a11y'])}")
        if o["performance"] < TARGET_PERFORMANCE or o["accessibility"] < TARGET_ACCESSIBILITY:
            failed.append(row["page"])
    print(f"targets: performance ≥ {TARGET_PERFORMANCE}, accessibility ≥ {TARGET_ACCESSIBILITY}: "
          + ("MISSED on " + ", ".join(failed) if failed else "met on every page"))  # fmt: skip
    (work / "summary.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def _chromium_version() -> str:
    try:
        out = subprocess.run([CHROME, "--version"], capture_output=True, text=True, timeout=30)
        return next(w for w in out.stdout.split() if w[:1].isdigit() and "." in w)
    except (OSError, subprocess.SubprocessError, StopIteration):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
