"""Thin page blueprints; every action calls a service function."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, request, url_for
from flask_babel import format_datetime, get_locale
from werkzeug.routing import IntegerConverter, Map


def localtime(value: datetime | None) -> str:
    """A naive-UTC timestamp in the platform's time zone (Asia/Shanghai): YYYY-MM-DD HH:mm."""
    if value is None:
        return "—"
    return format_datetime(value, "yyyy-MM-dd HH:mm")


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


def init_app(app: Flask) -> None:
    from techfin.web import (
        admin,
        auth,
        dealflow,
        enterprise,
        institution,
        main,
        marketplace,
        operator,
        reference,
    )
    from techfin.web.fields import industry_label, region_label
    from techfin.web.labels import COMPLETENESS, label
    from techfin.web.util import with_query

    app.url_map.converters["id"] = IdConverter
    for module in (auth, main, reference, enterprise, institution, dealflow, marketplace, operator,
                   admin):  # fmt: skip
        app.register_blueprint(module.bp)
    app.jinja_env.globals.update(
        label=label,
        completeness_text=COMPLETENESS,
        lang_url=lang_url,
        with_query=with_query,
        region_label=region_label,
        industry_label=industry_label,
        locale_name=lambda: str(get_locale() or "zh_CN"),
        has_endpoint=lambda name: name in app.view_functions,
    )
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["sme"] = _sme_label
    app.jinja_env.filters["ip_kind_label"] = lambda kind: label("ip_kind", kind)
