"""Flask-WTF forms; labels and messages are translatable (zh_CN default, en)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp

from techfin.web.fields import CleanText, PickerWidget
from techfin.web.labels import choices


def options(pairs) -> list[SelectChoice]:  # noqa: ANN001 - iterable of (value, label)
    """WTForms 3.3+ wants SelectChoice objects rather than tuples."""
    return [SelectChoice(value, label) for value, label in pairs]


# The rule itself lives in services.accounts (every way of setting a password shares it).
NEW_PASSWORD_HINT = _l("At least 10 characters and hard to guess: a few uncommon words work well.")


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
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(max=256)], description=NEW_PASSWORD_HINT
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))],
    )
    submit = SubmitField(_l("Register"))


class ForgotForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField(_l("Send reset link"))


class ResetForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=256)],
        description=NEW_PASSWORD_HINT,
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))],
    )
    submit = SubmitField(_l("Set password"))


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=256)],
        description=NEW_PASSWORD_HINT,
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class LocaleForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=options([("zh_CN", "中文"), ("en", "English")]))
    submit = SubmitField(_l("Save"))


IndustryCode = Regexp(r"^[A-T]\d{2}$", message=_l("Use a GB/T 4754 code such as C38."))


# ------------------------------------------------------------------ administrators


class AccountCreateForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Length(max=100), CleanText()])
    role = SelectField(_l("Role"), choices=choices("role"), default="operator")
    org_ref = StringField(
        _l("Organisation reference"),
        validators=[Length(max=64), CleanText()],
        description=_l("E.g. E-001 or F-001; empty for operators and administrators."),
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(), Length(max=256)],
        description=NEW_PASSWORD_HINT,
    )
    submit = SubmitField(_l("Create account"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=choices("role"))
    submit = SubmitField(_l("Change role"))


class AdminPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=256)],
        description=NEW_PASSWORD_HINT,
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))],
    )
    submit = SubmitField(_l("Reset password"))
