"""Digest settings, one-click unsubscribe (no login) and the operators' delivery log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SelectMultipleField, SubmitField
from wtforms.validators import NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from techfin.errors import DomainError
from techfin.extensions import csrf
from techfin.services import digests
from techfin.web.forms import options
from techfin.web.util import apply_domain_error


class DigestForm(FlaskForm):
    period = SelectField(
        _l("Email digest"),
        choices=options([("weekly", _l("Weekly")), ("daily", _l("Daily")), ("off", _l("Off"))]),
    )
    # Scores read 0–100 on every page and in the digests (issue #14); the service and the
    # API keep the 0–1 scale of the matches themselves.
    min_score = IntegerField(
        _l("Minimum score (0–100)"),
        default=0,
        validators=[Optional(), NumberRange(0, 100, message=_l("Between 0 and 100."))],
    )
    locale = SelectField(_l("Language"), choices=options([("zh_CN", "中文"), ("en", "English")]))
    scope_ids = SelectMultipleField(
        _l("Only these needs or products"),
        coerce=int,
        choices=[],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description=_l("Tick none to hear about all of them."),
    )
    submit = SubmitField(_l("Save"))


bp = Blueprint("digests", __name__, url_prefix="/digests")


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    sub = digests.subscription(current_user)
    form = DigestForm(obj=sub)
    if request.method != "POST":
        form.min_score.data = round((sub.min_score or 0) * 100)
    form.scope_ids.choices = digests.scope_options(current_user)
    if not form.scope_ids.choices:
        del form.scope_ids  # operators: the platform summary has nothing to narrow
    if form.validate_on_submit():
        try:
            digests.update_subscription(current_user, {
                "period": form.period.data, "min_score": (form.min_score.data or 0) / 100,
                "locale": form.locale.data,
                "scope_ids": form.scope_ids.data if "scope_ids" in form else []})  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Digest settings saved."), "success")
            return redirect(url_for("digests.settings"))
    return render_template("digests/settings.html", form=form, sub=sub)


# The signed token is the credential: no login, and no CSRF token (RFC 8058 one-click POST).
@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    if request.method != "POST":  # GET and HEAD only ask; mail scanners must not unsubscribe
        return render_template("digests/unsubscribe.html", token=token, done=False)
    try:
        digests.unsubscribe(token)
    except DomainError:
        return render_template("digests/unsubscribe.html", token=None, done=False), 400
    return render_template("digests/unsubscribe.html", token=None, done=True)


@bp.route("/log")
@login_required
def log():
    if not current_user.is_operator:
        abort(403)
    return render_template("digests/log.html", rows=digests.delivery_log())
