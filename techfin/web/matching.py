"""Matching pages: an enterprise's ranked products and funds per need (with "express
interest"), and the ranked dealflow of institutions with its pipeline of docking steps."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from techfin.errors import DomainError
from techfin.models import Funder, Need, Product
from techfin.services import access, applications, lookup, workspace
from techfin.services import matching as service
from techfin.services.matching.common import LOAN_KINDS
from techfin.web.fields import (
    CleanText,
    LongSelect,
    PositiveAmount,
    RateField,
    RegionField,
    WanField,
)
from techfin.web.form_parts import FilterForm
from techfin.web.forms import options
from techfin.web.labels import choices, label, stage_label
from techfin.web.util import (
    acting_user,
    current_org,
    flash_domain_error,
    form_values,
    guard,
    is_enterprise_user,
    is_institution_user,
    safe_next,
)

bp = Blueprint("matching", __name__)
bp.before_request(guard(lambda _u: True))  # logged in; each view checks the role


def only(check: Callable[[Any], bool]) -> Callable:
    """403 unless the signed-in user passes `check`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not check(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _dealflow_user(user: Any) -> bool:
    return user.is_operator or is_institution_user(user)


# ------------------------------------------------------------------ forms


class InterestForm(FlaskForm):
    product_id = IntegerField(widget=HiddenInput(), validators=[Optional()])
    funder_id = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        if bool(self.product_id.data) == bool(self.funder_id.data):
            self.form_errors.append(_l("Choose a product or a fund."))
            return False
        return True


class DealflowFilterForm(FilterForm):
    # Checked by the service against the user's products (the choices are set from them
    # after it ran).
    product_id = SelectField(_l("Product"), choices=[], default="", validate_choice=False,
                             widget=LongSelect())  # fmt: skip
    kind = SelectField(_l("Kind"), choices=choices("need_kind", blank=_l("Any kind")), default="")
    region = RegionField(_l("Enterprise region"), validators=[Optional()])
    min_score = IntegerField(
        _l("Minimum score (0–100)"),
        validators=[Optional(), NumberRange(0, 100, message=_l("Between 0 and 100."))],
    )


class MoveForm(FlaskForm):
    need_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    product_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    stage = SelectField(_l("Move to"), choices=choices("outcome_stage"))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000), CleanText()])
    amount_cny = WanField(_l("Amount (万元)"), validators=[Optional(), PositiveAmount()])
    rate = RateField(_l("Annual rate, percent"), validators=[Optional()])
    issued = DateField(_l("Issue date"), validators=[Optional()])
    matures = DateField(_l("Maturity date"), validators=[Optional()])
    repayment = SelectField(_l("Repayment"), choices=choices("repayment", blank="—"), default="")
    back = HiddenField()

    # Only parsing here: the terms' rules (maturity after issue, ranges, what a funded step
    # needs) are services/pipeline.py's, whatever the channel.
    FIELDS = ("stage", "note", "amount_cny", "rate", "issued", "matures", "repayment")


# The refused step of a dealflow row, kept for the page that is shown after the redirect:
# its messages go next to the fields of that row, once each (services/pipeline.py and the
# form both say which field is wrong), and what was typed is put back.
_MOVE_KEY = "dealflow_move"
_MOVE_FIELDS = ("stage", "note", "amount_cny", "rate", "issued", "matures", "repayment")


def _keep_refused_move(form: MoveForm, fields: dict[str, list[str]]) -> None:
    errors: dict[str, list[str]] = {}
    for name, messages in fields.items():
        key = name if name in _MOVE_FIELDS else "_row"
        for message in messages:
            text = str(message)
            if text not in errors.setdefault(key, []):
                errors[key].append(text)
    values = {name: (form[name].raw_data or [""])[0][:200] for name in _MOVE_FIELDS
              if form[name].raw_data}  # fmt: skip
    session[_MOVE_KEY] = {"pair": [form.need_id.data, form.product_id.data],
                          "errors": errors, "values": values}  # fmt: skip


def refused_move() -> dict[str, Any] | None:
    """The refused step kept by move(), once (the next dealflow page shows it)."""
    return session.pop(_MOVE_KEY, None)


class ReopenForm(FlaskForm):
    need_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    product_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    reason = StringField(
        _l("Reason for reopening"), validators=[DataRequired(), Length(max=2000), CleanText()]
    )
    back = HiddenField()


# ------------------------------------------------------------------ enterprise


@bp.route("/matches")
@only(is_enterprise_user)
def overview():
    needs = workspace.needs(current_org(), closed=False)
    items = [(n, service.need_match_count(n)) for n in needs]
    updating = service.is_stale([n.id for n, _count in items], current_org().id)
    return render_template("matching/overview.html", items=items, model=service.model_info(),
                           updating=updating)  # fmt: skip


def _need_or_404(need_id: int) -> Need:
    need = lookup.visible_or_none(acting_user(), Need, need_id)
    if need is None:
        abort(404)
    return need


@bp.route("/needs/<id:need_id>/matches")
@only(lambda u: u.is_operator or is_enterprise_user(u))
def need_matches(need_id: int):
    need = _need_or_404(need_id)
    result = service.matches_for_need(acting_user(), need, 20, include_mandates=True)
    stages = service.current_stages(
        (need.id, m["product"]["id"]) for m in result["matches"] if m["type"] == "product"
    )
    # The refusals this enterprise received from the same institution for the same kind of
    # product: told next to similar products, so the advice reflects what really happened.
    refused = applications.refusals_for(need.enterprise_id, str(get_locale() or "zh_CN"))
    return render_template("matching/need_matches.html", need=need, result=result,
                           stages=stages, model=service.model_info(), refused=refused)  # fmt: skip


@bp.route("/needs/<id:need_id>/matches/interest", methods=["POST"])
@only(is_enterprise_user)
def interest(need_id: int):
    need = _need_or_404(need_id)
    form = InterestForm()
    if not form.validate_on_submit():
        flash(_("Choose a product or a fund."), "danger")
        return redirect(url_for(".need_matches", need_id=need.id))
    product = lookup.find(Product, form.product_id.data)
    funder = lookup.find(Funder, form.funder_id.data)
    try:
        sent = service.express_interest(acting_user(), need, product=product, funder=funder)
    except DomainError as err:
        flash_domain_error(err)
    else:
        # The email goes through the queue: a mail outage is retried there, not shown here.
        flash(_("Interest recorded: the institution has been told.") if sent.mailed else
              _("Interest recorded: the institution will see it in its dealflow."),
              "success")  # fmt: skip
    return redirect(url_for(".need_matches", need_id=need.id))


# ------------------------------------------------------------------ institutions


def _filters(form: DealflowFilterForm) -> dict[str, Any]:
    """The valid filters; a bad value is shown on its field and ignored."""
    form.validate()

    def value(field: Any) -> Any:
        return None if field.errors else field.data

    product = value(form.product_id)
    return {
        "product_id": int(product) if product and str(product).isdigit() else None,
        "kind": value(form.kind) or None,
        "region": value(form.region) or None,
        "min_score": (value(form.min_score) or 0) / 100,
    }


@bp.route("/dealflow/matches")
@only(_dealflow_user)
def dealflow():
    if not (current_user.is_operator or access.is_verified_institution(acting_user())):
        return render_template("institution/unverified.html"), 403
    form = DealflowFilterForm(formdata=request.args)
    view = service.dealflow(acting_user(), **_filters(form), limit=request.args.get("limit"))
    # The service read the user's products (and ignored one that is not theirs); the
    # choices come from that list, so a page reads them once.
    kinds = {k: label("need_kind", k) for k in {p.kind for p in view.products}}
    form.product_id.choices = options(
        ([("", _("All my products"))] if not current_user.is_operator else [])
        + [(str(p.id), f"{p.name} · {kinds[p.kind]}") for p in view.products]
    )
    asked = (form.product_id.data or "").strip()
    if asked and (view.selected is None or str(view.selected.id) != asked):
        form.product_id.errors = [*form.product_id.errors, _("Choose one of your products.")]
    refused = refused_move()
    with_form = {(r.need["id"], r.product["id"]) for r in view.rows if r.next_stages}
    if refused and tuple(refused["pair"]) not in with_form:
        # The row is not on this page (filters, or its need left the ranking) or has no step
        # form (the deal has ended): the refusal is said at the top, once per message.
        for message in dict.fromkeys(m for ms in refused["errors"].values() for m in ms):
            flash(message, "danger")
        refused = None
    return render_template("matching/dealflow.html", form=form, view=view, refused=refused,
                           loan_kinds=LOAN_KINDS, model=service.model_info(),
                           updating=service.any_marks())  # fmt: skip


@bp.route("/dealflow/matches/move", methods=["POST"])
@only(lambda u: u.is_operator or access.is_verified_institution(u))
def move():
    form = MoveForm()
    back = safe_next(form.back.data, url_for(".dealflow"))
    anchor = f"#pair-{form.need_id.data}-{form.product_id.data}"
    if not form.validate_on_submit():
        if form.need_id.data and form.product_id.data:
            _keep_refused_move(form, {k: list(v) for k, v in form.errors.items()})
            return redirect(back + anchor)
        flash(_("Choose the next stage (and fill in the amounts for a funded step)."), "danger")
        return redirect(back)
    try:
        step = service.move_stage(acting_user(), form.need_id.data, form.product_id.data,
                                  form_values(form, MoveForm.FIELDS))  # fmt: skip
    except DomainError as err:
        lookup.discard()
        _keep_refused_move(form, err.fields or {"_row": [err.message]})
        return redirect(back + anchor)
    flash(_("Moved to “%(stage)s”.", stage=stage_label(form.stage.data, step.need.kind)),
          "success")  # fmt: skip
    return redirect(back)


@bp.route("/dealflow/matches/reopen", methods=["POST"])
@only(lambda u: u.is_operator)
def reopen():
    """An operator reopens an ended deal (services/pipeline.py `reopen`), with a reason."""
    form = ReopenForm()
    back = safe_next(form.back.data, url_for(".dealflow"))
    if not form.validate_on_submit():
        flash(_("Give a reason for reopening the deal."), "danger")
        return redirect(back)
    try:
        service.reopen_deal(acting_user(), form.need_id.data, form.product_id.data,
                            form.reason.data)  # fmt: skip
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("The deal is reopened."), "success")
    return redirect(back)
