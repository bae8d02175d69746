"""Request and response schemas of /api/v1.

Request bodies reuse the interchange record schemas (services/records.py), so a field is
accepted or refused for the same reason by the API, the import and the pages. Responses use
the interchange names too (money in integer yuan, dates ISO), plus the row's `id`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from techfin.models import (
    DOCUMENT_KINDS,
    ENTERPRISE_STAGES,
    FUNDER_KINDS,
    IP_STATUSES,
    NEED_KINDS,
    NEED_STATUSES,
    OUTCOME_STAGES,
    PATENT_KINDS,
    PATENT_STATUSES,
    PRODUCT_STATUSES,
)
from techfin.services.records import (
    CopyrightRecord,
    EnterpriseRecord,
    FunderRecord,
    NeedRecord,
    OutcomeRecord,
    PatentRecord,
    ProductRecord,
    Strict,
    TrademarkRecord,
)

MAX_PAGE = 100_000
MAX_PER_PAGE = 100


def _optional_ref() -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=64))


# ------------------------------------------------------------------ errors


class UtcDateTime(fields.DateTime):
    """A stored naive-UTC timestamp written as RFC 3339 with its offset (…+00:00)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"example": "invalid"})
    message = fields.String(required=True)
    field_errors = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Messages per offending field (English / 中文)"},
    )


class Error(Schema):
    error = fields.Nested(ErrorDetail, required=True)


# ------------------------------------------------------------------ list queries


def _no_control_chars(data: dict[str, Any]) -> None:
    bad = {
        key: ["Control characters are not allowed / 不允许控制字符"]
        for key, value in data.items()
        if isinstance(value, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    }
    if bad:
        raise ValidationError(bad)


class ListQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PER_PAGE))
    ref = _optional_ref()

    @validates_schema
    def _clean(self, data: dict[str, Any], **_: Any) -> None:
        # PostgreSQL refuses NUL in a text parameter: stop it here as a 422, not a 500.
        _no_control_chars(data)


def _code_prefix(pattern: str) -> fields.String:
    return fields.String(validate=validate.Regexp(pattern))


class EnterpriseQuery(ListQuery):
    industry = _code_prefix(r"^[A-T](\d{1,4})?$")
    region = _code_prefix(r"^\d{2,6}$")
    stage = fields.String(validate=validate.OneOf(ENTERPRISE_STAGES))
    high_tech = fields.Boolean()


class PatentQuery(ListQuery):
    enterprise_ref = _optional_ref()
    kind = fields.String(validate=validate.OneOf(PATENT_KINDS))
    status = fields.String(validate=validate.OneOf(PATENT_STATUSES))


class IpQuery(ListQuery):
    enterprise_ref = _optional_ref()
    status = fields.String(validate=validate.OneOf(IP_STATUSES))


class NeedQuery(ListQuery):
    enterprise_ref = _optional_ref()
    kind = fields.String(validate=validate.OneOf(NEED_KINDS))
    status = fields.String(validate=validate.OneOf(NEED_STATUSES))
    industry = _code_prefix(r"^[A-T](\d{1,4})?$")
    region = _code_prefix(r"^\d{2,6}$")


class FunderQuery(ListQuery):
    kind = fields.String(validate=validate.OneOf(FUNDER_KINDS))


class ProductQuery(ListQuery):
    funder_ref = _optional_ref()
    kind = fields.String(validate=validate.OneOf(NEED_KINDS))
    status = fields.String(validate=validate.OneOf(PRODUCT_STATUSES))


class OutcomeQuery(ListQuery):
    ref = fields.String(
        validate=validate.Length(min=1, max=160),
        metadata={"description": "need_ref/product_ref/stage/date"},
    )
    need_ref = _optional_ref()
    product_ref = _optional_ref()
    enterprise_ref = _optional_ref()
    funder_ref = _optional_ref()
    stage = fields.String(validate=validate.OneOf(OUTCOME_STAGES))


# ------------------------------------------------------------------ request bodies
# Create: `ref` may be left out (one is generated); the owner's ref defaults to the
# caller's own organisation. Update (PATCH, loaded partial): keys and owners never move.


class EnterpriseCreate(EnterpriseRecord):
    ref = _optional_ref()


class EnterpriseUpdate(EnterpriseRecord):
    class Meta(Strict.Meta):
        exclude = ("ref",)


class PatentCreate(PatentRecord):
    ref = _optional_ref()
    enterprise_ref = _optional_ref()


class PatentUpdate(PatentRecord):
    class Meta(Strict.Meta):
        exclude = ("ref", "enterprise_ref")


class CopyrightCreate(CopyrightRecord):
    ref = _optional_ref()
    enterprise_ref = _optional_ref()


class CopyrightUpdate(CopyrightRecord):
    class Meta(Strict.Meta):
        exclude = ("ref", "enterprise_ref")


class TrademarkCreate(TrademarkRecord):
    ref = _optional_ref()
    enterprise_ref = _optional_ref()


class TrademarkUpdate(TrademarkRecord):
    class Meta(Strict.Meta):
        exclude = ("ref", "enterprise_ref")


class NeedCreate(NeedRecord):
    ref = _optional_ref()
    enterprise_ref = _optional_ref()


class NeedUpdate(NeedRecord):
    closed_reason = fields.String(validate=validate.Length(max=2000))

    class Meta(Strict.Meta):
        exclude = ("ref", "enterprise_ref")


class FunderCreate(FunderRecord):
    ref = _optional_ref()


class FunderUpdate(FunderRecord):
    class Meta(Strict.Meta):
        # Verification is an operator's decision with a reason, not a profile edit.
        exclude = ("ref", "verified")


class ProductCreate(ProductRecord):
    ref = _optional_ref()
    funder_ref = _optional_ref()


class ProductUpdate(ProductRecord):
    class Meta(Strict.Meta):
        exclude = ("ref", "funder_ref")


class OutcomeCreate(OutcomeRecord):
    date = fields.Date(metadata={"description": "defaults to today"})


class OutcomeReopen(Strict):
    need_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    product_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(max=2000))


class OutcomeUpdate(OutcomeRecord):
    class Meta(Strict.Meta):
        # need, product, stage and date identify the step; a wrong one is deleted and re-recorded.
        exclude = ("need_ref", "product_ref", "stage", "date")


# ------------------------------------------------------------------ responses


class EnterpriseOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    name = fields.String(required=True)
    uscc = fields.String(allow_none=True)
    industry = fields.String(required=True)
    region = fields.String(required=True)
    founded = fields.Date(allow_none=True)
    employees = fields.Integer(
        allow_none=True, metadata={"description": "absent unless shared with the caller"}
    )
    revenue_cny = fields.Integer(
        allow_none=True, metadata={"description": "absent unless shared with the caller"}
    )
    total_assets_cny = fields.Integer(
        allow_none=True, metadata={"description": "absent unless shared with the caller"}
    )
    high_tech = fields.Boolean(required=True)
    stage = fields.String(allow_none=True)
    description = fields.String(required=True)
    contact_email = fields.String(allow_none=True)


FINANCIAL_FIELDS = ("employees", "revenue_cny", "total_assets_cny")


class PatentOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    enterprise_ref = fields.String(required=True, attribute="enterprise.ref")
    number = fields.String(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    filed = fields.Date(allow_none=True)
    granted = fields.Date(allow_none=True)
    valuation_cny = fields.Integer(allow_none=True)
    confidential = fields.Boolean(required=True)
    abstract = fields.String(required=True)


class CopyrightOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    enterprise_ref = fields.String(required=True, attribute="enterprise.ref")
    number = fields.String(required=True, metadata={"example": "2021SR0123456"})
    title = fields.String(required=True)
    status = fields.String(required=True)
    registered = fields.Date(allow_none=True)
    valuation_cny = fields.Integer(allow_none=True)
    confidential = fields.Boolean(required=True)


class TrademarkOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    enterprise_ref = fields.String(required=True, attribute="enterprise.ref")
    number = fields.String(required=True)
    name = fields.String(required=True)
    nice_class = fields.Integer(required=True)
    status = fields.String(required=True)
    registered = fields.Date(allow_none=True)
    valuation_cny = fields.Integer(allow_none=True)
    confidential = fields.Boolean(required=True)


class NeedOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    enterprise_ref = fields.String(required=True, attribute="enterprise.ref")
    kind = fields.String(required=True)
    amount_cny = fields.Integer(required=True)
    term_months = fields.Integer(allow_none=True)
    purpose = fields.String(required=True)
    collateral_available = fields.Boolean(required=True)
    status = fields.String(required=True)
    created = fields.Date(allow_none=True)
    closed_reason = fields.String(required=True)


class FunderOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    regions = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    contact_email = fields.String(allow_none=True)
    verified = fields.Boolean(required=True)


class ProductOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True)
    funder_ref = fields.String(required=True, attribute="funder.ref")
    name = fields.String(required=True)
    kind = fields.String(required=True)
    min_amount_cny = fields.Integer(allow_none=True)
    max_amount_cny = fields.Integer(allow_none=True)
    min_term_months = fields.Integer(allow_none=True)
    max_term_months = fields.Integer(allow_none=True)
    rate_min = fields.Float(allow_none=True)
    rate_max = fields.Float(allow_none=True)
    industries = fields.List(fields.String(), required=True)
    regions = fields.List(fields.String(), required=True)
    stages = fields.List(fields.String(), required=True)
    requires_patent = fields.Boolean(required=True)
    accepted_ip = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "IP kinds that count; [] = invention and utility model"},
    )
    min_ip_count = fields.Integer(required=True)
    requires_collateral = fields.Boolean(required=True)
    requires_high_tech = fields.Boolean(required=True)
    status = fields.String(required=True)
    description = fields.String(required=True)


def outcome_ref(outcome: Any) -> str:
    """Outcomes have no source id: their interchange key, need/product/stage/date, is the ref."""
    return f"{outcome.need.ref}/{outcome.product.ref}/{outcome.stage}/{outcome.date.isoformat()}"


def _utc(outcome: Any) -> str | None:
    """A naive UTC time of the database as RFC 3339 (with its zone, as date-time needs)."""
    at = outcome.reopened_at
    return at.replace(microsecond=0).isoformat() + "Z" if at is not None else None


class OutcomeOut(Schema):
    id = fields.Integer(required=True)
    ref = fields.Function(
        outcome_ref,
        required=True,
        metadata={"type": "string", "description": "need_ref/product_ref/stage/date"},
    )
    need_ref = fields.String(required=True, attribute="need.ref")
    product_ref = fields.String(required=True, attribute="product.ref")
    stage = fields.String(required=True)
    date = fields.Date(required=True)
    amount_cny = fields.Integer(allow_none=True)
    rate = fields.Float(allow_none=True)
    issued = fields.Date(allow_none=True)
    matures = fields.Date(allow_none=True)
    repayment = fields.String(allow_none=True)
    note = fields.String(required=True)
    reopened_at = fields.Function(
        _utc,
        allow_none=True,
        metadata={"type": "string", "format": "date-time",
                  "description": "set (UTC) when an operator reopened this ending step"},
    )  # fmt: skip
    reopen_reason = fields.String(allow_none=True)


class Page(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class EnterprisePage(Page):
    items = fields.List(fields.Nested(EnterpriseOut), required=True)


class PatentPage(Page):
    items = fields.List(fields.Nested(PatentOut), required=True)


class CopyrightPage(Page):
    items = fields.List(fields.Nested(CopyrightOut), required=True)


class TrademarkPage(Page):
    items = fields.List(fields.Nested(TrademarkOut), required=True)


class NeedPage(Page):
    items = fields.List(fields.Nested(NeedOut), required=True)


class FunderPage(Page):
    items = fields.List(fields.Nested(FunderOut), required=True)


class ProductPage(Page):
    items = fields.List(fields.Nested(ProductOut), required=True)


class OutcomePage(Page):
    items = fields.List(fields.Nested(OutcomeOut), required=True)


# ------------------------------------------------------------------ request examples
# Bodies the sample/demo data accepts (refs E-001, F-001, N-001, P-001 exist there).

ENTERPRISE_EXAMPLE = {
    "name": "深圳示例智能科技有限公司",
    "industry": "C39",
    "region": "440300",
    "high_tech": True,
    "stage": "growth",
    "description": "工业视觉检测设备",
}
PATENT_EXAMPLE = {
    "enterprise_ref": "E-001",
    "number": "201710601862.3",
    "title": "一种 LED 散热结构",
    "kind": "invention",
    "status": "pending",
}
COPYRIGHT_EXAMPLE = {
    "enterprise_ref": "E-002",
    "number": "2021SR0123456",
    "title": "云图工业数据分析平台 V1.0",
    "status": "registered",
    "registered": "2021-03-02",
    "valuation_cny": 1500000,
}
TRADEMARK_EXAMPLE = {
    "enterprise_ref": "E-002",
    "number": "30123456",
    "name": "云图",
    "nice_class": 9,
    "status": "registered",
}
NEED_EXAMPLE = {
    "enterprise_ref": "E-001",
    "kind": "loan",
    "amount_cny": 3000000,
    "term_months": 12,
    "purpose": "流动资金",
}
FUNDER_EXAMPLE = {"name": "示例银行深圳科技支行", "kind": "bank", "regions": ["4403"]}
PRODUCT_EXAMPLE = {
    "funder_ref": "F-001",
    "name": "科技信用贷",
    "kind": "loan",
    "min_amount_cny": 500000,
    "max_amount_cny": 5000000,
}
OUTCOME_EXAMPLE = {"need_ref": "N-001", "product_ref": "P-001", "stage": "contacted"}


# ------------------------------------------------------------------ applications (申请)

from techfin.models import APPLICATION_STATUSES, REPAYMENTS  # noqa: E402 - appended per feature
from techfin.services.applications.reasons import CODES as REFUSAL_CODES  # noqa: E402

TRANSITION_TARGETS = ("submitted", "accepted", "info_requested", "approved", "disbursed",
                      "declined", "withdrawn")  # fmt: skip


class ApplicationQuery(ListQuery):
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))


class ApplicationCreate(Strict):
    need_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    product_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))
    document_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1)),
        load_default=list,
        validate=validate.Length(max=50),
    )


class PickupCreate(Strict):
    product_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**31 - 1))


class ConsentRevoke(Strict):
    note = fields.String(validate=validate.Length(max=2000), load_default="")


class TransitionBody(Strict):
    """`to` plus the fields of that move; each move checks which of them it needs."""

    to = fields.String(required=True, validate=validate.OneOf(TRANSITION_TARGETS))
    note = fields.String(validate=validate.Length(max=2000))
    amount_cny = fields.Integer(strict=True, validate=validate.Range(1, 10**13))
    rate = fields.Float(validate=validate.Range(0, 36))
    term_months = fields.Integer(strict=True, validate=validate.Range(1, 600))
    issued = fields.Date()
    matures = fields.Date()
    repayment = fields.String(validate=validate.OneOf(REPAYMENTS))
    reason_code = fields.String(validate=validate.OneOf(REFUSAL_CODES))

    @validates_schema
    def _clean(self, data: dict[str, Any], **_: Any) -> None:
        _no_control_chars({k: v for k, v in data.items() if k != "note"})
        if "\x00" in data.get("note", ""):
            raise ValidationError({"note": ["Control characters are not allowed / 不允许控制字符"]})


class ApplicationEventOut(Schema):
    at = UtcDateTime(required=True)
    actor = fields.String(required=True)
    from_status = fields.String(required=True, data_key="from")
    to_status = fields.String(required=True, data_key="to")
    note = fields.String(required=True)


class ConsentOut(Schema):
    at = UtcDateTime(allow_none=True)
    scope = fields.List(fields.String(), required=True)
    funder_id = fields.Integer(required=True, metadata={"description": "the institution"})
    revoked_at = UtcDateTime(allow_none=True)


class ApplicationOut(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    origin = fields.String(required=True)
    need_id = fields.Integer(required=True)
    product_id = fields.Integer(required=True)
    funder_id = fields.Integer(required=True)
    enterprise_id = fields.Integer(required=True)
    submitted_at = UtcDateTime(allow_none=True)
    first_response_due = fields.Date(allow_none=True)
    decision_due = fields.Date(allow_none=True)
    first_response_at = UtcDateTime(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    paused_days = fields.Integer(required=True)
    overdue = fields.String(allow_none=True, metadata={"description": "first_response | decision"})
    approved_amount_cny = fields.Integer(allow_none=True)
    approved_rate = fields.Float(allow_none=True)
    approved_term_months = fields.Integer(allow_none=True)
    disbursed_amount_cny = fields.Integer(allow_none=True)
    disbursed_rate = fields.Float(allow_none=True)
    issued = fields.Date(allow_none=True)
    matures = fields.Date(allow_none=True)
    repayment = fields.String(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reason_note = fields.String(required=True)
    consent = fields.Nested(ConsentOut, required=True)
    document_ids = fields.List(fields.Integer(), required=True)
    allowed = fields.List(
        fields.String(), required=True, metadata={"description": "moves open to the caller now"}
    )
    history = fields.List(fields.Nested(ApplicationEventOut), required=True)


class ApplicationPage(Page):
    items = fields.List(fields.Nested(ApplicationOut), required=True)


class RefusalReasonOut(Schema):
    code = fields.String(required=True)
    label = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    advice = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class RefusalReasonList(Schema):
    items = fields.List(fields.Nested(RefusalReasonOut), required=True)


# ------------------------------------------------------------------ documents and notices


class DocumentUpload(Schema):
    """The multipart form of POST /api/v1/documents (documentation; the view parses it)."""

    file = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary",
                  "description": "PDF, PNG, JPEG or XLSX, at most 20 MB; the type is read "
                                 "from the content / 仅限 PDF、PNG、JPEG、XLSX，≤ 20 MB"},
    )  # fmt: skip
    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))


class DocumentOut(Schema):
    id = fields.Integer(required=True)
    filename = fields.String(required=True, metadata={"description": "The original name"})
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    kind = fields.String(required=True)
    sha256 = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class DocumentPage(Page):
    items = fields.List(fields.Nested(DocumentOut), required=True)


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PER_PAGE))


class NotificationQuery(PageQuery):
    unread = fields.Boolean(load_default=False, metadata={"description": "1: unread only"})


class NotificationOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    link = fields.String(required=True)
    params = fields.Dict(required=True)
    created_at = UtcDateTime(required=True)
    read_at = UtcDateTime(allow_none=True, required=True)


class NotificationPage(Page):
    items = fields.List(fields.Nested(NotificationOut), required=True)
    unread = fields.Integer(required=True, metadata={"description": "Unread notices in all"})


class ImportUpload(Schema):
    """The multipart form of POST /api/v1/imports (documentation; the view parses it)."""

    file = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary",
                  "description": "An interchange file: .jsonl, .csv or .xlsx (one sheet per "
                                 "type), at most 20 MB / 交换格式文件"},
    )  # fmt: skip
    skip_invalid = fields.Boolean(
        metadata={"description": "Import the valid records and report the rest"}
    )


class ImportProblem(Schema):
    location = fields.String(required=True, metadata={"description": "line N or Sheet!N"})
    field = fields.String(required=True)
    reason = fields.String(required=True)


class ImportResult(Schema):
    committed = fields.Boolean(required=True)
    summary = fields.String(required=True)
    records = fields.Integer(required=True)
    created = fields.Dict(keys=fields.String(), values=fields.Integer())
    updated = fields.Dict(keys=fields.String(), values=fields.Integer())
    unchanged = fields.Dict(keys=fields.String(), values=fields.Integer())
    error_count = fields.Integer(required=True)
    errors = fields.List(fields.Nested(ImportProblem), required=True,
                         metadata={"description": "the first 1000"})  # fmt: skip


class ImportJobOut(Schema):
    id = fields.Integer(required=True)
    status = fields.String(
        required=True, metadata={"description": "queued | running | done | failed"}
    )
    filename = fields.String(required=True)
    size = fields.Integer(required=True)
    skip_invalid = fields.Boolean(required=True)
    created_at = UtcDateTime(required=True)
    finished_at = UtcDateTime(allow_none=True)
    error = fields.String(required=True, metadata={"description": "why the file failed"})
    result = fields.Nested(ImportResult, allow_none=True)


class ImportAccepted(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
