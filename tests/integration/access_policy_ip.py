"""Access matrix entries of software copyrights and trademarks (issue #15): the API and the
enterprise's pages. See test_access_matrix.py for the format.

SETUP gives E-001 one registered software copyright (CR-001) and one trademark (TM-001);
the sample has no sharing rules, so institutions see neither (404), as with patents. API
writes send an empty JSON body: an allowed POST answers 422 (required fields missing), an
allowed PATCH 200 (nothing to change). Page forms posted empty re-render with their errors
(200); a delete redirects (302).
"""

from __future__ import annotations

from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"

REQUEST_BODY: dict = {}


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


def SETUP(matrix: Any) -> None:  # noqa: N802 - the name test_access_matrix looks up
    from techfin.services.interchange import import_records

    report = import_records([
        ("setup", {"type": "copyright", "ref": "CR-001", "enterprise_ref": "E-001",
                   "number": "2021SR0123456", "title": "灯控软件 V1.0", "status": "registered"}),
        ("setup", {"type": "trademark", "ref": "TM-001", "enterprise_ref": "E-001",
                   "number": "30123456", "name": "明辉", "nice_class": 11,
                   "status": "registered"}),
    ])  # fmt: skip
    assert report.committed, [str(e) for e in report.errors]


def _id(model_name: str, ref: str) -> int:
    from techfin import models
    from techfin.extensions import db

    model = getattr(models, model_name)
    return db.session.execute(db.select(model.id).where(model.ref == ref)).scalar_one()


def _url(template: str, model_name: str, ref: str) -> Any:
    def build(matrix: Any) -> str:
        with matrix.app.app_context():
            return template.format(_id(model_name, ref))

    return build


URLS = {
    ("GET", "/api/v1/copyrights/<int:item_id>"): _url(
        "/api/v1/copyrights/{}", "Copyright", "CR-001"
    ),
    ("GET", "/api/v1/trademarks/<int:item_id>"): _url(
        "/api/v1/trademarks/{}", "Trademark", "TM-001"
    ),
}
for _plural, _model, _ref in (("copyrights", "Copyright", "CR-001"),
                              ("trademarks", "Trademark", "TM-001")):  # fmt: skip
    for _action in ("edit", "delete"):
        _rule = f"/enterprise/{_plural}/<id:item_id>/{_action}"
        URLS[("POST", _rule)] = URLS[("GET", _rule)] = _url(
            f"/enterprise/{_plural}/{{}}/{_action}", _model, _ref
        )

LIST = _s(401, 200, 200, 200, 200)
ONE = _s(401, 200, 404, 404, 200)

IP_POLICY: dict[tuple[str, str], dict[str, Any]] = {}
for _kind in ("copyrights", "trademarks"):
    _one = f"/api/v1/{_kind}/<int:item_id>"
    IP_POLICY.update({
        ("GET", f"/api/v1/{_kind}"): LIST,
        ("POST", f"/api/v1/{_kind}"): _s(401, 422, 403, 403, 422),
        ("GET", _one): ONE,
        ("PATCH", _one): ONE,
        ("DELETE", _one): _s(401, 204, 404, 404, 204),
    })  # fmt: skip

# The enterprise's own pages (as its patents'): others are refused by role (403). An empty
# new-item form is shown again with its errors (200); an edit keeps the stored values (302).
ENTERPRISE = _s(LOGIN, 200, 403, 403, 403)
ENTERPRISE_ACT = _s(LOGIN, 302, 403, 403, 403)
for _plural in ("copyrights", "trademarks"):
    IP_POLICY.update({
        ("GET", f"/enterprise/{_plural}"): ENTERPRISE,
        ("GET", f"/enterprise/{_plural}/new"): ENTERPRISE,
        ("POST", f"/enterprise/{_plural}/new"): ENTERPRISE,
        ("GET", f"/enterprise/{_plural}/<id:item_id>/edit"): ENTERPRISE,
        ("POST", f"/enterprise/{_plural}/<id:item_id>/edit"): ENTERPRISE_ACT,
        ("POST", f"/enterprise/{_plural}/<id:item_id>/delete"): ENTERPRISE_ACT,
    })  # fmt: skip
