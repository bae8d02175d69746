"""Browsable API docs: Swagger UI from vendored assets, started by a static script (CSP)."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

bp = Blueprint("api_ui", __name__)


@bp.route("/api/v1/docs")
def swagger_ui() -> str:
    return render_template("api/swagger_ui.html", spec_url=url_for("api-docs.openapi_json"))
