"""What the operations forms share (events_forms.py, operator_reports_forms.py): field
builders, the plausible-date check and the operations' code labels. Field names follow the
service arguments so DomainError fields land on the right input."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from techfin.localtime import beijing_today
from techfin.web.fields import CleanText, strip_filter
from techfin.web.forms import options
from techfin.web.labels import LABELS, label

STRIP = [strip_filter]
EARLIEST = date(2000, 1, 1)


def _text(label: Any, size: int, required: bool = True) -> StringField:
    first = DataRequired(message=_l("This field is required.")) if required else Optional()
    return StringField(label, validators=[first, Length(max=size), CleanText()], filters=STRIP)


def _long(label: Any, size: int = 4000) -> TextAreaField:
    return TextAreaField(
        label, validators=[Optional(), Length(max=size), CleanText(multiline=True)], filters=STRIP
    )


def _day(label: Any, required: bool = True) -> DateField:
    first = InputRequired(message=_l("Enter a date as YYYY-MM-DD.")) if required else Optional()
    return DateField(label, validators=[first, Plausible()])


class Plausible:
    def __call__(self, form: Any, field: Any) -> None:
        if field.data and not EARLIEST <= field.data <= beijing_today() + timedelta(days=3660):
            raise ValidationError(_l("Enter a date between 2000 and ten years from now."))


def _choice_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ risk-reserve pools


# ------------------------------------------------------------------ dashboard


# ------------------------------------------------------------------ recommendations


# ------------------------------------------------------------------ docking events


# ------------------------------------------------------------------ display labels

# The events' codes are labelled in web/labels.py with every other code (one table).
OPS_LABELS: dict[str, dict[str, Any]] = {
    group: LABELS[group] for group in ("event_kind", "meeting_status", "meeting_result")
}


def ops_label(group: str, value: Any) -> str:
    return label(group, value)


def ops_choices(group: str) -> list:
    return options(OPS_LABELS[group].items())
