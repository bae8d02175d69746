"""Dealflow for verified institutions (and operators): published needs, enterprise pages."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from techfin.errors import NotFound
from techfin.services import marketplace, reports
from techfin.web.dealflow_forms import NeedFilterForm
from techfin.web.util import acting_user, guard, is_institution_user

bp = Blueprint("dealflow", __name__, url_prefix="/dealflow")
bp.before_request(guard(lambda u: u.is_operator or is_institution_user(u)))


@bp.before_request
def _verified_only():
    if request.method == "OPTIONS":
        return None
    if not marketplace.can_browse_dealflow(acting_user()):
        return render_template("institution/unverified.html"), 403
    return None


@bp.route("/needs")
def needs():
    form = NeedFilterForm(formdata=request.args)
    kind = form.kind.data if form.validate() else None
    page = marketplace.published_needs(acting_user(), kind or None, request.args.get("page", 1))
    return render_template("dealflow/needs.html", form=form, page=page)


@bp.route("/enterprises/<id:enterprise_id>")
def enterprise(enterprise_id: int):
    try:
        view = marketplace.view_enterprise(acting_user(), enterprise_id)
    except NotFound:
        abort(404)
    return render_template("dealflow/enterprise.html", view=view, e=view.enterprise)


@bp.route("/enterprises/<id:enterprise_id>.<any(csv, xlsx):fmt>")
def enterprise_export(enterprise_id: int, fmt: str):
    try:
        table = marketplace.export_enterprise(acting_user(), enterprise_id)
    except NotFound:
        abort(404)
    response = Response(reports.render(table, fmt), mimetype=reports.mimetype(fmt))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{reports.download_name(table, fmt)}"'
    )
    return response
