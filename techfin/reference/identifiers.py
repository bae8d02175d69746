"""Validators for the identifiers enterprises type in: USCC and CNIPA application numbers."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc as stdnum_uscc

from techfin.reference.errors import ReferenceValidationError

PatentKind = Literal["invention", "utility_model", "design"]

# GB 32100-2015 leaves out I, O, S, V and Z so they cannot be misread as 1, 0, 5, U and 2.
_USCC_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")
_USCC_FORBIDDEN = frozenset("IOSVZ")

# Application-number type digit → kind. 8 and 9 are PCT applications entering the Chinese
# national phase (invention and utility model); designs have no PCT route.
_PATENT_KINDS: dict[str, PatentKind] = {
    "1": "invention",
    "2": "utility_model",
    "3": "design",
    "8": "invention",
    "9": "utility_model",
}
_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_PATENT_NEW = re.compile(r"(?P<body>\d{12})\.?(?P<check>[\dX])?")
_PATENT_OLD = re.compile(r"(?P<body>\d{8})\.?(?P<check>[\dX])?")


def _clean(value: object) -> str:
    # NFKC turns full-width digits, letters and the full-width dot (２０２１．Ｘ) into ASCII.
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(text.split()).upper()


def validate_uscc(value: str | None) -> str:
    """The 18-character unified social credit code (统一社会信用代码), normalised to upper case.

    Spaces, hyphens and full-width characters are tolerated; raises ReferenceValidationError.
    """
    if value is None or not _clean(value):
        raise ReferenceValidationError(
            "uscc.empty", "请填写统一社会信用代码", "Enter the unified social credit code", value
        )
    number = _clean(value).replace("-", "")
    if len(number) != 18:
        raise ReferenceValidationError(
            "uscc.length",
            f"统一社会信用代码应为 18 位，当前为 {len(number)} 位",
            f"A unified social credit code has 18 characters, not {len(number)}",
            value,
        )
    bad = sorted({ch for ch in number if ch not in _USCC_ALPHABET})
    if bad:
        shown = "、".join(bad)
        forbidden = bool(set(bad) & _USCC_FORBIDDEN)
        hint_zh = "（不使用字母 I、O、S、V、Z）" if forbidden else ""
        hint_en = " (the letters I, O, S, V and Z are never used)" if forbidden else ""
        raise ReferenceValidationError(
            "uscc.charset",
            f"统一社会信用代码含有不允许的字符：{shown}{hint_zh}",
            f"The unified social credit code contains characters that are not allowed: "
            f"{', '.join(bad)}{hint_en}",
            value,
        )
    try:
        return stdnum_uscc.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise ReferenceValidationError(
            "uscc.checksum",
            "统一社会信用代码校验位不正确，请核对是否有输错的字符",
            "The unified social credit code's check character is wrong; look for a mistyped character",
            value,
        ) from None
    except stdnum_errors.ValidationError:
        # stdnum wants the first eight characters (authority, entity type, region) numeric.
        raise ReferenceValidationError(
            "uscc.format",
            "统一社会信用代码前 8 位（登记管理部门、机构类别和行政区划代码）应为数字",
            "The first 8 characters of a unified social credit code (authority, entity type and "
            "region code) must be digits",
            value,
        ) from None


def patent_check_char(digits: str) -> str:
    """Check character of a CNIPA application number (12 digits, or 8 before 2003 October).

    Digits times the weights 2…9, 2…5, summed, mod 11; 10 is written X.
    """
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (8, 12):
        raise ValueError("expected 8 or 12 ASCII digits")
    remainder = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=False)) % 11
    return "X" if remainder == 10 else str(remainder)


def _patent_error(code: str, zh: str, en: str, value: object) -> ReferenceValidationError:
    return ReferenceValidationError(f"patent.{code}", zh, en, value)


def validate_patent_number(value: str | None) -> str:
    """A CNIPA patent application number in canonical form: 12 digits, a dot, the check character.

    "2021101234567", "CN202110123456.7", "ZL 2021 1 0123456.7", lower case or full-width
    input all give "202110123456.7". Numbers filed before October 2003 (8 digits: 2-digit
    year, type, 5-digit serial) are accepted in the same way and returned as "98123456.X".
    Raises ReferenceValidationError.
    """
    text = _clean(value) if value is not None else ""
    if not text:
        raise _patent_error(
            "empty", "请填写专利申请号", "Enter the patent application number", value
        )
    for prefix in ("ZL", "CN"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    match = _PATENT_NEW.fullmatch(text) or _PATENT_OLD.fullmatch(text)
    if match is None:
        raise _patent_error(
            "format",
            "专利申请号格式不正确，应为 12 位数字加校验位，例如 202110123456.7",
            "A patent application number is 12 digits and a check character, e.g. 202110123456.7",
            value,
        )
    body, check = match["body"], match["check"]
    if len(body) == 12:
        year, kind = int(body[:4]), body[4]
        if not 2003 <= year <= 2099:
            raise _patent_error(
                "year",
                f"专利申请号中的年份 {year} 不正确",
                f"{year} is not a possible filing year in a patent application number",
                value,
            )
    else:
        # Eight-digit numbers ran from the 1985 Patent Law to the 2003-10-01 renumbering.
        year, kind = int(body[:2]), body[2]
        if not (85 <= year <= 99 or year <= 3):
            raise _patent_error(
                "year",
                f"2003 年以前的专利申请号年份应为 85–03，不能是 {body[:2]}",
                f"An 8-digit (pre-2003) application number starts with a year 85–03, "
                f"not {body[:2]}",
                value,
            )
    if kind not in _PATENT_KINDS:
        raise _patent_error(
            "kind",
            f"专利申请号的第 {5 if len(body) == 12 else 3} 位是专利类型（1 发明、2 实用新型、"
            f"3 外观设计、8/9 PCT），不能是 {kind}",
            f"The patent type digit must be 1 (invention), 2 (utility model), 3 (design) or "
            f"8/9 (PCT), not {kind}",
            value,
        )
    if check is None:
        raise _patent_error(
            "missing_check",
            "专利申请号缺少小数点后的校验位",
            "The patent application number lacks its check character (after the dot)",
            value,
        )
    if check != patent_check_char(body):
        raise _patent_error(
            "checksum",
            "专利申请号校验位不正确，请核对号码",
            "The patent application number's check character is wrong; check the number",
            value,
        )
    return f"{body}.{check}"


def patent_kind_from_number(number: str | None) -> PatentKind | None:
    """'invention' | 'utility_model' | 'design' from the type digit; None if not a valid number."""
    try:
        canonical = validate_patent_number(number)
    except ReferenceValidationError:
        return None
    body = canonical.split(".")[0]
    return _PATENT_KINDS[body[4] if len(body) == 12 else body[2]]
