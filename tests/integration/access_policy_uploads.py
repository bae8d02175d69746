"""Access matrix entries of uploads worked off the request path (format: see
access_policy_web.py): the reconciliation's job page and its download, the operators'
import pages and the import API.

SETUP adds a pool at F-001 (the verified institution is its partner bank) with one finished
reconciliation the bank uploaded, and one finished import an operator uploaded. Whoever may
view the pool may open its reconciliations (F-002's staff get 404, as for the pool); imports
are the operators' (403 for everyone else). Empty POSTs: the import form re-renders with
its messages (422), the API asks for the file (422).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

ROLES = ("anonymous", "enterprise", "unverified_institution", "verified_institution", "operator")
LOGIN = "login"


def _s(anon: Any, ent: Any, unverified: Any, verified: Any, op: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, ent, unverified, verified, op), strict=True))


def SETUP(ctx: Any) -> None:  # noqa: N802 - the harness looks for this name
    from techfin.extensions import db
    from techfin.models import Funder, Product, RiskPool, UploadJob

    bank = db.session.execute(db.select(Funder).filter_by(ref="F-001")).scalar_one()
    product = db.session.execute(db.select(Product).filter_by(ref="P-001")).scalar_one()
    pool = RiskPool(name="matrix pool", funder=bank, leverage_cap=Decimal(10),
                    compensation_pct=Decimal(50), products=[product])  # fmt: skip
    db.session.add(pool)
    db.session.flush()
    result = {"quarter": "2026Q3", "rows": 0, "matched": 0, "clean": True, "errors": [],
              "discrepancies": []}  # fmt: skip
    reconcile = UploadJob(kind="reconcile", status="done", owner_id=ctx.user_ids["verified_institution"],
                          pool_id=pool.id, params={"quarter": "2026Q3"}, stored_name="x" * 32,
                          filename="q3.xlsx", size=1, result=result, error="")  # fmt: skip
    imported = UploadJob(kind="import", status="done", owner_id=ctx.user_ids["operator"],
                         params={"skip_invalid": False}, stored_name="y" * 32,
                         filename="data.jsonl", size=1, error="",
                         result={"committed": True, "summary": "nothing to import", "records": 0,
                                 "created": {}, "updated": {}, "unchanged": {},
                                 "error_count": 0, "errors": []})  # fmt: skip
    db.session.add_all([reconcile, imported])
    db.session.commit()
    ctx.pool_id, ctx.reconcile_id, ctx.import_id = pool.id, reconcile.id, imported.id


URLS: dict[tuple[str, str], Any] = {
    ("GET", "/operations/pools/<id:pool_id>/reconcile/<id:job_id>"): (
        lambda m: f"/operations/pools/{m.pool_id}/reconcile/{m.reconcile_id}"
    ),
    ("GET", "/operations/pools/<id:pool_id>/reconcile/<id:job_id>.<any(csv, xlsx):fmt>"): (
        lambda m: f"/operations/pools/{m.pool_id}/reconcile/{m.reconcile_id}.xlsx"
    ),
    ("GET", "/operations/imports/<id:job_id>"): lambda m: f"/operations/imports/{m.import_id}",
    ("GET", "/operations/imports/<id:job_id>/status"): (
        lambda m: f"/operations/imports/{m.import_id}/status"
    ),
    ("GET", "/operations/pools/<id:pool_id>/reconcile/<id:job_id>/status"): (
        lambda m: f"/operations/pools/{m.pool_id}/reconcile/{m.reconcile_id}/status"
    ),
    ("GET", "/api/v1/imports/<int:job_id>"): lambda m: f"/api/v1/imports/{m.import_id}",
}

POOL_VIEW = _s(LOGIN, 403, 404, 200, 200)

UPLOADS_POLICY: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/operations/pools/<id:pool_id>/reconcile/<id:job_id>"): POOL_VIEW,
    ("GET", "/operations/pools/<id:pool_id>/reconcile/<id:job_id>.<any(csv, xlsx):fmt>"): POOL_VIEW,
    ("GET", "/operations/imports"): _s(LOGIN, 403, 403, 403, 200),
    ("POST", "/operations/imports"): _s(LOGIN, 403, 403, 403, 422),
    ("GET", "/operations/imports/<id:job_id>"): _s(LOGIN, 403, 403, 403, 200),
    ("GET", "/operations/imports/<id:job_id>/status"): _s(LOGIN, 403, 403, 403, 200),
    ("GET", "/operations/pools/<id:pool_id>/reconcile/<id:job_id>/status"): POOL_VIEW,
    ("POST", "/api/v1/imports"): _s(401, 403, 403, 403, 422),
    ("GET", "/api/v1/imports/<int:job_id>"): _s(401, 403, 403, 403, 200),
}
