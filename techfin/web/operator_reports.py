"""Operator reports: the risk-reserve pools (with the bank's quarterly table and its
reconciliation) and the operator dashboard. Access is decided by the services."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from techfin.errors import DomainError, Forbidden
from techfin.localtime import beijing_today
from techfin.models import Enterprise
from techfin.money import wan_with_unit
from techfin.services import dashboard, dashboard_reports, lookup, reports, upload_jobs, uploads
from techfin.services import pool as pools
from techfin.web.operator_reports_forms import (
    CompensationForm,
    ContributionForm,
    ImportForm,
    MemberForm,
    PeriodForm,
    PoolForm,
    QuarterForm,
    ReconcileForm,
)
from techfin.web.util import acting_user, apply_domain_error, flash_domain_error, guard

bp = Blueprint("operations", __name__, url_prefix="/operations")
bp.before_request(guard(lambda user: True))


def _download(table: reports.Table, fmt: str) -> Response:
    body = reports.render(table, fmt)
    response = Response(body, mimetype=reports.mimetype(fmt))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{reports.download_name(table, fmt)}"'
    )
    return response


# ------------------------------------------------------------------ pools


def _pool(pool_id: int, manage: bool = False):  # noqa: ANN202
    user = acting_user()
    pool = pools.get_pool(user, pool_id)
    if manage and not pools.can_manage(user):
        raise Forbidden(_("You may not manage this risk-reserve pool."))
    return pool


def _quarters() -> list:
    return [(q, q) for q in pools.recent_quarters()]


def _quarter_arg(form) -> str:  # noqa: ANN001
    quarter = form.quarter.data if form.quarter.data in dict(_quarters()) else None
    return quarter or pools.recent_quarters()[0]


@bp.route("/pools")
def pool_list():
    items = pools.visible_pools(acting_user())
    figures = {p.id: pools.summary(p) for p in items}
    return render_template("pool/list.html", pools=items, figures=figures)


@bp.route("/pools/new", methods=["GET", "POST"])
@bp.route("/pools/<id:pool_id>/edit", methods=["GET", "POST"])
def pool_edit(pool_id: int | None = None):
    user = acting_user()
    pool = _pool(pool_id, manage=True) if pool_id else None
    if pool is None and not pools.can_manage(user):
        raise Forbidden(_("You may not manage this risk-reserve pool."))
    form = PoolForm(obj=pool)
    form.set_choices(pools.bank_choices(), pools.loan_product_choices())
    if pool is not None and not request.form:  # a GET, or a POST of nothing: keep the products
        form.product_ids.data = [p.id for p in pool.products]
    if form.validate_on_submit():
        data = {k: form[k].data for k in ("name", "funder_id", "leverage_cap",
                                           "compensation_pct", "product_ids", "description")}  # fmt: skip
        try:
            pool = pools.save_pool(user, pool, data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("The pool is saved."), "success")
            return redirect(url_for(".pool_detail", pool_id=pool.id))
    return render_template("pool/edit.html", form=form, pool=pool)


@bp.route("/pools/<id:pool_id>")
def pool_detail(pool_id: int):
    pool = _pool(pool_id)
    figures = pools.summary(pool)
    return render_template("pool/detail.html", pool=pool, s=figures,
                           manage=pools.can_manage(acting_user()),
                           quarters=pools.recent_quarters())  # fmt: skip


@bp.route("/pools/<id:pool_id>/contributions", methods=["GET", "POST"])
def pool_contribution(pool_id: int):
    pool = _pool(pool_id, manage=True)
    form = ContributionForm()
    if form.validate_on_submit():
        try:
            pools.add_contribution(acting_user(), pool, form.contributor.data,
                                   form.amount_cny.cny, form.date.data, form.note.data)  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("The contribution is recorded."), "success")
            return redirect(url_for(".pool_detail", pool_id=pool.id))
    return render_template("pool/form.html", form=form, pool=pool,
                           heading=_("Record a contribution"))  # fmt: skip


@bp.route("/pools/<id:pool_id>/enterprises", methods=["GET", "POST"])
def pool_members(pool_id: int):
    from techfin.web.forms import options

    pool = _pool(pool_id, manage=True)
    form = MemberForm()
    q = request.args.get("q", "")
    found = (pools.enterprise_choice(request.form.get("enterprise_id"))
             if request.method == "POST" else pools.member_candidates(acting_user(), pool, q))  # fmt: skip
    form.enterprise_id.choices = options([("", _("Choose…")), *found])
    if request.method == "GET":
        form.date.data = beijing_today()
    if form.validate_on_submit():
        enterprise = lookup.find(Enterprise, form.enterprise_id.data)
        try:
            pools.add_member(acting_user(), pool, enterprise, form.date.data, form.note.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("%(name)s is on the recommended list.", name=enterprise.name), "success")
            return redirect(url_for(".pool_members", pool_id=pool.id))
    return render_template("pool/members.html", form=form, pool=pool, q=q, found=found)


@bp.route("/pools/<id:pool_id>/enterprises/<id:enterprise_id>/remove", methods=["POST"])
def pool_member_remove(pool_id: int, enterprise_id: int):
    pool = _pool(pool_id, manage=True)
    try:
        pools.remove_member(acting_user(), pool, enterprise_id)
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("Removed from the recommended list."), "success")
    return redirect(url_for(".pool_members", pool_id=pool.id))


@bp.route("/pools/<id:pool_id>/compensations", methods=["GET", "POST"])
def pool_compensation(pool_id: int):
    from techfin.web.forms import options

    pool = _pool(pool_id, manage=True)
    form = CompensationForm()
    candidates = pools.compensation_candidates(pool)
    form.outcome_id.choices = options([("", _("Choose…"))] + [
        (ln.outcome_id, f"{ln.enterprise_name} · {wan_with_unit(ln.amount_cny, exact=True)} · "
                        f"{ln.issued.isoformat()}") for ln in candidates])  # fmt: skip
    if form.validate_on_submit():
        try:
            pools.record_compensation(
                acting_user(), pool, form.outcome_id.data, defaulted_on=form.defaulted_on.data,
                loss_cny=form.loss_cny.cny, paid_on=form.paid_on.data,
                amount_cny=form.amount_cny.cny, note=form.note.data)  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("The compensation is recorded."), "success")
            return redirect(url_for(".pool_detail", pool_id=pool.id))
    return render_template("pool/form.html", form=form, pool=pool,
                           heading=_("Record a default and its compensation"))  # fmt: skip


@bp.route("/pools/<id:pool_id>/report")
def pool_report(pool_id: int):
    pool = _pool(pool_id)
    form = QuarterForm(formdata=request.args)
    form.quarter.choices = _quarters()
    quarter = _quarter_arg(form)
    form.quarter.data = quarter
    table = pools.quarter_table(pool, quarter)
    return render_template("pool/report.html", pool=pool, form=form, table=table,
                           quarter=quarter)  # fmt: skip


@bp.route("/pools/<id:pool_id>/report.<any(csv, xlsx):fmt>")
def pool_report_file(pool_id: int, fmt: str):
    pool = _pool(pool_id)
    quarter = request.args.get("quarter", "")
    try:
        pools.parse_quarter(quarter)
    except ValueError:
        abort(404)
    return _download(pools.quarter_table(pool, quarter), fmt)


FORM_OVERHEAD = 64 * 1024


def _allow_upload() -> str | None:
    """Raise this request's body limit to the upload cap (the app-wide one stays small);
    an over-large body is a field message, not an error page."""
    limit = uploads.limits()["UPLOAD_MAX_BYTES"]
    request.max_content_length = limit + FORM_OVERHEAD
    try:
        request.files  # noqa: B018 - parse now, under the raised limit
    except RequestEntityTooLarge:
        return uploads.too_large_text(limit)
    return None


@bp.route("/pools/<id:pool_id>/reconcile", methods=["GET", "POST"])
def pool_reconcile(pool_id: int):
    pool = _pool(pool_id)
    too_large = _allow_upload() if request.method == "POST" else None
    form = ReconcileForm(formdata=None) if too_large else ReconcileForm()
    form.quarter.choices = _quarters()
    if too_large:
        form.file.errors = [too_large]
    elif form.validate_on_submit():
        upload = form.file.data
        try:
            job = pools.reconcile_upload(acting_user(), pool, form.quarter.data,
                                         upload.filename, upload.stream)  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            return redirect(url_for(".pool_reconciliation", pool_id=pool.id, job_id=job.id))
    jobs = pools.reconciliations(acting_user(), pool)
    status = 413 if too_large else 200
    return render_template("pool/reconcile.html", pool=pool, form=form, jobs=jobs), status


@bp.route("/pools/<id:pool_id>/reconcile/<id:job_id>")
def pool_reconciliation(pool_id: int, job_id: int):
    pool = _pool(pool_id)
    job = pools.reconciliation_job(acting_user(), pool, job_id)
    return render_template("pool/reconciliation.html", pool=pool, job=job, result=job.result)


@bp.route("/pools/<id:pool_id>/reconcile/<id:job_id>/status")
def pool_reconciliation_status(pool_id: int, job_id: int):
    """What the job page polls while the file is checked (no timed reload)."""
    job = pools.reconciliation_job(acting_user(), _pool(pool_id), job_id)
    return jsonify({"status": job.status, "finished": job.finished})


def _reconciliation_labels() -> tuple[dict[str, str], list[str]]:
    labels = {
        "title": _("Reconciliation"),
        "not_recommended": _("Not on the recommended list"),
        "missing_in_records": _("Not in the platform's records"),
        "missing_in_bank": _("Missing from the bank's table"),
        "differs": _("Amounts or dates differ"),
        "error": _("Row with errors"),
        "amount_cny": _("Amount (yuan)"),
        "issued": _("Issued"),
        "matures": _("Matures"),
        "rate": _("Rate (%%)") % {},  # the catalogue's msgid is a format string
    }
    headers = [_("Finding"), _("Row"), _("Enterprise"), _("Unified social credit code"),
               _("Amount (yuan)"), _("Issued"), _("Differences (bank / records)")]  # fmt: skip
    return labels, headers


@bp.route("/pools/<id:pool_id>/reconcile/<id:job_id>.<any(csv, xlsx):fmt>")
def pool_reconciliation_file(pool_id: int, job_id: int, fmt: str):
    pool = _pool(pool_id)
    job = pools.reconciliation_job(acting_user(), pool, job_id)
    if job.status != "done":
        abort(404)
    labels, headers = _reconciliation_labels()
    return _download(pools.result_table(job, labels, headers), fmt)


# ------------------------------------------------------------------ imports


@bp.route("/imports", methods=["GET", "POST"])
def imports():
    user = acting_user()
    jobs = upload_jobs.import_jobs(user)  # operators only (403 for anyone else)
    too_large = _allow_upload() if request.method == "POST" else None
    form = ImportForm(formdata=None) if too_large else ImportForm()
    if too_large:
        form.file.errors = [too_large]
    elif form.validate_on_submit():
        upload = form.file.data
        try:
            job = upload_jobs.submit_import(user, upload.stream, upload.filename,
                                            bool(form.skip_invalid.data))  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            return redirect(url_for(".import_job", job_id=job.id))
    status = 413 if too_large else (422 if form.errors else 200)
    return render_template("operator/imports.html", form=form, jobs=jobs), status


@bp.route("/imports/<id:job_id>")
def import_job(job_id: int):
    job = upload_jobs.import_job(acting_user(), job_id)
    return render_template("operator/import_job.html", job=job, result=job.result)


@bp.route("/imports/<id:job_id>/status")
def import_job_status(job_id: int):
    job = upload_jobs.import_job(acting_user(), job_id)
    return jsonify({"status": job.status, "finished": job.finished})


# ------------------------------------------------------------------ dashboard


def _period(form: PeriodForm) -> dashboard.Period:
    valid = form.validate()
    start = form.date_from.data if valid else None
    end = form.date_to.data if valid else None
    days = form.days.data if valid and form.days.data else dashboard.DEFAULT_UNATTENDED_DAYS
    return dashboard.period(start, end, days)


@bp.route("/dashboard")
def dashboard_page():
    form = PeriodForm(formdata=request.args)
    period = _period(form)
    reading = dashboard_reports.read(acting_user(), period, str(get_locale()))
    return render_template("dashboard/index.html", form=form, d=reading.dashboard,
                           reading=reading, period=period)  # fmt: skip


@bp.route("/dashboard/status")
def dashboard_status():
    period = _period(PeriodForm(formdata=request.args))
    return jsonify(dashboard_reports.status(acting_user(), period))


@bp.route("/dashboard/refresh", methods=["POST"])
def dashboard_refresh():
    period = _period(PeriodForm(formdata=request.args))
    dashboard_reports.refresh_now(acting_user(), period)
    return redirect(url_for("operations.dashboard_page", **period.query()))


@bp.route("/dashboard/export/<any(csv, xlsx):fmt>/<table>")
def dashboard_export(fmt: str, table: str):
    period = _period(PeriodForm(formdata=request.args))
    reading = dashboard_reports.read(acting_user(), period, str(get_locale()))
    if reading.dashboard is None:
        flash(_("The figures of this period are being computed; download them in a moment."),
              "info")  # fmt: skip
        return redirect(url_for("operations.dashboard_page", **period.query()))
    found = reading.dashboard.table(table)
    if found is None:
        abort(404)
    return _download(found, fmt)


def init_app(app) -> None:  # noqa: ANN001
    from techfin.web.operations_form_parts import ops_label

    app.jinja_env.globals["ops_label"] = ops_label
