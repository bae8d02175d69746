"""Expected status of every page route for every role: the pages' part of the access matrix.

Read by tests/integration/test_access_matrix.py, which merges every
tests/integration/access_policy_*.py module's `*_POLICY` dicts. Format (shared with the API's
access_policy_api.py):

- `WEB_POLICY[(METHOD, rule)] = {role: expected}` for every role in ROLES; `expected` is a
  status code, a tuple of acceptable codes, or LOGIN (a 302 to the login page). HEAD may be
  left out (it answers as GET) and so may OPTIONS (200 without authentication).
- `ROW_REFS[url variable] = (record type, sample ref)` fills the rule's <variables>; `URLS`
  overrides the URL of one (METHOD, rule); `SETUP(ctx)` adds rows after the sample import.
- Requests: a session for the role's account (ROLE_ACCOUNTS); POSTs send an empty body. With
  no form data at all Flask-WTF validates the values already on record, so an edit form of a
  valid record saves it unchanged (302) while a new-record form re-renders its messages (200).
  The database is re-seeded after any request that may have changed it (a non-GET below 400).

Setup: E-001 (published need N-001, patents PT-001 and the confidential PT-002) is the
enterprise's; F-001 (verified bank, product P-001) and F-002 (unverified VC) are the
institutions'; every account owns its organisation. SETUP adds a member of F-001 (to remove,
suspend and reactivate), an invited account (for the welcome link) and E-001's sharing rule.
"""

from __future__ import annotations

from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"

ROW_REFS: dict[str, tuple[str, str]] = {
    "enterprise_id": ("enterprise", "E-001"),
    "patent_id": ("patent", "PT-001"),
    "need_id": ("need", "N-001"),
    "product_id": ("product", "P-001"),
    "funder_id": ("funder", "F-001"),
    "user_id": ("user", "member@f001.test"),
    "rule_id": ("sharing_rule", "E-001"),
    "token": ("invite_token", "invitee@f001.test"),
    "kind": ("literal", "regions"),
    "fmt": ("literal", "csv"),
    "failure_id": ("literal", "999999"),  # no failed task: the operator gets a 404
}

URLS: dict[tuple[str, str], str] = {
    ("GET", "/auth/reset/<token>"): "/auth/reset/not-a-valid-token",
    ("POST", "/auth/reset/<token>"): "/auth/reset/not-a-valid-token",
    ("GET", "/reference/<any(regions, industries):kind>"): "/reference/regions?q=中山",
}


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.extensions import db
    from techfin.models import SharingRule

    ctx.add_user("member@f001.test", "bank", "F-001", org_role="member")
    ctx.add_user("invitee@f001.test", "bank", "F-001", org_role="member")
    enterprise_id = ctx.lookup("enterprise", "E-001")
    db.session.add(SharingRule(enterprise_id=enterprise_id, funder_id=None,
                               financials=True, patents=True))  # fmt: skip
    db.session.commit()


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


PUBLIC = _s(200, 200, 200, 200, 200)
ANY_USER = _s(LOGIN, 200, 200, 200, 200)
# The workspaces: each role's pages refuse the others with 403.
ENTERPRISE = _s(LOGIN, 200, 403, 403, 403)
ENTERPRISE_ACT = _s(LOGIN, 302, 403, 403, 403)
INSTITUTION = _s(LOGIN, 403, 200, 200, 403)
OPERATOR = _s(LOGIN, 403, 403, 403, 200)
OPERATOR_ACT = _s(LOGIN, 403, 403, 403, 302)
# Verified institutions and operators only; an unverified institution is told why (403).
DEALFLOW = _s(LOGIN, 403, 403, 200, 200)
# F-001's rows: F-002's staff get 404 (another organisation's ids are not confirmed).
OWN_PRODUCT = _s(LOGIN, 403, 404, 200, 403)
OWN_PRODUCT_ACT = _s(LOGIN, 403, 404, 302, 403)

WEB_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    # start page, health, reference lookups (public: the registration form uses them)
    ("GET", "/"): _s(200, 302, 302, 302, 302),
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/ping"): PUBLIC,
    ("GET", "/reference/<any(regions, industries):kind>"): PUBLIC,
    ("GET", "/dashboard"): ANY_USER,
    # accounts: an empty POST re-renders the form with its messages
    ("GET", "/auth/login"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/logout"): _s(302, 302, 302, 302, 302),
    ("GET", "/auth/register"): PUBLIC,
    ("POST", "/auth/register"): PUBLIC,
    ("GET", "/auth/forgot"): PUBLIC,
    ("POST", "/auth/forgot"): PUBLIC,
    ("GET", "/auth/reset/<token>"): PUBLIC,
    ("POST", "/auth/reset/<token>"): PUBLIC,
    ("GET", "/auth/welcome/<token>"): PUBLIC,
    ("POST", "/auth/welcome/<token>"): PUBLIC,
    ("GET", "/auth/account"): ANY_USER,
    ("POST", "/auth/account"): ANY_USER,
    # enterprise workspace (E-001's own rows)
    ("GET", "/enterprise/profile"): ENTERPRISE,
    ("POST", "/enterprise/profile"): ENTERPRISE_ACT,
    ("GET", "/enterprise/patents"): ENTERPRISE,
    ("GET", "/enterprise/patents/new"): ENTERPRISE,
    ("POST", "/enterprise/patents/new"): ENTERPRISE,
    ("GET", "/enterprise/patents/<id:patent_id>/edit"): ENTERPRISE,
    ("POST", "/enterprise/patents/<id:patent_id>/edit"): ENTERPRISE_ACT,
    ("POST", "/enterprise/patents/<id:patent_id>/delete"): ENTERPRISE_ACT,
    ("GET", "/enterprise/needs"): ENTERPRISE,
    ("GET", "/enterprise/needs/new"): ENTERPRISE,
    ("POST", "/enterprise/needs/new"): ENTERPRISE,
    ("GET", "/enterprise/needs/<id:need_id>"): ENTERPRISE,
    ("GET", "/enterprise/needs/<id:need_id>/edit"): ENTERPRISE,
    # (the amount is required as typed input, so this one re-renders)
    ("POST", "/enterprise/needs/<id:need_id>/edit"): ENTERPRISE,
    # N-001 is published: publishing again and deleting are refused with a message (302)
    ("POST", "/enterprise/needs/<id:need_id>/publish"): ENTERPRISE_ACT,
    ("GET", "/enterprise/needs/<id:need_id>/close"): ENTERPRISE,
    ("POST", "/enterprise/needs/<id:need_id>/close"): ENTERPRISE,
    ("POST", "/enterprise/needs/<id:need_id>/delete"): ENTERPRISE_ACT,
    ("GET", "/enterprise/sharing"): ENTERPRISE,
    # an empty sharing form is valid: "all institutions, nothing shared"
    ("POST", "/enterprise/sharing"): ENTERPRISE_ACT,
    ("POST", "/enterprise/sharing/<id:rule_id>/delete"): ENTERPRISE_ACT,
    # institution workspace
    ("GET", "/institution/profile"): INSTITUTION,
    ("POST", "/institution/profile"): _s(LOGIN, 403, 302, 302, 403),
    ("GET", "/institution/team"): INSTITUTION,
    ("POST", "/institution/team"): INSTITUTION,
    ("POST", "/institution/team/<id:user_id>/remove"): _s(LOGIN, 403, 404, 302, 403),
    ("GET", "/institution/products"): INSTITUTION,
    ("GET", "/institution/products/new"): INSTITUTION,
    ("POST", "/institution/products/new"): INSTITUTION,
    ("GET", "/institution/products/<id:product_id>/edit"): OWN_PRODUCT,
    ("POST", "/institution/products/<id:product_id>/edit"): OWN_PRODUCT_ACT,
    ("POST", "/institution/products/<id:product_id>/status"): OWN_PRODUCT_ACT,
    # dealflow
    ("GET", "/dealflow/needs"): DEALFLOW,
    ("GET", "/dealflow/enterprises/<id:enterprise_id>"): DEALFLOW,
    ("GET", "/dealflow/enterprises/<id:enterprise_id>.<any(csv, xlsx):fmt>"): DEALFLOW,
    # marketplace: every logged-in user
    ("GET", "/marketplace"): ANY_USER,
    ("GET", "/marketplace/products/<id:product_id>"): ANY_USER,
    # operator console
    ("GET", "/operator/institutions"): OPERATOR,
    ("POST", "/operator/institutions/<id:funder_id>/verify"): OPERATOR_ACT,
    ("POST", "/operator/institutions/<id:funder_id>/kind"): OPERATOR_ACT,
    ("GET", "/operator/institutions/<id:funder_id>/reject"): OPERATOR,
    ("POST", "/operator/institutions/<id:funder_id>/reject"): OPERATOR,
    ("GET", "/operator/users"): OPERATOR,
    ("POST", "/operator/users/<id:user_id>/suspend"): OPERATOR_ACT,
    ("POST", "/operator/users/<id:user_id>/reactivate"): OPERATOR_ACT,
    ("GET", "/operator/audit"): OPERATOR,
    ("GET", "/operator/reference"): OPERATOR,
    ("GET", "/operator/system"): OPERATOR,
    ("POST", "/operator/system/failures/<id:failure_id>/retry"): _s(LOGIN, 403, 403, 403, 404),
}
