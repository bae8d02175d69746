"""Interchange record schemas (../shared/interchange.md): one per `type`, strict.

The import, the export and the JSON API validate with these same schemas, so a record is
accepted or refused for the same reason wherever it comes from.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
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
from techfin.localtime import beijing_today
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


def _cny(required: bool = False, allow_none: bool = False) -> fields.Integer:
    return fields.Integer(
        required=required, strict=True, allow_none=allow_none, validate=validate.Range(0, MAX_CNY)
    )


def _choice(values: tuple[str, ...], required: bool = False, **kw: Any) -> fields.String:
    return fields.String(required=required, validate=validate.OneOf(values), **kw)


# marshmallow's own messages are English only; a schema's refusal reaches users through the
# pages too, so each gets its Chinese side here ("English / 中文", see i18n.localized).
_MARSHMALLOW_ZH = {
    "Field may not be null.": "此项不能为空",
    "Missing data for required field.": "此项必填",
    "Not a valid integer.": "请输入整数",
    "Not a valid number.": "请输入数字",
    "Not a valid string.": "请输入文本",
    "Not a valid date.": "日期无效（格式 YYYY-MM-DD）",
    "Not a valid datetime.": "日期时间无效",
    "Not a valid boolean.": "请填写是或否",
    "Not a valid email address.": "邮箱地址无效",
    "Not a valid list.": "请填写列表",
    "Unknown field.": "未知字段",
    "Invalid input type.": "数据类型无效",
}
_MARSHMALLOW_ZH_PREFIX = {
    "Must be one of": "请从允许的值中选择",
    "Must be greater than or equal to": "超出允许范围",
    "Must be less than or equal to": "超出允许范围",
    "Length must be between": "长度超出范围",
    "Shorter than minimum length": "太短",
    "Longer than maximum length": "太长",
}


def bilingual(message: str) -> str:
    """marshmallow's English message with its Chinese side; our own messages unchanged."""
    if " / " in message:
        return message
    zh = _MARSHMALLOW_ZH.get(message)
    if zh is None:
        zh = next((v for k, v in _MARSHMALLOW_ZH_PREFIX.items() if message.startswith(k)), None)
    return f"{message} / {zh}" if zh else message


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


EARLIEST_DEAL = date(2000, 1, 1)  # no docking record of the platform's market is older
EARLIEST_FOUNDED = date(1900, 1, 1)  # as the profile page's date fields


def _past_date(value: date | None, earliest: date) -> None:
    """A founding or creation date: a real past day, as the pages' date fields require."""
    if value is not None and not earliest <= value <= beijing_today():
        raise ValidationError(
            f"Between {earliest.isoformat()} and today / 日期须在 {earliest.isoformat()} 至今天之间"
        )


def _region_prefix(value: str) -> None:
    """A region an institution or product serves: a GB/T 2260 code or its province / city
    prefix ("44", "4420", "442000") that exists in the reference table, as the pages check."""
    if not isinstance(value, str) or not reference.is_valid_region_prefix(value):
        raise ValidationError(f"Unknown GB/T 2260 region code {value!r} / 地区代码无效")


class EnterpriseRecord(Strict):
    ref = _ref()
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    uscc = fields.String(allow_none=True)
    industry = fields.String(required=True)
    region = fields.String(required=True)
    founded = fields.Date(allow_none=True, validate=lambda v: _past_date(v, EARLIEST_FOUNDED))
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
    valuation_cny = _cny(allow_none=True)  # optional: "not valued" is null, as in the export
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
    created = fields.Date(allow_none=True, validate=lambda v: _past_date(v, EARLIEST_DEAL))


class FunderRecord(Strict):
    ref = _ref()
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = _choice(FUNDER_KINDS, required=True)
    regions = fields.List(fields.String(validate=_region_prefix))
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
    regions = fields.List(fields.String(validate=_region_prefix))
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
        for lo, hi, (label_en, label_zh) in (
            ("min_amount_cny", "max_amount_cny", ("amount", "金额")),
            ("min_term_months", "max_term_months", ("term", "期限")),
            ("rate_min", "rate_max", ("rate", "利率")),
        ):
            if data.get(lo) is not None and data.get(hi) is not None and data[lo] > data[hi]:
                errors[hi] = [f"Maximum {label_en} is below the minimum / {label_zh}上限低于下限"]
        if errors:
            raise ValidationError(errors)


MSG_DEAL_DATE = "Between 2000-01-01 and one year from today / 日期须在 2000-01-01 至今后一年之间"


def _deal_date(value: date | None) -> None:
    """A step, issue date or creation date: not before 2000, at most a year ahead (a meeting
    or a loan may be agreed for a coming date; a later one is a typo)."""
    if value is not None and not EARLIEST_DEAL <= value <= beijing_today() + timedelta(days=366):
        raise ValidationError(MSG_DEAL_DATE)


class OutcomeRecord(Strict):
    need_ref = _ref()
    product_ref = _ref()
    stage = _choice(OUTCOME_STAGES, required=True)
    date = fields.Date(required=True, validate=_deal_date)
    amount_cny = fields.Integer(
        allow_none=True, strict=True,
        validate=validate.Range(1, MAX_CNY, error="Must be more than 0 / 金额须大于 0"),
    )  # fmt: skip
    rate = fields.Float(
        allow_none=True,
        validate=validate.Range(0, 36, min_inclusive=False,
                                error="Annual rate above 0 and at most 36% / 年利率须大于 0 且不超过 36%"),
    )  # fmt: skip
    issued = fields.Date(allow_none=True, validate=_deal_date)
    matures = fields.Date(allow_none=True)
    repayment = _choice(REPAYMENTS, allow_none=True)
    note = _text(2000)

    @validates_schema
    def _loan_dates(self, data: dict, **_: Any) -> None:
        issued, matures = data.get("issued"), data.get("matures")
        if matures is None:
            return
        if issued is not None and matures <= issued:
            raise ValidationError(
                {"matures": ["Maturity must be after the issue date / 到期日须晚于放款日"]}
            )
        start = issued or data.get("date") or beijing_today()
        if (
            not EARLIEST_DEAL
            < matures
            <= start.replace(year=start.year + 50, day=min(start.day, 28))
        ):
            raise ValidationError({"matures": [
                "At most 50 years after the issue date / 到期日不得晚于放款日后 50 年"]})  # fmt: skip


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
