"""The search page."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from techfin import reference
from techfin.i18n import current_locale
from techfin.services import search as search_service
from techfin.web.labels import LABELS, label

bp = Blueprint("search", __name__, url_prefix="/search")

# The labels live in web/labels.py (one table for every code shown to people).
TYPE_LABELS = LABELS["search_type"]
FACET_LABELS = LABELS["search_facet"]
_KIND_GROUPS = ("need_kind", "funder_kind", "patent_kind", "ip_kind")


def value_label(facet: str, value: str) -> str:
    """A facet value as a person reads it, in the page's language."""
    locale = "en" if current_locale() == "en" else "zh"
    if facet in ("section", "industry"):
        return reference.industry_name(value, locale) or value
    if facet in ("province", "city", "region"):
        code = value.ljust(6, "0")
        return reference.region_name(code, locale) or value
    if facet == "type":
        return str(TYPE_LABELS.get(value, value))
    if facet == "kind":
        if value == "enterprise":  # an enterprise's search record has no finer kind
            return label("search_type", value)
        for group in _KIND_GROUPS:
            text = label(group, value)
            if text != value:
                return text
        return value
    group = {"stage": "stage", "size": "sme_size", "status": "search_status"}.get(facet)
    return label(group, value) if group else value


@bp.route("/")
@login_required
def index():
    result = search_service.search(current_user, request.args.to_dict())
    return render_template(
        "search/index.html", r=result, types=search_service.TYPES, type_labels=TYPE_LABELS,
        facet_labels=FACET_LABELS, value_label=value_label,
    )  # fmt: skip
