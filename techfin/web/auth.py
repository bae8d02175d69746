"""Register, log in and out, reset and change passwords."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from techfin.errors import DomainError
from techfin.extensions import limiter
from techfin.i18n import current_locale
from techfin.models import User
from techfin.services import accounts, team
from techfin.web.auth_forms import (
    ChangePasswordForm,
    ForgotForm,
    LocaleForm,
    LoginForm,
    RegisterForm,
    ResetForm,
)
from techfin.web.util import apply_domain_error, safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _forget_csrf_token() -> None:
    """Drop Flask-WTF's token from the session (and this request's cache of it).

    The next form gets a fresh token, so a token planted or read before the login (session
    fixation of the CSRF secret) is worthless afterwards.
    """
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(name, None)
    g.pop(name, None)


def _start_session(user: User) -> None:
    """Log this browser in as `user` with a new CSRF token."""
    _forget_csrf_token()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except accounts.AccountSuspended as err:
            form.form_errors.append(err.message)
        else:
            if user is not None:
                _start_session(user)
                return redirect(safe_next(request.args.get("next"), url_for("main.dashboard")))
            form.form_errors.append(_("Wrong email or password."))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # Every session of the account ends, not only this cookie (see accounts.logout).
        accounts.logout(current_user._get_current_object())
    logout_user()
    _forget_csrf_token()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(
                account_type=form.account_type.data,
                org_name=form.org_name.data,
                name=form.name.data,
                email=form.email.data,
                password=form.password.data,
                industry=form.industry.data or "",
                region=form.region.data or "",
                funder_kind=form.funder_kind.data,
            )
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            _start_session(user)
            if user.is_institution:
                flash(_("Registered. An operator will verify your institution shortly."), "info")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/register.html", form=form,
                           kinds_by_type=accounts.FUNDER_KINDS_BY_ROLE)  # fmt: skip


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot():
    form = ForgotForm()
    if form.validate_on_submit():
        link = url_for("auth.reset", token=accounts.RESET_MARK, _external=True)
        accounts.request_password_reset(form.email.data, link, current_locale())
        # Same answer, same work, whether or not the address exists: no account enumeration.
        # Nor does it claim the mail went out: delivery happens later, in the task worker.
        flash(_("If this address is registered, we are sending a password reset link to it. "
                "If nothing arrives within a few minutes, check the spam folder or try again."),
              "info")  # fmt: skip
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    form = ResetForm()
    try:
        accounts.check_reset_token(token)
    except DomainError as err:
        # Said when the link is opened: no new password to type for a link that cannot work.
        problem = [m for msgs in err.fields.values() for m in msgs] or [err.message]
        return render_template("auth/reset.html", form=None, problem=problem[0])
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Password changed. Please log in."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)


@bp.route("/welcome/<token>", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def welcome(token: str):
    """An invited member chooses a password through the one-time link and is logged in."""
    try:
        invited = team.invited_user(token)
    except DomainError as err:
        messages = [m for msgs in err.fields.values() for m in msgs]
        return render_template("auth/welcome.html", form=None, error=messages[0]), 400
    form = ResetForm()
    if form.validate_on_submit():
        try:
            user = team.accept_invitation(token, form.password.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            _start_session(user)
            flash(_("Welcome! Your password is set."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/welcome.html", form=form, invited=invited, error=None)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = ChangePasswordForm(prefix="pw")
    locale_form = LocaleForm(prefix="loc", locale=current_user.locale)
    if form.submit.data and form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(user, form.old_password.data, form.password.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            _start_session(user)  # this session stays; every other one is logged out
            flash(_("Password changed. Your other sessions were logged out."), "success")
            return redirect(url_for("auth.account"))
    elif locale_form.submit.data and locale_form.validate_on_submit():
        accounts.set_locale(current_user._get_current_object(), locale_form.locale.data)
        session.pop("lang", None)
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form, locale_form=locale_form)
