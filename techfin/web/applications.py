"""Application pages: apply (with the consent shown first), "my applications" for the
enterprise, the institution's queue, detail with the transition forms, pick-up, and the
operators' overdue list. Every action calls techfin.services.applications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from techfin.errors import DomainError
from techfin.models import APPLICATION_STATUSES, REPAYMENTS, Need, Product
from techfin.services import access, applications, catalog, documents, lookup
from techfin.services.applications import reasons
from techfin.web.fields import RateField, WanField
from techfin.web.util import acting_user, flash_domain_error, guard

bp = Blueprint("application_pages", __name__, url_prefix="/applications")


def _may_use(user: Any) -> bool:
    return user.is_operator or user.is_enterprise or access.is_verified_institution(user)


bp.before_request(guard(_may_use))


def _locale() -> str:
    return str(get_locale() or "zh_CN")


class TransitionForm(FlaskForm):
    """One form for every move: each move's service function checks what it needs."""

    to = SelectField(_l("Action"), choices=[SelectChoice(s, s) for s in APPLICATION_STATUSES])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    amount_cny = WanField(_l("Amount (万元)"), validators=[Optional()])
    rate = RateField(_l("Annual rate (%)"), validators=[Optional()])
    term_months = IntegerField(_l("Term (months)"), validators=[Optional(), NumberRange(1, 600)])
    issued = DateField(_l("Issued on"), validators=[Optional()])
    matures = DateField(_l("Matures on"), validators=[Optional()])
    repayment = SelectField(_l("Repayment"), choices=[SelectChoice("", "—")] + [SelectChoice(r, r) for r in REPAYMENTS],
                            validators=[Optional()])  # fmt: skip
    reason_code = SelectField(_l("Refusal reason"), choices=[SelectChoice("", "—")] + [
        SelectChoice(r.code, r.code) for r in reasons.REFUSAL_REASONS], validators=[Optional()])  # fmt: skip

    # Which inputs each move sends to the service (the others are left out of the request).
    INPUTS = {
        "approved": ("amount_cny", "rate", "term_months", "note"),
        "disbursed": ("amount_cny", "rate", "issued", "matures", "repayment", "note"),
        "declined": ("reason_code", "note"),
    }

    def values(self) -> dict[str, Any]:
        to = self.to.data
        out: dict[str, Any] = {"to": to}
        for name in self.INPUTS.get(to, ("note",)):
            field = self[name]
            if isinstance(field, WanField):
                value: Any = field.cny
            else:
                value = field.data
            if value in (None, ""):
                continue
            out[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return out


# ------------------------------------------------------------------ lists


@bp.route("")
def app_list():
    user = acting_user()
    status = request.args.get("status") or None
    overdue = [] if not user.is_operator else applications.overdue(user)
    if user.is_operator and request.args.get("overdue"):
        page = None
    else:
        page = applications.page(user, status, request.args.get("page", 1))
    return render_template("applications/list.html", page=page, overdue=overdue, status=status,
                           statuses=APPLICATION_STATUSES, due=applications.overdue_deadline,
                           refusal=reasons.reason)  # fmt: skip


@bp.route("/<id:application_id>")
def app_detail(application_id: int):
    user = acting_user()
    try:
        item = applications.get_visible(user, application_id)
    except DomainError:
        abort(404)
    shared = None
    if applications.is_lender(user, item) and item.consent_at and not item.consent_revoked_at:
        shared = applications.core.shared_data(item)
        catalog.log_data_access(user, item.enterprise_id, "view", f"application {item.id}")
    form = TransitionForm()
    attached = applications.core.attached_documents(item)
    return render_template(
        "applications/detail.html", attached=attached, item=item, allowed=applications.allowed(user, item),
        form=form, reason=reasons.reason(item.reason_code), reasons=reasons.REFUSAL_REASONS,
        locale=_locale(), overdue=applications.overdue_deadline(item), shared=shared,
        is_applicant=applications.is_applicant(user, item),
    )  # fmt: skip


@bp.route("/<id:application_id>/transition", methods=["POST"])
def app_transition(application_id: int):
    user = acting_user()
    try:
        item = applications.get_visible(user, application_id)
    except DomainError:
        abort(404)
    form = TransitionForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            for message in messages:
                flash(str(message), "danger")
        return redirect(url_for(".app_detail", application_id=item.id))
    try:
        applications.transition(user, item, form.values())
    except DomainError as err:
        flash_domain_error(err)
        return redirect(url_for(".app_detail", application_id=item.id))
    flash(_("The application is now: %(status)s.", status=_status_label(item.status)), "success")
    return redirect(url_for(".app_detail", application_id=item.id))


@bp.route("/<id:application_id>/revoke-consent", methods=["POST"])
def app_revoke_consent(application_id: int):
    user = acting_user()
    try:
        item = applications.get_visible(user, application_id)
        applications.revoke_consent(user, item)
    except DomainError as err:
        if err.status == 404:
            abort(404)
        flash_domain_error(err)
        return redirect(url_for(".app_detail", application_id=application_id))
    flash(_("Consent revoked: the institution no longer sees your data for this application, "
            "and the application is withdrawn."), "success")  # fmt: skip
    return redirect(url_for(".app_detail", application_id=item.id))


def _status_label(status: str) -> str:
    from techfin.web.labels import label

    return label("application_status", status)


# ------------------------------------------------------------------ apply and pick up


def _int_arg(name: str) -> int | None:
    value = request.values.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.route("/apply", methods=["GET", "POST"])
def app_apply():
    user = acting_user()
    if not user.is_enterprise:
        abort(403)
    product_id = _int_arg("product_id")
    product = lookup.visible_or_none(user, Product, product_id)
    if product is None:
        abort(404)
    needs = [n for n in applications.need_options(user) if n.kind == product.kind]
    need_id = _int_arg("need_id")
    need = next((n for n in needs if n.id == need_id), None)
    if need is None and len(needs) == 1:
        need = needs[0]
    errors: list[str] = []
    chosen = [int(v) for v in request.form.getlist("document_ids") if v.isdigit() and len(v) < 10]
    if request.method == "POST" and need is not None:
        try:
            item = applications.apply(user, need, product, chosen, locale=_locale())
        except DomainError as err:
            lookup.discard()
            errors = [m for msgs in err.fields.values() for m in msgs] or [err.message]
        else:
            flash(_("Application submitted. The institution owes you a first response by "
                    "%(day)s.", day=item.first_response_due.isoformat()), "success")  # fmt: skip
            return redirect(url_for(".app_detail", application_id=item.id))
    elif request.method == "POST":
        errors = [_("Choose the financing need to apply with.")]
    gaps = applications.gaps(need, product, _locale()) if need is not None else []
    return render_template(
        "applications/apply.html", product=product, needs=needs, need=need, gaps=gaps,
        errors=errors, scope=applications.consent_scope([]), enterprise=user.organization,
        documents=documents.listed(user), chosen=chosen,
    )  # fmt: skip


@bp.route("/pickup/<id:need_id>", methods=["GET", "POST"])
def app_pickup(need_id: int):
    user = acting_user()
    if not access.is_verified_institution(user):
        abort(403)
    need = lookup.visible_or_none(user, Need, need_id)
    if need is None:
        abort(404)
    products = applications.own_active_products(user, need.kind)
    errors: list[str] = []
    if request.method == "POST":
        product = next((p for p in products if p.id == _int_arg("product_id")), None)
        if product is None:
            errors = [_("Choose one of your active products.")]
        else:
            try:
                item = applications.pick_up(user, need, product)
            except DomainError as err:
                lookup.discard()
                errors = [m for msgs in err.fields.values() for m in msgs] or [err.message]
            else:
                flash(_("Picked up. The enterprise is asked to accept; the clock starts when "
                        "it does."), "success")  # fmt: skip
                return redirect(url_for(".app_detail", application_id=item.id))
    return render_template("applications/pickup.html", need=need, products=products,
                           errors=errors)  # fmt: skip
