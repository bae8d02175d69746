"""The institutions' league table (operators; enterprises too when the platform shows it to
them): the page and its CSV / XLSX downloads. Who may see it is the service's decision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from techfin.services import reports
from techfin.services.applications import league as leagues
from techfin.services.applications import reasons
from techfin.services.pool import recent_quarters
from techfin.web.labels import choices, label
from techfin.web.operations_form_parts import Plausible
from techfin.web.util import acting_user, guard

bp = Blueprint("league", __name__, url_prefix="/operations")
bp.before_request(guard(lambda user: True))


class LeagueForm(FlaskForm):
    """A quarter, or a date range (the quarter wins when both are given), and a kind."""

    class Meta:
        csrf = False

    quarter = SelectField(_l("Quarter"), validators=[Optional()])
    date_from = DateField(_l("From"), validators=[Optional(), Plausible()])
    date_to = DateField(_l("To"), validators=[Optional(), Plausible()])
    kind = SelectField(_l("Institution kind"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quarter.choices = [("", _l("Date range below"))] + [(q, q) for q in recent_quarters()]
        self.kind.choices = choices("funder_kind", blank=_l("All kinds"))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        start, end = self.date_from.data, self.date_to.data
        if ok and start and end and end < start:
            self.date_to.errors = [_l("The end is before the start.")]
            return False
        if ok and start and end and end - start > timedelta(days=leagues.MAX_RANGE_DAYS):
            self.date_to.errors = [_l("Choose at most three years.")]
            return False
        return ok

    def league_filter(self) -> leagues.LeagueFilter:
        return leagues.make_filter(quarter=self.quarter.data or None,
                                   date_from=self.date_from.data, date_to=self.date_to.data,
                                   kind=self.kind.data or None)  # fmt: skip


def _locale() -> str:
    return str(get_locale() or "zh_CN")


def _kind(kind: str) -> str:
    return label("funder_kind", kind)


@bp.route("/league")
def league_page():
    form = LeagueForm(formdata=request.args)
    valid = form.validate() if request.args else True
    chosen = form.league_filter() if valid else leagues.make_filter()
    if chosen.quarter and not form.date_from.data and not form.date_to.data:
        form.quarter.data = chosen.quarter  # the default period shows as chosen
    result = leagues.league(acting_user(), chosen)
    table = leagues.table(result, _locale(), _kind)
    return render_template("league/index.html", form=form, result=result, table=table,
                           query=chosen.query(), reasons=reasons.REFUSAL_REASONS,
                           locale=_locale())  # fmt: skip


@bp.route("/league.<any(csv, xlsx):fmt>")
def league_file(fmt: str):
    form = LeagueForm(formdata=request.args)
    if request.args and not form.validate():
        abort(404)
    result = leagues.league(acting_user(), form.league_filter())
    table = leagues.table(result, _locale(), _kind)
    response = Response(reports.render(table, fmt), mimetype=reports.mimetype(fmt))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{reports.download_name(table, fmt)}"'
    )
    return response
