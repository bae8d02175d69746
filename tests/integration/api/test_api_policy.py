"""tests/integration/access_policy_api.py names every API rule, method and role.

The statuses themselves are checked by tests/integration/test_access_matrix.py, which runs
every policy table against the sample data.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "access_policy_api", Path(__file__).parent.parent / "access_policy_api.py"
)
policy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(policy)

_apps_spec = importlib.util.spec_from_file_location(
    "access_policy_applications", Path(__file__).parent.parent / "access_policy_applications.py"
)
apps_policy = importlib.util.module_from_spec(_apps_spec)
_apps_spec.loader.exec_module(apps_policy)

API_BLUEPRINTS = {"enterprises", "patents", "needs", "funders", "products", "outcomes",
                  "api-docs", "api_ui"}  # fmt: skip


def test_every_api_rule_and_method_has_an_entry(app):
    rules = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in API_BLUEPRINTS
        for method in rule.methods
    }
    # The applications' routes on these blueprints (pick-up) have their entries there.
    theirs = {rule for _method, rule in apps_policy.APPLICATIONS_POLICY}
    assert {(m, r) for m, r in rules if r not in theirs} == set(policy.API_POLICY)
    for statuses in policy.API_POLICY.values():
        assert set(statuses) == set(policy.ROLES)


def test_row_refs_resolve_in_the_sample(lookup, sample_data):
    for kind, ref in policy.ROW_REFS.values():
        assert isinstance(lookup(kind, ref), int), (kind, ref)
    need_id = lookup("need", "N-001")
    assert policy.api_url("/api/v1/needs/<int:need_id>", lookup) == f"/api/v1/needs/{need_id}"
