"""Forms of the operator reports (techfin.web.operator_reports): pools, reconciliation, imports, the dashboard period."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    SubmitField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from techfin.web.fields import PositiveAmount, WanField
from techfin.web.forms import options
from techfin.web.operations_form_parts import Plausible, _choice_int, _day, _long, _text


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
