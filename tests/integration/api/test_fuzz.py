"""Hostile input against /api/v1: schemathesis cases from the app's own OpenAPI document.

Every documented operation gets FUZZ_EXAMPLES generated requests per role (valid and invalid
data alike), sent to the in-process WSGI app and checked by schemathesis: never a 5xx, only
documented status codes, content types and bodies, invalid data refused with a 4xx. Each role
fuzzes its own fresh copy of the sample data, and the DELETEs run last, so the reads and
writes before them hit real rows.

`make fuzz` runs it with FUZZ_EXAMPLES=200 and random seeds (FUZZ_RANDOM=1); the normal suite
uses a few derandomized examples so it stays fast and reproducible.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig

from techfin.services import search_sync

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") == "1"

# role → the account in conftest.ACCOUNTS whose token it sends; anonymous sends none, or the
# made-up bearer values schemathesis generates for the security scheme.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "enterprise": "enterprise",
    "bank": "verified_institution",
    "operator": "operator",
}

CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",  # with a token: the same request without it must be refused
)

ID_PARAMS = {
    "enterprise_id": "enterprise",
    "patent_id": "patent",
    "need_id": "need",
    "funder_id": "funder",
    "product_id": "product",
    "outcome_id": "outcome",
    "user_id": "user",
}


def _ids(app) -> dict[str, list[int]]:  # noqa: ANN001
    from techfin.extensions import db
    from techfin.models import Enterprise, Funder, Need, Outcome, Patent, Product, User

    models = {"enterprise": Enterprise, "patent": Patent, "need": Need, "funder": Funder,
              "product": Product, "outcome": Outcome, "user": User}  # fmt: skip
    with app.app_context():
        return {k: list(db.session.scalars(db.select(m.id))) for k, m in models.items()}


def _strategy(operation, ids: dict[str, list[int]], headers: dict[str, str]):  # noqa: ANN001, ANN202
    """The documented examples, then positive and negative cases; path ids mostly name real
    rows (a random integer is nearly always a 404 and would leave the writes untested)."""
    names = [p.name for p in operation.path_parameters if p.name in ID_PARAMS]
    pool = (ids.get(ID_PARAMS[names[0]]) or [1]) if names else []

    def cases(**fixed: Any) -> list:  # noqa: ANN202
        out = list(operation.get_strategies_from_examples(headers=headers, **fixed))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            out.append(operation.as_strategy(generation_mode=mode, headers=headers, **fixed))
        return out

    branches = cases()
    if names:
        branches += [
            st.sampled_from(pool).flatmap(lambda i: st.one_of(cases(path_parameters={names[0]: i})))
        ] * 2
    return st.one_of(branches)


def _fuzz(operation, strategy, checks, counts, statuses, failures) -> None:  # noqa: ANN001
    """EXAMPLES cases of one operation; failures are collected (first message per kind)."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case) -> None:  # noqa: ANN001
        counts[operation.label] += 1
        try:
            response = case.call_and_validate(checks=checks)
            statuses[operation.label][response.status_code] += 1
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            titles = sorted({getattr(f, "title", None) or type(f).__name__ for f in found})
            failures.setdefault((operation.label, ", ".join(titles)), str(exc)[:3000])

    run()


# make test runs the suite on both databases and stays under 10 minutes: anonymous callers
# (401 before any validation) are fuzzed in the SQLite pass, the operator (every endpoint,
# PostgreSQL's stricter types) in the PostgreSQL pass, enterprise and bank in both. `make
# fuzz` (FUZZ_RANDOM) fuzzes every role on both.
_ONE_PASS = (
    {} if os.environ.get("FUZZ_RANDOM") else {"anonymous": "sqlite", "operator": "postgresql"}
)


@pytest.mark.parametrize("role", [
    pytest.param(r, marks=pytest.mark.one_pass(_ONE_PASS[r])) if r in _ONE_PASS else r
    for r in ROLES
])  # fmt: skip
def test_fuzz_api(role: str, app, tokens) -> None:  # noqa: ANN001
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", app, config=SchemathesisConfig()
    )
    checks = CHECKS.get_by_names(list(CHECK_NAMES))
    account = ROLES[role]
    headers = {"Authorization": f"Bearer {tokens[account]}"} if account else {}
    # Schemathesis calls the app in-process and reads bodies as they are: ask for them plain
    # (compression itself is tested in test_http_basics).
    headers["Accept-Encoding"] = "identity"
    ids = _ids(app)
    with app.app_context():
        # Index upkeep is off in tests (SEARCH_SYNC_OFF): build it once, or search is a 503.
        assert search_sync.reindex() > 0

    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.label))
    counts: Counter[str] = Counter()
    statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)
    failures: dict[tuple[str, str], str] = {}
    started = time.monotonic()

    for operation in operations:
        _fuzz(operation, _strategy(operation, ids, headers), checks, counts, statuses, failures)

    elapsed = time.monotonic() - started
    print(
        f"\n[{role}] {sum(counts.values())} cases in {elapsed:.1f}s over {len(counts)} operations"
    )
    for label, n in sorted(counts.items()):
        print(f"  {n:4d}  {label:45s} {dict(sorted(statuses[label].items()))}")
    # 35 + PATCH /api/v1/users/{user_id} (accounts) + POST /api/v1/outcomes/reopen (pipeline)
    # + 4 documents + 2 notifications + 6 applications operations + the refusal-reason list
    # + 2 × 5 copyrights / trademarks (#15) + the institutions' league table (#16)
    # + 2 imports (upload, status; #13)
    assert len(operations) == 63
    assert not failures, "\n\n".join(f"{op}: {kind}\n{msg}" for (op, kind), msg in failures.items())


def test_fuzz_harness_reports_broken_answers(app, tokens) -> None:  # noqa: ANN001
    """The checks bite: a 500, an undocumented status and a body off-schema are all caught."""
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", app, config=SchemathesisConfig()
    )
    checks = CHECKS.get_by_names(list(CHECK_NAMES))
    operation = schema["/api/v1/funders"]["GET"]
    headers = {"Authorization": f"Bearer {tokens['operator']}", "Accept-Encoding": "identity"}
    view = app.view_functions["funders.Funders"]
    try:
        for answer, check in (
            (("boom", 500), "Server error"),
            (({"items": []}, 418), "Undocumented status code"),
            (({"items": "none"}, 200), "Response violates schema"),
        ):
            app.view_functions["funders.Funders"] = lambda answer=answer, **_: answer
            counts: Counter[str] = Counter()
            failures: dict[tuple[str, str], str] = {}
            strategy = _strategy(operation, {}, headers)
            _fuzz(operation, strategy, checks, counts, defaultdict(Counter), failures)
            assert counts[operation.label] > 0
            assert any(check in kind for _, kind in failures), (check, failures)
    finally:
        app.view_functions["funders.Funders"] = view
