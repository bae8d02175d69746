"""Forms of sign-in, registration, passwords and language (techfin.web.auth)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length

from techfin.web.fields import CleanText, PickerWidget
from techfin.web.forms import new_password, options, repeated_password
from techfin.web.labels import choices

# The rule itself lives in services.accounts (every way of setting a password shares it).


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    submit = SubmitField(_l("Log in"))


class RegisterForm(FlaskForm):
    account_type = SelectField(
        _l("I am"),
        choices=options(
            [
                ("enterprise", _l("A technology enterprise")),
                ("bank", _l("A bank, guarantee or micro-loan institution")),
                ("investor", _l("An investor (VC or guidance fund)")),
            ]
        ),
    )
    org_name = StringField(
        _l("Organisation name"), validators=[DataRequired(), Length(2, 200), CleanText()]
    )
    # Pickers over the reference tables; the service validates the codes (enterprises only).
    industry = StringField(
        _l("Industry (GB/T 4754, e.g. C38)"),
        validators=[Length(max=8)],
        widget=PickerWidget("industries", multi=False),
    )
    region = StringField(
        _l("Region (GB/T 2260, e.g. 442000)"),
        validators=[Length(max=6)],
        widget=PickerWidget("regions", multi=False),
    )
    # Blank by default: the service takes the usual kind of the chosen account type (bank /
    # venture capital), so a visitor without JavaScript is not registered as a bank by mistake.
    funder_kind = SelectField(
        _l("Institution kind"),
        choices=choices("funder_kind", blank=_l("Usual kind for the chosen type")),
        default="",
    )
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(1, 100), CleanText()])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = new_password(_l("Password"))
    confirm = repeated_password()
    submit = SubmitField(_l("Register"))


class ForgotForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField(_l("Send reset link"))


class ResetForm(FlaskForm):
    password = new_password(_l("New password"))
    confirm = repeated_password()
    submit = SubmitField(_l("Set password"))


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = new_password(_l("New password"))
    confirm = repeated_password()
    submit = SubmitField(_l("Change password"))


class LocaleForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=options([("zh_CN", "中文"), ("en", "English")]))
    submit = SubmitField(_l("Save"))
