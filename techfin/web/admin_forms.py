"""Forms of the administrators' account pages (techfin.web.admin)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length

from techfin.web.fields import CleanText
from techfin.web.forms import new_password, repeated_password
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
    password = new_password(_l("Initial password"))
    submit = SubmitField(_l("Create account"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=choices("role"))
    submit = SubmitField(_l("Change role"))


class AdminPasswordForm(FlaskForm):
    password = new_password(_l("New password"))
    confirm = repeated_password()
    submit = SubmitField(_l("Reset password"))
