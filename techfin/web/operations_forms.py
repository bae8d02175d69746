"""Forms of the operator's work: risk-reserve pools, the dashboard period, recommendations,
docking events. Field names follow the service arguments so DomainError fields land here."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from techfin.web.fields import CleanText, PositiveAmount, RateField, WanField, strip_filter
from techfin.web.forms import options
from techfin.web.labels import LABELS, choices, label

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
        if field.data and not EARLIEST <= field.data <= date.today() + timedelta(days=3660):
            raise ValidationError(_l("Enter a date between 2000 and ten years from now."))


def _choice_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ risk-reserve pools


class PoolForm(FlaskForm):
    name = _text(_l("Pool name"), 200)
    funder_id = SelectField(_l("Partner bank"), coerce=_choice_int, validate_choice=True)
    leverage_cap = DecimalField(
        _l("Leverage cap (× balance)"),
        places=2,
        default=10,
        validators=[
            DataRequired(message=_l("Enter the leverage cap, e.g. 10.")),
            NumberRange(1, 100, message=_l("Between %(min)s and %(max)s.")),
        ],
    )
    compensation_pct = DecimalField(
        _l("Compensation share (%)"),
        places=2,
        default=50,
        validators=[
            DataRequired(message=_l("Enter the compensation share, e.g. 50.")),
            NumberRange(1, 100, message=_l("Between %(min)s and %(max)s.")),
        ],
    )
    product_ids = SelectMultipleField(
        _l("Loan products covered"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description=_l("Loan and IP-pledge products of the partner bank."),
    )
    description = _long(_l("Description"))
    submit = SubmitField(_l("Save pool"))

    def set_choices(self, banks: list, products: list) -> None:
        self.funder_id.choices = options([("", _l("Choose…")), *banks])
        self.product_ids.choices = options(products)


class ContributionForm(FlaskForm):
    contributor = _text(_l("Contributor (e.g. 广东省生产力促进中心)"), 200)
    amount_cny = WanField(
        _l("Amount (万元)"),
        validators=[InputRequired(message=_l("Enter the amount in 万元.")), PositiveAmount()],
    )
    date = _day(_l("Paid in on"))
    note = _long(_l("Note"), 2000)
    submit = SubmitField(_l("Record contribution"))


class MemberForm(FlaskForm):
    enterprise_id = SelectField(_l("Enterprise"), coerce=_choice_int)
    date = _day(_l("Recommended on"))
    note = _long(_l("Note"), 2000)
    submit = SubmitField(_l("Add to the recommended list"))


class CompensationForm(FlaskForm):
    outcome_id = SelectField(_l("Defaulted loan"), coerce=_choice_int)
    defaulted_on = _day(_l("Defaulted on"))
    loss_cny = WanField(
        _l("Loss (万元)"),
        validators=[InputRequired(message=_l("Enter the amount in 万元.")), PositiveAmount()],
        description=_l("Principal not recovered."),
    )
    amount_cny = WanField(
        _l("Compensation paid (万元)"),
        validators=[Optional(), PositiveAmount()],
        description=_l("Leave empty for the pool's full share of the loss."),
    )
    paid_on = _day(_l("Paid on"))
    note = _long(_l("Note"), 2000)
    submit = SubmitField(_l("Record compensation"))


QUARTER_RE = Regexp(r"^\d{4}Q[1-4]$", message=_l("Choose a quarter such as 2026Q4."))


class QuarterForm(FlaskForm):
    class Meta:
        csrf = False

    quarter = SelectField(_l("Quarter"))


class ReconcileForm(FlaskForm):
    quarter = SelectField(_l("Quarter"))
    file = FileField(
        _l("The bank's quarterly table (XLSX or CSV)"),
        validators=[
            FileRequired(message=_l("Choose a file.")),
            FileAllowed(["xlsx", "csv"], message=_l("Upload an XLSX or CSV file.")),
        ],
    )
    submit = SubmitField(_l("Reconcile"))


class ImportForm(FlaskForm):
    file = FileField(
        _l("Interchange file (JSONL, CSV or XLSX)"),
        validators=[
            FileRequired(message=_l("Choose a file.")),
            FileAllowed(
                ["jsonl", "json", "ndjson", "csv", "xlsx"],
                message=_l("Upload a JSONL, CSV or XLSX file."),
            ),  # fmt: skip
        ],
    )
    skip_invalid = BooleanField(_l("Import the valid records and list the rest"))
    submit = SubmitField(_l("Import"))


# ------------------------------------------------------------------ dashboard


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DateField(_l("From"), validators=[Optional(), Plausible()])
    date_to = DateField(_l("To"), validators=[Optional(), Plausible()])
    days = IntegerField(
        _l("Unattended for (days)"),
        validators=[Optional(), NumberRange(1, 3650, message=_l("Between %(min)s and %(max)s."))],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        start, end = self.date_from.data, self.date_to.data
        if ok and start and end and end < start:
            self.date_to.errors = [_l("The end is before the start.")]
            return False
        return ok


# ------------------------------------------------------------------ recommendations


class RecommendForm(FlaskForm):
    need_id = SelectField(_l("Financing need"), coerce=_choice_int)
    product_id = SelectField(_l("Partner product"), coerce=_choice_int)
    note = _long(_l("Why this enterprise fits (shown to the institution)"), 2000)
    submit = SubmitField(_l("Recommend"))


class DeclineForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Tell the platform why.")),
            Length(max=2000),
            CleanText(multiline=True),
        ],
        filters=STRIP,
    )
    submit = SubmitField(_l("Decline"))


# ------------------------------------------------------------------ docking events


class EventForm(FlaskForm):
    title = _text(_l("Title"), 200)
    kind = SelectField(_l("Kind"))
    starts_at = DateTimeLocalField(
        _l("Starts (Beijing time)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        validators=[InputRequired(message=_l("Enter date and time as YYYY-MM-DD HH:MM."))],
    )
    ends_at = DateTimeLocalField(
        _l("Ends (Beijing time)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        validators=[InputRequired(message=_l("Enter date and time as YYYY-MM-DD HH:MM."))],
    )
    place = _text(_l("Place"), 300, required=False)
    link = StringField(
        _l("Online link"),
        validators=[
            Optional(),
            Length(max=500),
            Regexp(r"^https?://\S+$", message=_l("Enter an http:// or https:// address.")),
        ],
        filters=STRIP,
    )
    capacity = IntegerField(
        _l("Capacity (organisations)"),
        validators=[
            InputRequired(message=_l("Enter the capacity.")),
            NumberRange(1, 10000, message=_l("Between %(min)s and %(max)s.")),
        ],
    )
    slot_minutes = IntegerField(
        _l("1:1 meeting length (minutes)"),
        default=20,
        validators=[
            InputRequired(message=_l("Enter the meeting length.")),
            NumberRange(5, 240, message=_l("Between %(min)s and %(max)s.")),
        ],
    )
    meeting_cap = IntegerField(
        _l("Meetings per institution at most"),
        default=8,
        validators=[
            InputRequired(message=_l("Enter the cap.")),
            NumberRange(1, 200, message=_l("Between %(min)s and %(max)s.")),
        ],
    )
    description = _long(_l("Description"), 5000)
    submit = SubmitField(_l("Save event"))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if ok and self.ends_at.data <= self.starts_at.data:
            self.ends_at.errors = [_l("The end must be after the start.")]
            ok = False
        if ok and not (self.place.data or self.link.data):
            self.place.errors = [_l("Give a place or an online link.")]
            ok = False
        return ok


class MeetingRequestForm(FlaskForm):
    counterpart_id = SelectField(_l("Meet with"), coerce=_choice_int)
    need_id = SelectField(_l("Financing need"), coerce=_choice_int)
    product_id = SelectField(_l("Product"), coerce=_choice_int)
    note = _long(_l("Message"), 1000)
    submit = SubmitField(_l("Request meeting"))


class CheckinForm(FlaskForm):
    code = StringField(
        _l("Check-in code"),
        validators=[
            DataRequired(message=_l("Type the participant's code.")),
            Length(max=20),
            CleanText(),
        ],
        filters=STRIP,
    )
    submit = SubmitField(_l("Check in"))


class MeetingOutcomeForm(FlaskForm):
    result = SelectField(_l("Result"))
    need_id = SelectField(_l("Financing need"), coerce=_choice_int)
    product_id = SelectField(_l("Product"), coerce=_choice_int)
    amount_cny = WanField(_l("Amount (万元)"), validators=[Optional(), PositiveAmount()])
    # A funded loan carries its terms, as from every other channel (services/pipeline.py).
    rate = RateField(_l("Annual rate, percent"), validators=[Optional()])
    matures = DateField(_l("Maturity date"), validators=[Optional()])
    repayment = SelectField(_l("Repayment"), choices=choices("repayment", blank="—"), default="")
    note = _long(_l("Note"), 2000)
    submit = SubmitField(_l("Record result"))


# ------------------------------------------------------------------ display labels

# The events' codes are labelled in web/labels.py with every other code (one table).
OPS_LABELS: dict[str, dict[str, Any]] = {
    group: LABELS[group] for group in ("event_kind", "meeting_status", "meeting_result")
}


def ops_label(group: str, value: Any) -> str:
    return label(group, value)


def ops_choices(group: str) -> list:
    return options(OPS_LABELS[group].items())
