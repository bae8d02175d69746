"""Form fields and validators the workspace forms share: amounts in 万元, clean text,
reference-code pickers (tom-select, fed by /reference/<kind>?q=)."""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from typing import Any

from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import Field, StringField
from wtforms.validators import ValidationError
from wtforms.widgets import Select, TextInput, html_params

from techfin import reference
from techfin.money import to_wan

YUAN_PER_WAN = 10_000
_WAN_RE = re.compile(r"\d{1,9}(?:\.\d{1,4})?")


def wan_from_cny(amount_cny: int | None) -> Decimal | None:
    """Yuan (integer) → 万元 (exact decimal, no trailing zeros)."""
    return to_wan(amount_cny)


def _fold_number(text: str) -> str:
    # Full-width digits and dots (１２．５) become ASCII; thousands separators are dropped.
    return unicodedata.normalize("NFKC", text).replace(",", "").replace(" ", "").strip()


class WanField(StringField):
    """An amount typed in 万元 (decimals allowed, at most 4: one yuan); `.cny` is integer yuan."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)

    def process_data(self, value: Any) -> None:
        # Values from a model or a data dict are interchange amounts: integer yuan.
        if isinstance(value, int) and not isinstance(value, bool):
            value = wan_from_cny(value)
        self.data = value

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        if not valuelist:
            return
        text = _fold_number(str(valuelist[0]))
        if not text:
            return
        if not _WAN_RE.fullmatch(text):
            self.raw_data = [str(valuelist[0])[:40]]
            if text[:1] in ("-", "\u2212") and _WAN_RE.fullmatch(text[1:]):  # −300: say so
                raise ValueError(_("An amount cannot be negative."))
            raise ValueError(
                _("Enter an amount in 万元 such as 12.5 (at most 999,999,999 万元, 4 decimals).")
            )
        self.data = Decimal(text)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None or self.data == "":
            return ""
        return format(Decimal(self.data).normalize(), "f")

    @property
    def cny(self) -> int | None:
        """The amount in integer yuan."""
        if self.data is None or self.data == "":
            return None
        return int(Decimal(self.data) * YUAN_PER_WAN)


class PositiveAmount:
    """A 万元 amount above zero."""

    def __call__(self, form: Any, field: Field) -> None:
        if field.data is not None and field.data <= 0:
            raise ValidationError(_l("The amount must be above zero."))


class CleanText:
    """No control characters (tab and line breaks are fine in long text)."""

    def __init__(self, multiline: bool = False) -> None:
        self.allowed = "\t\r\n" if multiline else ""

    def __call__(self, form: Any, field: Field) -> None:
        value = field.data
        if not isinstance(value, str):
            return
        if any(unicodedata.category(ch) == "Cc" and ch not in self.allowed for ch in value):
            raise ValidationError(_l("Remove the control characters (invisible characters)."))


def strip_filter(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _codes(text: str | None) -> list[str]:
    """Codes typed or picked: separated by commas, semicolons or spaces (full-width too)."""
    raw = unicodedata.normalize("NFKC", str(text or ""))
    return [c.upper() for c in re.split(r"[,;\s、]+", raw) if c]


def _locale() -> str:
    loc = get_locale()
    return str(loc) if loc else "zh_CN"


def region_label(code: str) -> str:
    """Display text of a region code or product prefix ("4420" → the code of 中山市)."""
    six = code.ljust(6, "0") if code.isdigit() else code
    name = reference.region_name(six, _locale(), full=True)
    return f"{name} · {code}" if name else code


def industry_label(code: str) -> str:
    name = reference.industry_name(code, _locale())
    return f"{code} {name}" if name else code


class PickerWidget(TextInput):
    """A text input that tom-select turns into a searchable picker (static/js/pickers.js).

    Without JavaScript it stays a plain input taking codes (comma-separated for lists).
    """

    def __init__(self, kind: str, multi: bool) -> None:
        super().__init__()
        self.kind, self.multi = kind, multi

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        label = region_label if self.kind == "regions" else industry_label
        shown = getattr(field, "codes_for_display", None)
        codes = shown() if shown else _codes(field._value())[:1]
        current = [{"code": c, "label": label(c)} for c in codes]
        kwargs.setdefault("id", field.id)
        kwargs["data-picker"] = self.kind
        kwargs["data-picker-url"] = url_for("reference.lookup", kind=self.kind)
        kwargs["data-picker-options"] = json.dumps(current, ensure_ascii=False)
        if self.multi:
            kwargs["data-picker-multi"] = "1"
        kwargs["value"] = ",".join(c["code"] for c in current)
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(field, **kwargs)


class _CodeField(StringField):
    kind = "regions"
    multi = False

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("filters", [strip_filter])
        super().__init__(label, validators, widget=PickerWidget(self.kind, self.multi), **kwargs)

    def codes_for_display(self) -> list[str]:
        if self.raw_data:
            return _codes(self.raw_data[0])[:50]
        if isinstance(self.data, list):
            return [str(c) for c in self.data]
        return _codes(self.data) if self.data else []


class RegionField(_CodeField):
    """One GB/T 2260 six-digit region code."""

    kind = "regions"

    def pre_validate(self, form: Any) -> None:
        codes = _codes(self.data)
        # Typed without JavaScript, "110100" means Beijing: keep the table's code.
        self.data = (reference.normalize_region(codes[0]) or codes[0]) if codes else ""
        if len(codes) > 1:
            raise ValidationError(_l("Choose one region."))
        if self.data and not reference.is_valid_region(self.data):
            raise ValidationError(_l("Choose a region from the list (a GB/T 2260 code)."))


class IndustryField(_CodeField):
    """One GB/T 4754-2017 industry code."""

    kind = "industries"

    def pre_validate(self, form: Any) -> None:
        codes = _codes(self.data)
        # Typed without JavaScript, a class is often written without its letter ("3911").
        self.data = (reference.normalize_industry(codes[0]) or codes[0]) if codes else ""
        if len(codes) > 1:
            raise ValidationError(_l("Choose one industry."))
        if self.data and not reference.is_valid_industry(self.data):
            raise ValidationError(_l("Choose an industry from the list (a GB/T 4754 code)."))


class RegionListField(_CodeField):
    """Region prefixes a product or institution serves; data is a list ("44", "4420")."""

    kind = "regions"
    multi = True

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = _codes(valuelist[0]) if valuelist else []

    def pre_validate(self, form: Any) -> None:
        codes = self.data or []
        if len(codes) > 50:
            raise ValidationError(_l("At most 50 entries."))
        bad = [c for c in codes if not reference.is_valid_region_prefix(c)]
        if bad:
            raise ValidationError(
                _l("Unknown region code: %(codes)s", codes=", ".join(bad[:5])[:100])
            )
        self.data = sorted({reference.region_prefix(c) for c in codes})


class IndustryListField(_CodeField):
    """Industry code prefixes a product serves ("C" for all manufacturing, "C39", "I65")."""

    kind = "industries"
    multi = True

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = _codes(valuelist[0]) if valuelist else []

    def pre_validate(self, form: Any) -> None:
        codes = [reference.normalize_industry(c) or c for c in self.data or []]
        if len(codes) > 50:
            raise ValidationError(_l("At most 50 entries."))
        bad = [c for c in codes if not reference.is_valid_industry(c)]
        if bad:
            raise ValidationError(
                _l("Unknown industry code: %(codes)s", codes=", ".join(bad[:5])[:100])
            )
        self.data = sorted(set(codes))


_RATE_RE = re.compile(r"\d{1,2}(?:\.\d{1,4})?")


class RateField(StringField):
    """An annual rate in percent (4.35); `data` is a float or None. No NaN, no infinity."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        if not valuelist:
            return
        text = _fold_number(str(valuelist[0])).rstrip("%％")
        if not text:
            return
        if not _RATE_RE.fullmatch(text) or float(text) > 36:
            self.raw_data = [str(valuelist[0])[:40]]
            raise ValueError(_("Enter an annual rate in percent between 0 and 36, such as 4.35."))
        self.data = float(text)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data:g}"


class LongSelect(Select):
    """A select of many plain options written in one pass, as wtforms' Select writes them:
    a dealflow's product filter lists an institution's every product (68 at region scale,
    an operator's 2 000), and formatting each option's attributes was 1.3 ms of the page.
    Grouped options or options with attributes of their own go to Select."""

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        choices = list(field.iter_choices())
        if self.multiple or field.has_groups() or any(c.render_kw for c in choices):
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in self.validation_attrs:
            if k not in kwargs and getattr(flags, k, False):
                kwargs[k] = getattr(flags, k)
        option = Markup('<option {}value="{}">{}</option>')
        html = [Markup("<select {}>").format(html_params(name=field.name, **kwargs))]
        for c in choices:
            value = str(c.value) if isinstance(c.value, bool) else c.value
            html.append(option.format("selected " if c.selected else "", value, c.label or c.value))
        html.append(Markup("</select>"))
        return Markup("").join(html)
