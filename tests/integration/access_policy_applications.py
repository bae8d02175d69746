"""Expected status of every application route (pages and API) for every role (see
access_policy_web.py for the format).

SETUP adds two published needs of E-001 — N-APP with a submitted application for P-001
(F-001's product, the one the URLs name) and N-PICK, whose application F-001 declined (so
nobody has an open application for it, and a refusal is there to be shown). The enterprise (E-001) and the
verified bank (F-001) are the application's parties; operators see and supervise all; the
unverified institution (F-002) has no application page at all (403) and the API hides the
application from it (404).
"""

from __future__ import annotations

from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"
REQUEST_BODY: dict = {}


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.extensions import db
    from techfin.models import Need, Product, User
    from techfin.services import applications

    enterprise_id = ctx.lookup("enterprise", "E-001")
    needs = [Need(ref=ref, enterprise_id=enterprise_id, kind="ip_pledge", amount_cny=3_000_000,
                  term_months=12, purpose="matrix", status="published")
             for ref in ("N-APP", "N-PICK")]  # fmt: skip
    db.session.add_all(needs)
    db.session.commit()
    user = db.session.get(User, ctx.user_ids["enterprise"])
    product = db.session.get(Product, ctx.lookup("product", "P-001"))
    applications.apply(user, needs[0], product)
    declined = applications.apply(user, needs[1], product)
    bank = db.session.get(User, ctx.user_ids["verified_institution"])
    applications.transition(bank, declined, {"to": "declined", "reason_code": "credit_record",
                                             "note": "matrix"})  # fmt: skip


def _app_id(ctx: Any) -> int:
    from techfin.extensions import db
    from techfin.models import Application

    with ctx.app.app_context():
        first = db.select(Application.id).order_by(Application.id).limit(1)
        return db.session.execute(first).scalar_one()


def _product_id(ctx: Any) -> int:
    with ctx.app.app_context():
        return ctx.lookup("product", "P-001")


def _app(prefix: str, tail: str = "") -> Any:
    return lambda ctx: f"{prefix}/{_app_id(ctx)}{tail}"


URLS: dict[tuple[str, str], Any] = {
    # POST-only rules: the harness builds their OPTIONS URL from the ("GET", rule) entry
    ("GET", "/applications/<id:application_id>/transition"): _app("/applications", "/transition"),
    ("GET", "/applications/<id:application_id>/revoke-consent"): _app(
        "/applications", "/revoke-consent"
    ),
    ("GET", "/api/v1/applications/<int:application_id>/transitions"): _app(
        "/api/v1/applications", "/transitions"
    ),
    ("GET", "/api/v1/applications/<int:application_id>/consent/revoke"): _app(
        "/api/v1/applications", "/consent/revoke"
    ),
    ("GET", "/applications/<id:application_id>"): _app("/applications"),
    ("POST", "/applications/<id:application_id>/transition"): _app("/applications", "/transition"),
    ("POST", "/applications/<id:application_id>/revoke-consent"): _app(
        "/applications", "/revoke-consent"
    ),
    ("GET", "/applications/apply"): lambda ctx: (
        f"/applications/apply?product_id={_product_id(ctx)}"
    ),
    ("GET", "/api/v1/applications/<int:application_id>"): _app("/api/v1/applications"),
    ("POST", "/api/v1/applications/<int:application_id>/transitions"): _app(
        "/api/v1/applications", "/transitions"
    ),
    ("POST", "/api/v1/applications/<int:application_id>/consent/revoke"): _app(
        "/api/v1/applications", "/consent/revoke"
    ),
    ("GET", "/operations/league.<any(csv, xlsx):fmt>"): lambda ctx: "/operations/league.xlsx",
}

PARTIES_PAGE = _s(LOGIN, 200, 403, 200, 200)

APPLICATIONS_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    # pages: the list and detail for the parties and operators
    ("GET", "/applications"): PARTIES_PAGE,
    ("GET", "/applications/<id:application_id>"): PARTIES_PAGE,
    # an empty form: the move is refused with a message on the detail page (302)
    ("POST", "/applications/<id:application_id>/transition"): _s(LOGIN, 302, 403, 302, 302),
    # the enterprise revokes (302 to the detail); the others are told they may not (302)
    ("POST", "/applications/<id:application_id>/revoke-consent"): _s(LOGIN, 302, 403, 302, 302),
    # apply: enterprises only; without a chosen need (E-001 has three) the page is shown again
    ("GET", "/applications/apply"): _s(LOGIN, 200, 403, 403, 403),
    ("POST", "/applications/apply"): _s(LOGIN, 200, 403, 403, 403),
    # pick-up: verified institutions only; without a product the page is shown again
    ("GET", "/applications/pickup/<id:need_id>"): _s(LOGIN, 403, 403, 200, 403),
    ("POST", "/applications/pickup/<id:need_id>"): _s(LOGIN, 403, 403, 200, 403),
    # API
    ("GET", "/api/v1/applications"): _s(401, 200, 200, 200, 200),
    ("POST", "/api/v1/applications"): _s(401, 422, 403, 403, 403),
    ("GET", "/api/v1/applications/<int:application_id>"): _s(401, 200, 404, 200, 200),
    ("POST", "/api/v1/applications/<int:application_id>/transitions"): _s(401, 422, 404, 422, 422),
    ("POST", "/api/v1/applications/<int:application_id>/consent/revoke"): _s(
        401, 200, 404, 403, 403
    ),
    ("POST", "/api/v1/needs/<int:need_id>/pickup"): _s(401, 403, 403, 422, 403),
    ("GET", "/api/v1/reference/refusal-reasons"): _s(401, 200, 200, 200, 200),
    # the institutions' league table: operators (enterprises only when the platform setting
    # APPLICATION_LEAGUE_FOR_ENTERPRISES is on; off here, as by default)
    ("GET", "/operations/league"): _s(LOGIN, 403, 403, 403, 200),
    ("GET", "/operations/league.<any(csv, xlsx):fmt>"): _s(LOGIN, 403, 403, 403, 200),
    ("GET", "/api/v1/applications/league"): _s(401, 403, 403, 403, 200),
}
