"""Forms of the enterprise and institution workspaces, the marketplace and the console.

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
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from techfin import reference
from techfin.models import PRODUCT_STATUSES
from techfin.web.fields import (
    CleanText,
    IndustryField,
    IndustryListField,
    PositiveAmount,
    RateField,
    RegionField,
    RegionListField,
    WanField,
    strip_filter,
)
from techfin.web.labels import choices

STRIP = [strip_filter]
EARLIEST = date(1900, 1, 1)


def _locale() -> str:
    loc = get_locale()
    return str(loc) if loc else "zh_CN"


class NotInFuture:
    def __call__(self, form: Any, field: Any) -> None:
        if field.data and field.data > date.today():
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


class EnterpriseProfileForm(FlaskForm):
    name = _text(_l("Enterprise name"), 200, required=True, min_len=2)
    uscc = StringField(
        _l("Unified social credit code (统一社会信用代码)"),
        validators=[Optional(), Length(max=40), CleanText(), Uscc()],
        filters=STRIP,
    )
    industry = IndustryField(_l("Industry (GB/T 4754)"), validators=[DataRequired()])
    region = RegionField(_l("Region (GB/T 2260)"), validators=[DataRequired()])
    founded = DateField(_l("Founded"), validators=[Optional(), NotInFuture()])
    employees = IntegerField(
        _l("Employees"),
        validators=[
            Optional(),
            NumberRange(0, 10_000_000, message=_l("Between 0 and 10,000,000.")),
        ],
    )
    revenue_cny = _wan(_l("Annual revenue (万元)"))
    total_assets_cny = _wan(_l("Total assets (万元)"))
    high_tech = BooleanField(_l("Certified high-tech enterprise (高新技术企业)"))
    stage = SelectField(
        _l("Development stage"), choices=choices("stage", blank=_l("Not given")), default=""
    )
    description = _long_text(_l("What the enterprise does"), 5000)
    contact_email = _email(_l("Contact email"))
    submit = SubmitField(_l("Save profile"))

    FIELDS = ("name", "uscc", "industry", "region", "founded", "employees", "revenue_cny",
              "total_assets_cny", "high_tech", "stage", "description", "contact_email")  # fmt: skip


class PatentForm(FlaskForm):
    number = StringField(
        _l("Application number"),
        validators=[DataRequired(), Length(max=40), CleanText(), PatentNumber()],
        filters=STRIP,
        description=_l("CNIPA application number, e.g. 2021101234567 or CN202110123456.7"),
    )
    title = _text(_l("Title"), 300, required=True)
    kind = SelectField(_l("Kind"), choices=choices("patent_kind"))
    status = SelectField(_l("Status"), choices=choices("patent_status"))
    filed = DateField(_l("Filed"), validators=[Optional(), NotInFuture()])
    granted = DateField(_l("Grant date"), validators=[Optional(), NotInFuture()])
    valuation_cny = WanField(
        _l("Valuation (万元)"),
        validators=[Optional()],
        description=_l("Optional: leave it empty when the patent has not been valued."),
    )
    confidential = BooleanField(
        _l("Confidential"),
        description=_l(
            "A confidential patent is hidden from every other organisation — also from "
            "institutions you share your patents with. Only you and platform operators see it."
        ),
    )
    abstract = _long_text(_l("Abstract"), 5000)
    submit = SubmitField(_l("Save patent"))

    FIELDS = ("number", "title", "kind", "status", "filed", "granted", "valuation_cny",
              "confidential", "abstract")  # fmt: skip

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        return _check_range(self, "filed", "granted", _l("Granted before it was filed.")) and ok


class CopyrightForm(FlaskForm):
    """A software copyright (软件著作权); the service checks the number's form."""

    number = StringField(
        _l("Registration number"),
        validators=[DataRequired(), Length(max=40), CleanText()],
        filters=STRIP,
        description=_l("As on the registration certificate, e.g. 2021SR0123456"),
    )
    title = _text(_l("Software name"), 300, required=True)
    status = SelectField(_l("Status"), choices=choices("ip_status"))
    registered = DateField(_l("Registration date"), validators=[Optional(), NotInFuture()])
    valuation_cny = _wan(_l("Valuation (万元)"))
    confidential = BooleanField(
        _l("Confidential"),
        description=_l(
            "Hidden from every other organisation, also from institutions you share your "
            "intellectual property with. It still counts for matching."
        ),
    )
    submit = SubmitField(_l("Save"))

    FIELDS = ("number", "title", "status", "registered", "valuation_cny", "confidential")


class TrademarkForm(FlaskForm):
    number = StringField(
        _l("Registration number"),
        validators=[DataRequired(), Length(max=40), CleanText()],
        filters=STRIP,
        description=_l("Digits only, as on the registration certificate"),
    )
    name = _text(_l("Trademark"), 200, required=True)
    nice_class = IntegerField(
        _l("Nice class"),
        validators=[DataRequired(), NumberRange(1, 45, message=_l("Between 1 and 45."))],
        description=_l("The class of goods or services it is registered for, 1–45"),
    )
    status = SelectField(_l("Status"), choices=choices("ip_status"))
    registered = DateField(_l("Registration date"), validators=[Optional(), NotInFuture()])
    valuation_cny = _wan(_l("Valuation (万元)"))
    confidential = CopyrightForm.confidential
    submit = SubmitField(_l("Save"))

    FIELDS = ("number", "name", "nice_class", "status", "registered", "valuation_cny",
              "confidential")  # fmt: skip


class NeedForm(FlaskForm):
    kind = SelectField(_l("Kind of financing"), choices=choices("need_kind"))
    amount_cny = _wan(_l("Amount (万元)"), required=True)
    term_months = _months(_l("Term (months)"))
    purpose = _long_text(_l("Purpose"), 2000)
    collateral_available = BooleanField(_l("Collateral available"))
    submit = SubmitField(_l("Save"))

    FIELDS = ("kind", "amount_cny", "term_months", "purpose", "collateral_available")


class CloseNeedForm(FlaskForm):
    reason = _long_text(_l("Why are you closing this need?"), 2000, required=True)
    submit = SubmitField(_l("Close need"))


class SharingForm(FlaskForm):
    funder = SelectField(_l("Share with"), choices=[], default="")
    financials = BooleanField(_l("Financials (revenue, assets, employees)"))
    patents = BooleanField(_l("Non-confidential patents"))
    submit = SubmitField(_l("Save sharing rule"))

    def set_funders(self, funders: list[Any]) -> None:
        from techfin.web.forms import options

        self.funder.choices = options(
            [("", _l("All verified institutions"))] + [(str(f.id), f.name) for f in funders]
        )


# ------------------------------------------------------------------ institution


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


# ------------------------------------------------------------------ filters (GET forms)


class FilterForm(FlaskForm):
    """A form read from the query string: no CSRF token, bad values are reported and ignored."""

    class Meta:
        csrf = False


class MarketplaceFilterForm(FilterForm):
    kind = SelectField(_l("Kind"), choices=choices("need_kind", blank=_l("Any kind")), default="")
    amount = WanField(_l("Amount (万元)"), validators=[Optional()])
    term = IntegerField(
        _l("Term (months)"),
        validators=[
            Optional(),
            NumberRange(1, 600, message=_l("Between %(min)s and %(max)s months.")),
        ],
    )
    region = RegionField(_l("Region"), validators=[Optional()])
    industry = IndustryField(_l("Industry"), validators=[Optional()])
    max_rate = RateField(_l("Annual rate at most, percent"), validators=[Optional()])
    sort = SelectField(
        _l("Sort by"),
        choices=choices("marketplace_sort"),
        default="newest",
    )


class NeedFilterForm(FilterForm):
    kind = SelectField(_l("Kind"), choices=choices("need_kind", blank=_l("Any kind")), default="")


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
