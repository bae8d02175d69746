"""Forms of the enterprise workspace (techfin.web.enterprise): profile, IP, needs, sharing."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
)

from techfin.web.fields import (
    CleanText,
    IndustryField,
    RegionField,
    WanField,
)
from techfin.web.form_parts import (
    STRIP,
    NotInFuture,
    PatentNumber,
    Uscc,
    _check_range,
    _email,
    _long_text,
    _months,
    _text,
    _wan,
)
from techfin.web.labels import choices


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
