"""The marketplace's filter form (techfin.web.marketplace)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    IntegerField,
    SelectField,
)
from wtforms.validators import (
    NumberRange,
    Optional,
)

from techfin.web.fields import (
    IndustryField,
    RateField,
    RegionField,
    WanField,
)
from techfin.web.form_parts import FilterForm
from techfin.web.labels import choices


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
