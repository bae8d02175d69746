"""The /api/v1 JSON API (flask-smorest) with its OpenAPI document and Swagger UI."""

from __future__ import annotations

from flask import Flask

from techfin.api import (
    applications,
    discovery,
    docs,
    documents,
    enterprises,
    funders,
    imports,
    ip_rights,
    needs,
    notifications,
    outcomes,
    patents,
    products,
    users,
)
from techfin.api.core import TechfinApi

# Every API blueprint, in the order the OpenAPI document lists them.
BLUEPRINTS = (
    enterprises.bp, patents.bp, needs.bp, funders.bp, products.bp, outcomes.bp, users.bp,
    documents.bp, notifications.bp, applications.bp, applications.reference_bp,
    imports.bp, ip_rights.copyrights_bp, ip_rights.trademarks_bp,
    discovery.search_bp, discovery.matches_bp, discovery.me_bp,
)  # fmt: skip


def init_app(app: Flask) -> TechfinApi:
    """Register the API blueprints, the OpenAPI document and the docs page."""
    api = TechfinApi(app, spec_kwargs={"security": [{"bearerAuth": []}]})
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "flask --app wsgi api-token create EMAIL",
        },
    )
    for bp in BLUEPRINTS:
        api.register_blueprint(bp)
    app.register_blueprint(docs.bp)  # the Swagger UI page: not an API resource
    return api
