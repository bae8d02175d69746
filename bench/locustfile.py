"""Locust users for bench/load.py: enterprises, institutions, anonymous visitors, /ping.

Run through bench/load.py, which prepares the database, starts gunicorn and passes:
LOAD_FIXTURE (JSON written by the setup step: accounts, need / product / event ids) and
LOAD_RESULTS (where every request's raw time and every confirmed write are dumped at the end,
so percentiles are exact rather than locust's rounded buckets).

Users log in through the real login form with its CSRF token. A write counts as confirmed
only when the server redirected and the next page shows the success flash; a refusal
(already registered, a stage moved meanwhile) is counted as "rejected", not as a write.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from collections import Counter, defaultdict
from html.parser import HTMLParser
from typing import Any

import gevent
from locust import HttpUser, between, events, task

FIXTURE: dict[str, Any] = {}
if os.environ.get("LOAD_FIXTURE"):
    with open(os.environ["LOAD_FIXTURE"], encoding="utf-8") as fh:
        FIXTURE = json.load(fh)
PASSWORD = FIXTURE.get("password", "demo-pass-2026")
SEARCH_TERMS = ["照明", "专利", "贷款", "智能", "生物医药", "锁具", "软件", "担保", "五金"]

TIMES: dict[str, list[float]] = defaultdict(list)
FAILURES: Counter = Counter()
FAILURE_SAMPLES: dict[str, str] = {}
WRITES: Counter = Counter()
REJECTED: Counter = Counter()
LOCKED = [0]
_enterprise_accounts = itertools.count()
_funder_accounts = itertools.count()


RAMP: dict[str, Any] = {"done": False, "requests": 0}
ENV: list[Any] = []


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_kw: Any) -> None:
    RAMP["users"] = user_count
    _ready(0)


def _ready(started: int) -> None:
    # Percentiles describe the steady state, once every user has arrived and logged in:
    # each login hashes a password (scrypt, ~0.1 s of a worker each). Errors, writes and
    # "database is locked" count from the first request on.
    RAMP["started"] = RAMP.get("started", 0) + started
    if not RAMP["done"] and RAMP.get("users") is not None and RAMP["started"] >= RAMP["users"]:
        RAMP["done"], RAMP["since"] = True, time.monotonic()
        # The measured window is LOAD_DURATION seconds from here (--run-time is a backstop).
        if os.environ.get("LOAD_DURATION") and ENV:
            gevent.spawn_later(float(os.environ["LOAD_DURATION"]), ENV[0].runner.quit)


@events.init.add_listener
def _init(environment: Any, **_kw: Any) -> None:
    ENV.append(environment)


@events.request.add_listener
def _record(request_type: str, name: str, response_time: float, exception: Any, **kw: Any) -> None:
    key = f"{request_type} {name}"
    if RAMP["done"]:
        TIMES[key].append(response_time)
    else:
        RAMP["requests"] += 1
    if exception is not None:
        FAILURES[key] += 1
        FAILURE_SAMPLES.setdefault(key, str(exception)[:300])
    response = kw.get("response")
    text = getattr(response, "text", "") or ""
    if "database is locked" in text:
        LOCKED[0] += 1


@events.quitting.add_listener
def _dump(environment: Any, **_kw: Any) -> None:
    path = os.environ.get("LOAD_RESULTS")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "times": TIMES,
                "failures": FAILURES,
                "failure_samples": FAILURE_SAMPLES,
                "writes": WRITES,
                "rejected": REJECTED,
                "locked_responses": LOCKED[0],
                "ramp_requests": RAMP["requests"],
                "window": time.monotonic() - RAMP["since"] if RAMP["done"] else 0.0,
            },
            fh,
        )


class _Forms(HTMLParser):
    """Every <form> of a page: action and the values a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "options": {}})
            return
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                form["fields"][name] = a.get("value", "y" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
            form["options"][name] = []
        elif tag == "option" and self._select:
            form["options"][self._select].append(a.get("value", ""))
            if "selected" in a or self._select not in form["fields"]:
                form["fields"][self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            form["fields"][name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class _Base(HttpUser):
    abstract = True
    wait_time = between(1, 3)
    csrf = ""

    def on_start(self) -> None:
        _ready(1)

    def page(self, path: str, name: str, **kw: Any) -> Any:
        with self.client.get(path, name=name, catch_response=True, **kw) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            else:
                m = CSRF.search(r.text)
                if m:
                    self.csrf = m.group(1) or m.group(2)
            return r

    def post(self, path: str, name: str, data: dict[str, Any]) -> Any:
        """A form POST; 302 is the answer of every successful form here."""
        data = {**data, "csrf_token": self.csrf}
        with self.client.post(
            path, name=name, data=data, allow_redirects=False, catch_response=True
        ) as r:
            if r.status_code not in (200, 302):
                r.failure(f"HTTP {r.status_code}")
            return r

    def follow(self, r: Any, name: str) -> bool:
        """GET the page a POST redirected to; True when it shows a success flash."""
        location = r.headers.get("Location", "")
        if r.status_code != 302 or not location:
            return False
        page = self.page(location, name)
        return page.status_code == 200 and "alert-success" in page.text

    def ping(self) -> None:
        self.page("/ping", "/ping")

    def login(self, email: str) -> None:
        self.page("/auth/login", "/auth/login")
        data = {"email": email, "password": PASSWORD, "csrf_token": self.csrf}
        with self.client.post(
            "/auth/login",
            name="/auth/login",
            data=data,
            allow_redirects=False,
            catch_response=True,
        ) as r:
            if r.status_code != 302:
                r.failure(f"login failed for {email} (HTTP {r.status_code})")
        if r.status_code != 302:
            # Every later page would redirect to the login form: this user stops, counted.
            _ready(1)
            self.stop()
        self.page("/dashboard", "/dashboard")


class Anonymous(_Base):
    weight = 2

    @task(3)
    def landing(self) -> None:
        self.page("/", "/")

    @task(2)
    def login_form(self) -> None:
        self.page("/auth/login", "/auth/login")

    @task(1)
    def regions(self) -> None:
        self.page("/reference/regions?q=中山", "/reference/[kind]")

    @task(1)
    def healthz(self) -> None:
        self.page("/healthz", "/healthz")

    @task(3)
    def trivial(self) -> None:
        self.ping()


class Enterprise(_Base):
    weight = 5

    def on_start(self) -> None:
        accounts = FIXTURE["enterprises"]
        self.account = accounts[next(_enterprise_accounts) % len(accounts)]
        self.interested: set[tuple[int, int]] = set()
        self.registered: set[int] = set()
        self.login(self.account["email"])
        _ready(1)

    @task(3)
    def marketplace(self) -> None:
        self.page(f"/marketplace?page={random.randint(1, 3)}", "/marketplace")
        product = random.choice(FIXTURE["products"])
        self.page(f"/marketplace/products/{product}", "/marketplace/products/[id]")

    @task(2)
    def search(self) -> None:
        self.page(f"/search/?q={random.choice(SEARCH_TERMS)}", "/search/")

    @task(6)
    def matches(self) -> None:
        need = random.choice(self.account["needs"])
        self.page(f"/needs/{need}/matches", "/needs/[id]/matches")

    @task(1)
    def overview(self) -> None:
        self.page("/matches", "/matches")

    @task(1)
    def edit_need(self) -> None:
        need = random.choice(self.account["needs"])
        r = self.page(f"/enterprise/needs/{need}/edit", "/enterprise/needs/[id]/edit")
        form = next((f for f in forms(r.text) if "purpose" in f["fields"]), None)
        if form is None:
            return
        fields = dict(form["fields"])
        fields["purpose"] = f"load test edit {time.time_ns()} " + fields["purpose"][:200]
        r = self.post(f"/enterprise/needs/{need}/edit", "/enterprise/needs/[id]/edit", fields)
        if self.follow(r, "/enterprise/needs/[id]"):
            WRITES["need_edit"] += 1
        else:
            REJECTED["need_edit"] += 1

    @task(1)
    def register_event(self) -> None:
        left = [e for e in FIXTURE["events"] if e not in self.registered]
        if not left:
            return
        event = random.choice(left)
        self.page(f"/events/{event}", "/events/[id]")
        r = self.post(f"/events/{event}/register", "/events/[id]/register", {})
        self.registered.add(event)
        if self.follow(r, "/events/[id]"):
            WRITES["event_register"] += 1
        else:
            REJECTED["event_register"] += 1

    @task(1)
    def express_interest(self) -> None:
        need = random.choice(self.account["published"] or self.account["needs"])
        r = self.page(f"/needs/{need}/matches", "/needs/[id]/matches")
        offers = [
            int(f["fields"]["product_id"])
            for f in forms(r.text)
            if f["action"].endswith("/interest") and f["fields"].get("product_id")
        ]
        offers = [p for p in offers if (need, p) not in self.interested]
        if not offers:
            return
        product = random.choice(offers)
        self.interested.add((need, product))
        r = self.post(
            f"/needs/{need}/matches/interest",
            "/needs/[id]/matches/interest",
            {"product_id": product, "funder_id": ""},
        )
        if self.follow(r, "/needs/[id]/matches"):
            WRITES["interest"] += 1
        else:
            REJECTED["interest"] += 1

    @task(2)
    def trivial(self) -> None:
        self.ping()


class Institution(_Base):
    weight = 3

    def on_start(self) -> None:
        accounts = FIXTURE["funders"]
        self.account = accounts[next(_funder_accounts) % len(accounts)]
        self.login(self.account["email"])
        _ready(1)

    @task(3)
    def dealflow(self) -> None:
        self.page("/dealflow/matches", "/dealflow/matches")

    @task(3)
    def product_matches(self) -> None:
        product = random.choice(self.account["products"])
        self.page(f"/dealflow/matches?product_id={product}", "/dealflow/matches?product_id=[id]")

    @task(1)
    def browse_needs(self) -> None:
        self.page("/dealflow/needs", "/dealflow/needs")

    @task(1)
    def move(self) -> None:
        product = random.choice(self.account["products"])
        r = self.page(
            f"/dealflow/matches?product_id={product}", "/dealflow/matches?product_id=[id]"
        )
        movable = [
            f
            for f in forms(r.text)
            if f["action"].endswith("/dealflow/matches/move")
            and set(f["options"].get("stage", [])) & {"recommended", "contacted", "meeting"}
        ]
        if not movable:
            return
        form = random.choice(movable)
        fields = dict(form["fields"])
        # The pipeline's forward steps that need no loan terms; never "funded".
        fields["stage"] = next(
            s for s in ("recommended", "contacted", "meeting") if s in form["options"]["stage"]
        )
        fields["note"] = "load test"
        r = self.post("/dealflow/matches/move", "/dealflow/matches/move", fields)
        if self.follow(r, "/dealflow/matches?product_id=[id]"):
            WRITES["move"] += 1
        else:
            REJECTED["move"] += 1

    @task(2)
    def trivial(self) -> None:
        self.ping()


if __name__ == "__main__":  # `make bench` runs every bench/*.py: this one is driven by load.py
    print("bench/locustfile.py is run by bench/load.py (see its docstring)")
