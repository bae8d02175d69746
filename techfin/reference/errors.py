"""The one error type that reference validators raise."""

from __future__ import annotations


class ReferenceValidationError(ValueError):
    """A value failed a reference check; carries a stable code and messages in zh and en.

    It subclasses ValueError so that callers which only know "bad value" (marshmallow,
    WTForms validators, click) still catch it.
    """

    def __init__(self, code: str, message_zh: str, message_en: str, value: object = None) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.value = value

    def message(self, locale: str | None = "zh") -> str:
        """The message in `locale` (anything starting with "en" is English, else Chinese)."""
        return self.message_en if is_english(locale) else self.message_zh

    def __str__(self) -> str:
        return self.message_en

    def __repr__(self) -> str:
        return f"ReferenceValidationError({self.code!r}, {self.message_en!r})"


def is_english(locale: str | None) -> bool:
    """True for "en", "en_US", "en-GB"…; Chinese is the default for everything else."""
    return bool(locale) and str(locale).lower().startswith("en")
