"""Forms of the institution workspace (techfin.web.institution): profile, team, products."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    SubmitField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
)
from wtforms.widgets import CheckboxInput, ListWidget

from techfin.models import PRODUCT_STATUSES
from techfin.web.fields import (
    IndustryListField,
    RateField,
    RegionListField,
)
from techfin.web.form_parts import STRIP, _check_range, _email, _long_text, _months, _text, _wan
from techfin.web.labels import choices


class FunderProfileForm(FlaskForm):
    name = _text(_l("Institution name"), 200, required=True, min_len=2)
    regions = RegionListField(
        _l("Regions served"), description=_l("Leave empty if the institution serves all regions.")
    )
    description = _long_text(_l("Description"), 5000)
    contact_email = _email(_l("Contact email"))
    submit = SubmitField(_l("Save profile"))

    FIELDS = ("name", "regions", "description", "contact_email")


class InviteForm(FlaskForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Length(max=254), Email()], filters=STRIP
    )
    name = _text(_l("Name"), 100)
    submit = SubmitField(_l("Send invitation"))


class ProductForm(FlaskForm):
    name = _text(_l("Product name"), 200, required=True)
    kind = SelectField(_l("Kind of financing"), choices=choices("need_kind"))
    min_amount_cny = _wan(_l("Minimum amount (万元)"))
    max_amount_cny = _wan(_l("Maximum amount (万元)"))
    min_term_months = _months(_l("Minimum term (months)"), low=0)
    max_term_months = _months(_l("Maximum term (months)"), low=0)
    # One pair for every kind: interest for loans, the fee of a guarantee or a policy.
    rate_min = RateField(
        _l("Lowest rate, percent a year"),
        description=_l("Interest for loans; the fee rate for guarantees and insurance."),
    )
    rate_max = RateField(_l("Highest rate, percent a year"))
    industries = IndustryListField(
        _l("Industries served"), description=_l("Leave empty to serve every industry.")
    )
    regions = RegionListField(
        _l("Regions served"), description=_l("Leave empty to serve every region.")
    )
    stages = SelectMultipleField(
        _l("Development stages served"),
        choices=choices("stage"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description=_l("None ticked: every stage."),
    )
    requires_patent = BooleanField(_l("Requires intellectual property"))
    accepted_ip = SelectMultipleField(
        _l("Intellectual property accepted"),
        choices=choices("ip_kind"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description=_l(
            "Which granted patents or registered copyrights and trademarks count (and, for an "
            "IP-pledge loan, are pledged). None ticked: invention and utility-model patents."
        ),
    )
    min_ip_count = IntegerField(
        _l("Items required"),
        default=1,
        validators=[Optional(), NumberRange(1, 100, message=_l("Between 1 and 100."))],
    )
    requires_collateral = BooleanField(_l("Requires collateral"))
    requires_high_tech = BooleanField(_l("Requires high-tech enterprise certification"))
    description = _long_text(_l("Description"), 5000)
    submit = SubmitField(_l("Save product"))

    FIELDS = ("name", "kind", "min_amount_cny", "max_amount_cny", "min_term_months",
              "max_term_months", "rate_min", "rate_max", "industries", "regions", "stages",
              "requires_patent", "accepted_ip", "min_ip_count", "requires_collateral",
              "requires_high_tech", "description")  # fmt: skip

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        below = _l("The maximum is below the minimum.")
        ok = _check_range(self, "min_amount_cny", "max_amount_cny", below) and ok
        ok = _check_range(self, "min_term_months", "max_term_months", below) and ok
        return _check_range(self, "rate_min", "rate_max", below) and ok


class ProductStatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired(), AnyOf(PRODUCT_STATUSES)])
