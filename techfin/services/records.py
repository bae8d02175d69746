"""Interchange record schemas (../shared/interchange.md): one per `type`, strict.

The import, the export and the JSON API validate with these same schemas, so a record is
accepted or refused for the same reason wherever it comes from.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from techfin import reference
from techfin.models import (
    ENTERPRISE_STAGES,
    FUNDER_KINDS,
    IP_KINDS,
    IP_STATUSES,
    NEED_KINDS,
    NEED_STATUSES,
    OUTCOME_STAGES,
    PATENT_KINDS,
    PATENT_STATUSES,
    PRODUCT_STATUSES,
    REPAYMENTS,
)

MAX_CNY = 10**13  # 10 万亿元: far above any SME deal, below BigInteger's limit


def _ref(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=validate.Length(min=1, max=64))


def _text(max_len: int, required: bool = False) -> fields.String:
    return fields.String(required=required, validate=validate.Length(max=max_len))


def _cny(required: bool = False) -> fields.Integer:
    return fields.Integer(required=required, strict=True, validate=validate.Range(0, MAX_CNY))


def _choice(values: tuple[str, ...], required: bool = False, **kw: Any) -> fields.String:
    return fields.String(required=required, validate=validate.OneOf(values), **kw)


# C0 control characters except tab, LF and CR, and DEL (one regex: a bulk import checks
# every text field of every record).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True

    @validates_schema(pass_original=True)
    def _no_control_chars(self, data: dict, original: Any, **_: Any) -> None:
        bad = {}
        for key, value in data.items():
            if isinstance(value, str) and _CONTROL.search(value):
                bad[key] = ["Control characters are not allowed / 不允许控制字符"]
        if bad:
            raise ValidationError(bad)


class EnterpriseRecord(Strict):
    ref = _ref()
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    uscc = fields.String(allow_none=True)
    industry = fields.String(required=True)
    region = fields.String(required=True)
    founded = fields.Date(allow_none=True)
    employees = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 10**7))
    revenue_cny = _cny()
    total_assets_cny = _cny()
    high_tech = fields.Boolean()
    stage = _choice(ENTERPRISE_STAGES, allow_none=True)
    description = _text(5000)
    contact_email = fields.Email(allow_none=True)

    @pre_load
    def _canonical_codes(self, data: Any, **_: Any) -> Any:
        # Registers write classes without their letter ("3911") and Beijing as "110100";
        # store the table's form ("C3911", "110000"). Anything else, a JSON number included,
        # is left for the validators below to refuse with the value as it was given.
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("industry"), str):
                data["industry"] = (
                    reference.normalize_industry(data["industry"]) or data["industry"]
                )
            if isinstance(data.get("region"), str):
                data["region"] = reference.normalize_region(data["region"]) or data["region"]
        return data

    @validates("uscc")
    def _uscc(self, value: str | None, **_: Any) -> None:
        if value:
            _ref_check(reference.validate_uscc, value)

    @validates("industry")
    def _industry(self, value: str, **_: Any) -> None:
        if not reference.is_valid_industry(value):
            raise ValidationError(f"Unknown GB/T 4754-2017 industry code {value!r} / 行业代码无效")

    @validates("region")
    def _region(self, value: str, **_: Any) -> None:
        if not reference.is_valid_region(value):
            raise ValidationError(f"Unknown GB/T 2260 region code {value!r} / 地区代码无效")


def _ref_check(fn: Any, value: str) -> str:
    try:
        return fn(value)
    except reference.ReferenceValidationError as exc:
        raise ValidationError(f"{exc.message_en} / {exc.message_zh}") from exc


class PatentRecord(Strict):
    ref = _ref()
    enterprise_ref = _ref()
    number = fields.String(required=True, validate=validate.Length(max=40))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = _choice(PATENT_KINDS, required=True)
    status = _choice(PATENT_STATUSES, required=True)
    filed = fields.Date(allow_none=True)
    granted = fields.Date(allow_none=True)
    valuation_cny = _cny()
    confidential = fields.Boolean()
    abstract = _text(5000)

    @validates("number")
    def _number(self, value: str, **_: Any) -> None:
        _ref_check(reference.validate_patent_number, value)

    @validates_schema
    def _dates(self, data: dict, **_: Any) -> None:
        if data.get("filed") and data.get("granted") and data["granted"] < data["filed"]:
            raise ValidationError({"granted": ["Granted before it was filed / 授权日早于申请日"]})


# 软件著作权 registration numbers: the year, "SR", then the serial (seven digits since about
# 2010, six before), e.g. 2021SR0123456.
COPYRIGHT_NUMBER = re.compile(r"^(19[89]\d|20\d\d)SR\d{5,7}$")
# Digits; a Madrid-system international registration is written with a leading "G".
TRADEMARK_NUMBER = re.compile(r"^G?\d{1,10}$")


def copyright_number(value: str) -> str:
    """The canonical form of a software copyright registration number, or ValidationError."""
    text = re.sub(r"\s+", "", str(value)).upper()
    if not COPYRIGHT_NUMBER.match(text):
        raise ValidationError(
            f"Not a software copyright registration number like 2021SR0123456: {value!r}"
            " / 软件著作权登记号格式应如 2021SR0123456"
        )
    return text


class _IpRecord(Strict):
    ref = _ref()
    enterprise_ref = _ref()
    status = _choice(IP_STATUSES, required=True)
    registered = fields.Date(allow_none=True)
    # Unvalued is allowed (a form left empty): it counts, but adds nothing to pledged value.
    valuation_cny = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(0, MAX_CNY)
    )
    confidential = fields.Boolean()


class CopyrightRecord(_IpRecord):
    number = fields.String(required=True, validate=validate.Length(max=40))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))

    @validates("number")
    def _number(self, value: str, **_: Any) -> None:
        copyright_number(value)


class TrademarkRecord(_IpRecord):
    number = fields.String(required=True, validate=validate.Length(max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    nice_class = fields.Integer(required=True, strict=True, validate=validate.Range(1, 45))

    @pre_load
    def _numeric_cell(self, data: Any, **_: Any) -> Any:
        # A spreadsheet cell holding 12345678 may come back as "12345678.0".
        if isinstance(data, dict) and isinstance(data.get("number"), str):
            data = dict(data)
            data["number"] = re.sub(r"\.0$", "", data["number"].strip())
        return data

    @validates("number")
    def _number(self, value: str, **_: Any) -> None:
        if not TRADEMARK_NUMBER.match(value.strip()):
            raise ValidationError(
                f"A trademark registration number is digits only: {value!r} / 商标注册号应为数字"
            )


class NeedRecord(Strict):
    ref = _ref()
    enterprise_ref = _ref()
    kind = _choice(NEED_KINDS, required=True)
    amount_cny = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_CNY))
    term_months = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 600))
    purpose = _text(2000)
    collateral_available = fields.Boolean()
    status = _choice(NEED_STATUSES)
    created = fields.Date(allow_none=True)


class FunderRecord(Strict):
    ref = _ref()
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = _choice(FUNDER_KINDS, required=True)
    regions = fields.List(fields.String(validate=validate.Regexp(r"^\d{2,6}$")))
    description = _text(5000)
    contact_email = fields.Email(allow_none=True)
    verified = fields.Boolean()


class ProductRecord(Strict):
    ref = _ref()
    funder_ref = _ref()
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = _choice(NEED_KINDS, required=True)
    min_amount_cny = _cny()
    max_amount_cny = _cny()
    min_term_months = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 600))
    max_term_months = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 600))
    rate_min = fields.Float(allow_none=True, validate=validate.Range(0, 36))
    rate_max = fields.Float(allow_none=True, validate=validate.Range(0, 36))
    industries = fields.List(fields.String(validate=validate.Regexp(r"^[A-T](\d{1,4})?$")))
    regions = fields.List(fields.String(validate=validate.Regexp(r"^\d{2,6}$")))
    stages = fields.List(fields.String(validate=validate.OneOf(ENTERPRISE_STAGES)))
    requires_patent = fields.Boolean()
    accepted_ip = fields.List(fields.String(validate=validate.OneOf(IP_KINDS)))
    min_ip_count = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 100))
    requires_collateral = fields.Boolean()
    requires_high_tech = fields.Boolean()
    status = _choice(PRODUCT_STATUSES)
    description = _text(5000)

    @pre_load
    def _canonical_industries(self, data: Any, **_: Any) -> Any:
        # "3911" or "c39" in a product's industry list stands for C3911 / C39, as for enterprises.
        if isinstance(data, dict) and isinstance(data.get("industries"), list):
            data = dict(data)
            data["industries"] = [
                (reference.normalize_industry(c) or c) if isinstance(c, str) else c
                for c in data["industries"]
            ]
        return data

    @validates_schema
    def _ranges(self, data: dict, **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        for lo, hi, label in (
            ("min_amount_cny", "max_amount_cny", "amount / 金额"),
            ("min_term_months", "max_term_months", "term / 期限"),
            ("rate_min", "rate_max", "rate / 利率"),
        ):
            if data.get(lo) is not None and data.get(hi) is not None and data[lo] > data[hi]:
                errors[hi] = [f"Maximum {label} is below the minimum / 上限低于下限"]
        if errors:
            raise ValidationError(errors)


class OutcomeRecord(Strict):
    need_ref = _ref()
    product_ref = _ref()
    stage = _choice(OUTCOME_STAGES, required=True)
    date = fields.Date(required=True)
    amount_cny = _cny()
    rate = fields.Float(allow_none=True, validate=validate.Range(0, 36))
    issued = fields.Date(allow_none=True)
    matures = fields.Date(allow_none=True)
    repayment = _choice(REPAYMENTS, allow_none=True)
    note = _text(2000)

    @validates_schema
    def _loan_dates(self, data: dict, **_: Any) -> None:
        if data.get("issued") and data.get("matures") and data["matures"] < data["issued"]:
            raise ValidationError({"matures": ["Maturity before issue date / 到期日早于放款日"]})


SCHEMAS: dict[str, type[Strict]] = {
    "enterprise": EnterpriseRecord,
    "funder": FunderRecord,
    "patent": PatentRecord,
    "copyright": CopyrightRecord,
    "trademark": TrademarkRecord,
    "need": NeedRecord,
    "product": ProductRecord,
    "outcome": OutcomeRecord,
}
# Parents before children, so references resolve within one file.
TYPE_ORDER = (
    "enterprise", "funder", "patent", "copyright", "trademark", "need", "product", "outcome",
)  # fmt: skip
