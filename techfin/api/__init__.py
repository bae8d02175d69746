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

RESOURCES = (enterprises, patents, needs, funders, products, outcomes, users, documents,
             notifications, applications, imports)  # fmt: skip


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
    for module in RESOURCES:
        api.register_blueprint(module.bp)
    api.register_blueprint(applications.reference_bp)
    for bp in (ip_rights.copyrights_bp, ip_rights.trademarks_bp):
        api.register_blueprint(bp)
    for bp in (discovery.search_bp, discovery.matches_bp, discovery.me_bp):
        api.register_blueprint(bp)
    app.register_blueprint(docs.bp)
    return api
