"""The dealflow's filter form (techfin.web.dealflow)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    SelectField,
)

from techfin.web.form_parts import FilterForm
from techfin.web.labels import choices


class NeedFilterForm(FilterForm):
    kind = SelectField(_l("Kind"), choices=choices("need_kind", blank=_l("Any kind")), default="")
