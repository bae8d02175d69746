"""Forms of the docking events and the government recommendations (techfin.web.events)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
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
)

from techfin.web.fields import CleanText, PositiveAmount, RateField, WanField
from techfin.web.labels import choices
from techfin.web.operations_form_parts import STRIP, _choice_int, _long, _text


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
