"""The operator console: verify institutions, suspend accounts, read the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from techfin import reference
from techfin.errors import DomainError
from techfin.models import FUNDER_STATUSES, Funder, User
from techfin.services import accounts, catalog, moderation
from techfin.services.moderation import AuditFilters
from techfin.web.labels import LABELS, label
from techfin.web.operator_forms import AuditFilterForm, RejectForm, UserFilterForm
from techfin.web.util import (
    acting_user,
    apply_domain_error,
    flash_domain_error,
    found_or_404,
    guard,
    safe_next,
)

bp = Blueprint("operator", __name__, url_prefix="/operator")
bp.before_request(guard(lambda user: user.is_operator))


def _valid(field):  # noqa: ANN001, ANN202
    """A filter field's value, or None when it is blank or was refused (and reported)."""
    return None if field.errors or field.data in ("", None) else field.data


# ------------------------------------------------------------------ institutions


@bp.route("/institutions")
def institutions():
    status = request.args.get("status", "pending")
    status = status if status in (*FUNDER_STATUSES, "all") else "pending"
    page = moderation.funders(acting_user(), status, request.args.get("page", 1))
    kinds = [(k, label("funder_kind", k)) for k in LABELS["funder_kind"]]
    return render_template("operator/institutions.html", page=page, status=status, kinds=kinds)


@bp.route("/institutions/<id:funder_id>/verify", methods=["POST"])
def verify(funder_id: int):
    funder = found_or_404(Funder, funder_id)
    catalog.verify_funder(acting_user(), funder, approve=True)
    flash(_("%(name)s is verified.", name=funder.name), "success")
    return redirect(url_for(".institutions"))


@bp.route("/institutions/<id:funder_id>/kind", methods=["POST"])
def correct_kind(funder_id: int):
    funder = found_or_404(Funder, funder_id)
    try:
        catalog.correct_funder_kind(acting_user(), funder, request.form.get("kind", ""))
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("%(name)s is now: %(kind)s.", name=funder.name, kind=label("funder_kind", funder.kind)),
              "success")  # fmt: skip
    status = request.form.get("status")
    status = status if status in (*FUNDER_STATUSES, "all") else "pending"
    return redirect(url_for(".institutions", status=status))


@bp.route("/institutions/<id:funder_id>/reject", methods=["GET", "POST"])
def reject(funder_id: int):
    funder = found_or_404(Funder, funder_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            catalog.verify_funder(acting_user(), funder, approve=False, reason=form.reason.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("%(name)s was rejected; the reason is on its dashboard.", name=funder.name),
                  "success")  # fmt: skip
            return redirect(url_for(".institutions"))
    return render_template("operator/reject.html", form=form, funder=funder)


# ------------------------------------------------------------------ users


@bp.route("/users")
def users():
    form = UserFilterForm(formdata=request.args)
    form.validate()
    page = moderation.users(
        acting_user(),
        q=_valid(form.q) or "",
        role=_valid(form.role),
        page=request.args.get("page", 1),
    )
    return render_template(
        "operator/users.html", form=form, page=page, can_manage=accounts.can_manage
    )


def _set_active(user_id: int, active: bool):  # noqa: ANN202
    target = found_or_404(User, user_id)
    try:
        moderation.set_user_active(acting_user(), target, active)
    except DomainError as err:
        flash_domain_error(err)
    else:
        message = _("%(email)s can log in again.") if active else _("%(email)s is suspended.")
        flash(message % {"email": target.email}, "success")
    return redirect(safe_next(request.form.get("next"), url_for(".users")))


@bp.route("/users/<id:user_id>/suspend", methods=["POST"])
def suspend(user_id: int):
    return _set_active(user_id, False)


@bp.route("/users/<id:user_id>/reactivate", methods=["POST"])
def reactivate(user_id: int):
    return _set_active(user_id, True)


# ------------------------------------------------------------------ audit log and reference data


@bp.route("/audit")
def audit():
    form = AuditFilterForm(formdata=request.args)
    form.set_vocabulary(*moderation.audit_vocabulary())
    form.validate()
    filters = AuditFilters(
        action=_valid(form.action),
        actor=_valid(form.actor),
        object_type=_valid(form.object_type),
        date_from=_valid(form.date_from),
        date_to=_valid(form.date_to),
    )
    page = moderation.audit_log(acting_user(), filters, request.args.get("page", 1))
    return render_template("operator/audit.html", form=form, page=page)


@bp.route("/reference")
def reference_data():
    counts = {
        "industries": len(reference.industries()),
        "regions": len(reference.regions()),
        "sme_rules": len(reference.sme_rules()),
    }
    return render_template("operator/reference.html", counts=counts, rules=reference.sme_rules())


# ------------------------------------------------------------------ system (task queue)


@bp.route("/system")
def system():
    from flask import current_app

    from techfin.services import applications, jobs

    status = jobs.system_status(current_app.config["SCHEDULE"])
    overdue = applications.overdue(acting_user(), limit=100)
    return render_template("operator/system.html", status=status, overdue=overdue)


@bp.route("/system/failures/<id:failure_id>/retry", methods=["POST"])
def retry_task(failure_id: int):
    from techfin.services import jobs

    try:
        jobs.retry_failure(acting_user(), failure_id)
    except DomainError as err:
        if err.status == 404:
            abort(404)
        flash_domain_error(err)
        return redirect(url_for("operator.system"))
    flash(_("The task is back on the queue."), "success")
    return redirect(url_for("operator.system"))
