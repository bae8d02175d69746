"""Forms of the operator console (techfin.web.operator): institution review, users, audit log."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    SelectField,
    SubmitField,
)
from wtforms.validators import (
    Optional,
)

from techfin.web.form_parts import FilterForm, _check_range, _long_text, _text
from techfin.web.labels import choices


class RejectForm(FlaskForm):
    reason = _long_text(_l("Reason (the applicant sees it)"), 2000, required=True)
    submit = SubmitField(_l("Reject"))


class UserFilterForm(FilterForm):
    q = _text(_l("Email or name contains"), 254)
    role = SelectField(_l("Role"), choices=choices("role", blank=_l("Any role")), default="")


class AuditFilterForm(FilterForm):
    action = SelectField(_l("Action"), choices=[], default="")
    actor = _text(_l("Actor contains"), 254)
    object_type = SelectField(_l("Object type"), choices=[], default="")
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])

    def set_vocabulary(self, actions: list[str], types: list[str]) -> None:
        from techfin.web.forms import options
        from techfin.web.labels import label

        self.action.choices = options(
            [("", _l("Any action"))] + [(a, label("audit_action", a)) for a in actions]
        )
        self.object_type.choices = options(
            [("", _l("Any type"))] + [(t, label("object_type", t)) for t in types]
        )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        return _check_range(self, "date_from", "date_to", _l("The end is before the start.")) and ok
