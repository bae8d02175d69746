"""Coded refusal reasons: what an institution must pick when it declines an application,
and what the enterprise reads about it (in plain words, with what it could change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RefusalReason:
    code: str
    zh: str
    en: str
    advice_zh: str
    advice_en: str

    def label(self, locale: str | None) -> str:
        return self.en if (locale or "").startswith("en") else self.zh

    def advice(self, locale: str | None) -> str:
        return self.advice_en if (locale or "").startswith("en") else self.advice_zh

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": {"zh_CN": self.zh, "en": self.en},
            "advice": {"zh_CN": self.advice_zh, "en": self.advice_en},
        }


REFUSAL_REASONS: tuple[RefusalReason, ...] = (
    RefusalReason(
        "insufficient_revenue", "营业收入不足", "Insufficient revenue",
        "机构认为目前的营业收入不足以支撑所申请的金额。可考虑降低申请金额，或在下一期财务报表显示收入增长后再申请。",
        "The institution found the revenue too low for the amount asked. Ask for less, or "
        "apply again once the next financial statements show the revenue growing.",
    ),
    RefusalReason(
        "insufficient_collateral", "抵质押物不足", "Insufficient collateral",
        "机构需要更多抵押或质押。可考虑增加抵质押物、引入政府性融资担保，或选择信用类、知识产权质押类产品。",
        "The institution needs more security. Consider adding collateral, a government "
        "guarantee, or products lending on credit or on intellectual property.",
    ),
    RefusalReason(
        "ip_value_low", "知识产权评估价值偏低", "IP value too low",
        "用于质押的知识产权评估价值不足。可补充更多已授权专利，或委托评估机构重新评估后再申请。",
        "The pledged intellectual property was valued too low. Add more granted patents, "
        "or have them re-valued, before applying again.",
    ),
    RefusalReason(
        "industry_outside_appetite", "行业不在支持范围", "Industry outside appetite",
        "该机构目前不支持您所在的行业。可在匹配页中选择明确支持您行业的产品。",
        "This institution does not lend to your industry at present. Pick products on your "
        "matches page that name your industry.",
    ),
    RefusalReason(
        "region", "地区不在服务范围", "Region not served",
        "该机构不在您的注册地区开展此项业务。可选择本地机构的产品。",
        "The institution does not offer this where your enterprise is registered. Pick "
        "products of institutions serving your region.",
    ),
    RefusalReason(
        "credit_record", "信用记录问题", "Credit record",
        "征信或信用记录未达到要求。可先查询企业及法定代表人的信用报告，处理逾期或异常记录后再申请。",
        "The credit record did not meet the requirements. Check the credit reports of the "
        "enterprise and its legal representative and resolve overdue or irregular entries "
        "first.",
    ),
    RefusalReason(
        "incomplete_materials", "材料不完整", "Incomplete materials",
        "申请材料不完整。请按机构说明补齐营业执照、财务报表、纳税证明等材料后重新申请。",
        "Documents were missing. Complete the business licence, financial statements, tax "
        "certificates and whatever else the institution named, and apply again.",
    ),
    RefusalReason(
        "other", "其他原因", "Other",
        "请查看机构留下的说明；如有疑问可联系该机构或平台运营人员。",
        "Read the institution's note; the institution or the platform's operators can "
        "explain further.",
    ),
)  # fmt: skip

BY_CODE = {r.code: r for r in REFUSAL_REASONS}
CODES = tuple(BY_CODE)


def reason(code: str | None) -> RefusalReason | None:
    return BY_CODE.get(code or "")


def reference() -> list[dict[str, Any]]:
    """The reference list as the API serves it."""
    return [r.as_dict() for r in REFUSAL_REASONS]
