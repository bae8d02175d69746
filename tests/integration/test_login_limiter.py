"""Login brute force is throttled across gunicorn workers; session cookies and HSTS (issue #8).

The cross-worker tests run the real thing: `flask db upgrade` and `flask create-user` on a
temporary SQLite database, then gunicorn with 2 workers (as `make run` starts it) with
REDIS_URL on a Redis database of this test's own (REDIS_TEST_DB, default 7) and a key prefix
unique to the run. A connection left half-sent keeps one sync worker busy, so the next
connection is served by the other one: every pair of attempts is answered by both workers
(checked in the access log, which logs the worker's pid).

When no Redis answers on 127.0.0.1:6379 the tests start a private `redis-server` on a free
port (Debian's redis-server is on every development and CI machine); without either they
fail and say how to get one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_DB = int(os.environ.get("REDIS_TEST_DB", "7"))
REDIS_URL = os.environ.get("REDIS_TEST_URL", f"redis://127.0.0.1:6379/{REDIS_DB}")
LIMIT = 6  # LOGIN_RATE_LIMIT for the server under test
EMAIL, PASSWORD = "owner@limit.test", "right-password-1"
ZH_429 = "请求过于频繁，请稍候再试。"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared Redis when it answers, else a private redis-server of this module's own."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc}) and there is no "
                        "redis-server to start: `apt-get install redis-server`")  # fmt: skip
    else:
        yield REDIS_URL
        return
    port = _free_port()
    work = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/{REDIS_DB}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                break
            except redis.RedisError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite database with one account, made with the project's own CLI."""
    tmp = tmp_path_factory.mktemp("limiter")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'techfin.db'}",
        "SECRET_KEY": "limiter-test-secret",
        "INSTANCE_DIR": str(tmp),
        "INDEX_DIR": str(tmp / "index"),
        "MODEL_DIR": str(tmp / "model"),
        "TECHFIN_ENV": "production",
        "LOGIN_RATE_LIMIT": f"{LIMIT} per minute",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("REDIS_URL", None)
    env.pop("FLASK_DEBUG", None)
    flask = str(BIN / "flask")
    for args in (["db", "upgrade"],
                 ["create-user", EMAIL, "--role", "operator", "--password", PASSWORD]):  # fmt: skip
        done = subprocess.run([flask, "--app", "wsgi", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return env


@dataclass
class Server:
    port: int
    log: Path
    process: subprocess.Popen
    cookie: str = ""
    token: str = ""
    set_cookie: str = ""

    def request(self, method: str, path: str, body: str = "", headers: dict | None = None):  # noqa: ANN201
        """One request on a new connection; returns (status, headers, text)."""
        conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def login_form(self, password: str) -> tuple[str, dict[str, str]]:
        body = urlencode({"email": EMAIL, "password": password, "csrf_token": self.token})
        return body, {"Content-Type": "application/x-www-form-urlencoded",
                      "Cookie": self.cookie}  # fmt: skip

    def login(self, password: str) -> int:
        body, headers = self.login_form(password)
        return self.request("POST", "/auth/login", body, headers)[0]

    def login_pair(self, password: str) -> list[int]:
        """Two attempts that two different workers answer: the first connection sends all
        but its last byte, so the worker that took it waits while the other one serves the
        second connection; then the first is completed."""
        body, headers = self.login_form(password)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw = (f"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}"
               f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()  # fmt: skip
        held = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            held.sendall(raw[:-1])
            time.sleep(0.05)  # let a worker accept it and block reading
            codes = [self.login(password)]
            held.sendall(raw[-1:])
            reply = b""
            while chunk := held.recv(65536):
                reply += chunk
        finally:
            held.close()
        codes.append(int(reply.split(b" ", 2)[1]))
        return codes

    def login_pids(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [m.group(1) for line in lines if (m := re.match(r"ACCESS <(\d+)> POST /auth/login", line))]  # fmt: skip


@contextmanager
def _gunicorn(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """gunicorn --workers 2 on a free port, as `make run` starts it."""
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    cmd = [str(BIN / "gunicorn"), "--workers", "2", "--preload", "--bind", f"127.0.0.1:{port}",
           "--access-logfile", "-", "--access-logformat", "ACCESS %(p)s %(m)s %(U)s %(s)s",
           "--error-logfile", "-", "--timeout", "30", "--graceful-timeout", "2",
           "--no-control-socket", "wsgi:app"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(port, log, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if srv.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"gunicorn did not start:\n{log.read_text()}"
            time.sleep(0.2)
        status, headers, html = srv.request("GET", "/auth/login")
        assert status == 200
        srv.set_cookie = headers["Set-Cookie"]
        srv.cookie = srv.set_cookie.split(";", 1)[0]
        srv.token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        yield srv
    finally:
        process.send_signal(signal.SIGINT)  # quick shutdown; TERM waits for idle workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(prepared: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No REDIS_URL: the limiter keeps its counters in each worker's memory (one server for
    the module: starting gunicorn is the slow part)."""
    with _gunicorn(prepared, tmp_path_factory.mktemp("memory")) as srv:
        yield srv


@pytest.fixture
def redis_server(prepared: dict[str, str], tmp_path: Path, redis_url: str) -> Iterator[Server]:
    """REDIS_URL set; the keys of this run get their own prefix and are deleted after."""
    import redis

    client = redis.Redis.from_url(redis_url)
    prefix = f"test-limiter-{uuid.uuid4().hex}"
    env = {**prepared, "REDIS_URL": redis_url, "RATELIMIT_KEY_PREFIX": prefix}
    try:
        with _gunicorn(env, tmp_path) as srv:
            yield srv
        assert list(client.scan_iter(f"*{prefix}*")), "the limiter wrote nothing to Redis"
    finally:
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
        client.close()


# These servers run on a SQLite database of their own whatever the suite's database: once,
# in the SQLite pass (make test stays under 10 minutes).
_OWN_DATABASE = pytest.mark.one_pass("sqlite")


@_OWN_DATABASE
def test_login_throttle_is_shared_by_the_workers(redis_server: Server):
    codes: list[int] = []
    for _ in range(LIMIT):  # 2 × LIMIT wrong passwords, a pair at a time
        codes += redis_server.login_pair("wrong-password-1")
    pids = redis_server.login_pids()
    assert len(set(pids)) == 2, f"one worker answered everything: {pids}"
    assert codes.count(200) == LIMIT, codes  # the form again, "wrong email or password"
    assert codes.count(429) == LIMIT, codes  # per-worker counters would let 2 × LIMIT through

    # Throttled means throttled: the right password is refused too, by both workers.
    assert redis_server.login_pair(PASSWORD) == [429, 429]
    assert len(set(redis_server.login_pids())) == 2
    body, headers = redis_server.login_form(PASSWORD)
    status, resp_headers, html = redis_server.request("POST", "/auth/login", body, headers)
    assert status == 429 and resp_headers["Content-Type"].startswith("text/html")
    assert ZH_429 in html and int(resp_headers["Retry-After"]) > 0
    status, _h, html = redis_server.request("POST", "/auth/login?lang=en", body, headers)
    assert status == 429 and "Too many requests: please wait a moment" in html
    # Other pages are not throttled.
    assert redis_server.request("GET", "/auth/login")[0] == 200


@_OWN_DATABASE
def test_without_redis_each_worker_counts_alone(server: Server):
    """The documented fallback: memory storage, so the limit applies per worker process."""
    codes: list[int] = []
    for _ in range(LIMIT):
        codes += server.login_pair("wrong-password-1")
    assert len(set(server.login_pids())) == 2
    assert codes.count(200) == 2 * LIMIT, codes
    assert server.login_pair("wrong-password-1") == [429, 429]


@_OWN_DATABASE
def test_production_cookies_and_hsts_behind_the_proxy(server: Server):
    """gunicorn trusts X-Forwarded-Proto from 127.0.0.1 (forwarded_allow_ips), as behind the
    nginx on the same host: HSTS is sent for HTTPS only; the session cookie is Secure."""
    flags = [part.strip().lower() for part in server.set_cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags
    _s, plain, _b = server.request("GET", "/auth/login")
    assert "Strict-Transport-Security" not in plain
    _s, https, _b = server.request("GET", "/auth/login", headers={"X-Forwarded-Proto": "https"})
    assert "max-age=" in https["Strict-Transport-Security"]


# ------------------------------------------------------------------ in-process cookie flags


def _session_cookie(client, make_user) -> str:  # noqa: ANN001
    make_user("cookie@x.cn", "operator", password="Lychee-Harbour-47")
    resp = client.post(
        "/auth/login", data={"email": "cookie@x.cn", "password": "Lychee-Harbour-47"}
    )
    assert resp.status_code == 302
    cookies = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, resp.headers
    return cookies[-1]


def test_session_cookie_flags_in_development(client, make_user):
    flags = [p.strip().lower() for p in _session_cookie(client, make_user).split(";")]
    assert "httponly" in flags and "samesite=lax" in flags
    assert "secure" not in flags  # http://127.0.0.1:8000 in development must keep working


@pytest.mark.app_config(ENV="production")
def test_session_cookie_flags_in_production(app, client, make_user):
    assert app.config["PRODUCTION"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["REMEMBER_COOKIE_HTTPONLY"]
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    flags = [p.strip().lower() for p in _session_cookie(client, make_user).split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags


def test_limiter_storage_follows_redis_url():
    from techfin.config import load_config

    assert load_config({"REDIS_URL": REDIS_URL})["RATELIMIT_STORAGE_URI"] == REDIS_URL
    assert load_config({"REDIS_URL": ""})["RATELIMIT_STORAGE_URI"] == "memory://"
