"""Reference-code lookups for the searchable pickers: GET /reference/regions?q=中山."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from techfin import reference
from techfin.web.fields import industry_label, region_label

bp = Blueprint("reference", __name__, url_prefix="/reference")

LIMIT = 20


@bp.route("/<any(regions, industries):kind>")
def lookup(kind: str):
    """[{code, label}] best first; public, since the registration form uses it too."""
    q = request.args.get("q", "", type=str)[:50]
    if kind == "regions":
        items = [
            {"code": r.code, "label": region_label(r.code)}
            for r in reference.search_regions(q, LIMIT)
        ]
    else:
        items = [
            {"code": i.code, "label": industry_label(i.code)}
            for i in reference.search_industries(q, LIMIT)
        ]
    return jsonify(items)
