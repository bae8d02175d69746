"""Thin page blueprints; every action calls a service function."""

from __future__ import annotations

from flask import Blueprint, Flask, request, url_for
from flask_babel import get_locale
from werkzeug.routing import IntegerConverter, Map


def lang_url(code: str) -> str:
    """This page in another language, keeping its query arguments."""
    rule = request.url_rule
    if request.endpoint and rule is not None and "GET" in (rule.methods or ()):
        values = {**request.args.to_dict(), **(request.view_args or {}), "lang": code}
        return url_for(request.endpoint, **values)
    return "?lang=" + code


class IdConverter(IntegerConverter):
    """<id:name>: a database id, 1 … 2³¹-1; anything larger is a 404, not a database error."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


def _sme_label(size: str | None) -> str:
    from techfin.web.labels import label

    return label("sme_size", size)


def blueprints() -> list[Blueprint]:
    """Every page blueprint: the one list the application registers (the API's is
    techfin/api/__init__.py's BLUEPRINTS)."""
    from techfin.web import (
        admin,
        applications,
        auth,
        dealflow,
        digests,
        documents,
        enterprise,
        events,
        institution,
        league,
        main,
        marketplace,
        matching,
        notifications,
        operator,
        operator_reports,
        reference,
        search,
    )

    return [
        auth.bp, main.bp, reference.bp, enterprise.bp, institution.bp, dealflow.bp,
        marketplace.bp, operator.bp, admin.bp, documents.bp, applications.bp,
        notifications.bp, search.bp, digests.bp, matching.bp, operator_reports.bp,
        events.bp, events.rec_bp, league.bp,
    ]  # fmt: skip


def init_app(app: Flask) -> None:
    from techfin.web import events, notifications, operator_reports
    from techfin.web.fields import industry_label, region_label
    from techfin.web.labels import (
        COMPLETENESS,
        audit_detail,
        label,
        outcome_note,
        rate_name,
        span,
        stage_label,
        stage_labels,
    )
    from techfin.web.util import with_query

    app.url_map.converters["id"] = IdConverter
    for bp in blueprints():
        app.register_blueprint(bp)
    # Template globals some blueprints' pages share (the navigation's badges, labels).
    for module in (notifications, events, operator_reports):
        module.init_app(app)
    app.jinja_env.globals.update(
        label=label,
        stage_label=stage_label,
        stage_labels=stage_labels,
        rate_name=rate_name,
        span=span,
        completeness_text=COMPLETENESS,
        lang_url=lang_url,
        with_query=with_query,
        region_label=region_label,
        industry_label=industry_label,
        locale_name=lambda: str(get_locale() or "zh_CN"),
        has_endpoint=lambda name: name in app.view_functions,
    )
    app.jinja_env.filters["sme"] = _sme_label
    app.jinja_env.filters["audit_detail"] = audit_detail
    app.jinja_env.filters["outcome_note"] = outcome_note
    app.jinja_env.filters["ip_kind_label"] = lambda kind: label("ip_kind", kind)
