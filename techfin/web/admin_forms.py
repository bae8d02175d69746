"""Forms of the administrators' account pages (techfin.web.admin)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from techfin.web.fields import CleanText
from techfin.web.forms import NEW_PASSWORD_HINT
from techfin.web.labels import choices


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
