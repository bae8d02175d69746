"""LongSelect writes the same markup as wtforms' Select, in one pass."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectField

from techfin.web.fields import LongSelect
from techfin.web.forms import options


class _Pair(Form):
    fast = SelectField("P", choices=[], default="", validate_choice=False, widget=LongSelect())
    plain = SelectField("P", choices=[], default="", validate_choice=False)


CHOICES = [("", "全部产品"), ("1", 'P "1" <b>&amp;'), ("2", "知识产权质押贷 · 贷款"), ('"x<', "")]


@pytest.mark.parametrize("asked", [None, "2", '"x<', "9"])
def test_the_markup_is_wtforms_own(asked: str | None) -> None:
    form = _Pair(MultiDict({} if asked is None else {"fast": asked, "plain": asked}))
    form.fast.choices = form.plain.choices = options(CHOICES)
    attrs = {"class_": "form-select is-invalid", "aria_describedby": "p-err"}
    fast = str(form.fast(**attrs))
    plain = str(form.plain(**attrs)).replace('"plain"', '"fast"')
    assert fast == plain
    assert "<b>" not in fast and ("selected" in fast) == (asked != "9")  # None: the blank


def test_options_with_attributes_of_their_own_are_left_to_select() -> None:
    from wtforms.fields.choices import SelectChoice

    form = _Pair()
    form.fast.choices = form.plain.choices = [SelectChoice("1", "a", render_kw={"disabled": True})]
    assert str(form.fast()).replace('"fast"', '"plain"') == str(form.plain())
    assert "disabled" in str(form.fast())
