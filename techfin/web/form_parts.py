"""Field builders, validators and the filter-form base that the blueprints' forms share
(each blueprint's forms sit beside it: enterprise_forms.py, institution_forms.py, …).
Field names follow the interchange record fields (revenue_cny, min_amount_cny…) so a
service's field errors land on the right input; amounts are typed in 万元 (WanField).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from techfin import reference
from techfin.localtime import beijing_today
from techfin.web.fields import (
    CleanText,
    PositiveAmount,
    WanField,
    strip_filter,
)

STRIP = [strip_filter]
EARLIEST = date(1900, 1, 1)


def _locale() -> str:
    loc = get_locale()
    return str(loc) if loc else "zh_CN"


class NotInFuture:
    def __call__(self, form: Any, field: Any) -> None:
        if field.data and field.data > beijing_today():
            raise ValidationError(_l("The date cannot be in the future."))
        if field.data and field.data < EARLIEST:
            raise ValidationError(_l("The date is too early."))


class Uscc:
    """统一社会信用代码 with its check character; the message says what is wrong."""

    def __call__(self, form: Any, field: Any) -> None:
        if not field.data:
            return
        try:
            field.data = reference.validate_uscc(field.data)
        except reference.ReferenceValidationError as exc:
            raise ValidationError(exc.message(_locale())) from None


class PatentNumber:
    """A CNIPA application number with a correct check digit."""

    def __call__(self, form: Any, field: Any) -> None:
        if not field.data:
            return
        try:
            field.data = reference.validate_patent_number(field.data)
        except reference.ReferenceValidationError as exc:
            raise ValidationError(exc.message(_locale())) from None


def _text(label: Any, max_len: int, required: bool = False, min_len: int = 0) -> StringField:
    checks: list[Any] = [DataRequired()] if required else [Optional()]
    checks += [Length(min=min_len, max=max_len), CleanText()]
    return StringField(label, validators=checks, filters=STRIP)


def _long_text(label: Any, max_len: int, required: bool = False, **kw: Any) -> TextAreaField:
    checks: list[Any] = [DataRequired()] if required else []
    checks += [Length(max=max_len), CleanText(multiline=True)]
    return TextAreaField(label, validators=checks, filters=STRIP, render_kw={"rows": 4}, **kw)


def _email(label: Any) -> EmailField:
    return EmailField(label, validators=[Optional(), Length(max=254), Email()], filters=STRIP)


def _wan(label: Any, *, required: bool = False) -> WanField:
    if required:
        checks: list[Any] = [
            InputRequired(message=_l("Enter the amount in 万元.")),
            PositiveAmount(),
        ]
    else:
        checks = [Optional()]
    return WanField(label, validators=checks)


def _months(label: Any, low: int = 1) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            Optional(),
            NumberRange(low, 600, message=_l("Between %(min)s and %(max)s months.")),
        ],
    )


def _check_range(form: FlaskForm, low: str, high: str, message: Any) -> bool:
    lo, hi = form[low].data, form[high].data
    if lo is not None and hi is not None and lo > hi:
        form[high].errors = [*form[high].errors, message]
        return False
    return True


# ------------------------------------------------------------------ enterprise


# ------------------------------------------------------------------ institution


# ------------------------------------------------------------------ filters (GET forms)


class FilterForm(FlaskForm):
    """A form read from the query string: no CSRF token, bad values are reported and ignored."""

    class Meta:
        csrf = False
