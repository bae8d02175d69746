"""What every blueprint's forms share: choice lists, code checks and the password fields.
Labels and messages are translatable (zh_CN default, en)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Regexp


def options(pairs) -> list[SelectChoice]:  # noqa: ANN001 - iterable of (value, label)
    """WTForms 3.3+ wants SelectChoice objects rather than tuples."""
    return [SelectChoice(value, label) for value, label in pairs]


IndustryCode = Regexp(r"^[A-T]\d{2}$", message=_l("Use a GB/T 4754 code such as C38."))


# ------------------------------------------------------------------ passwords

NEW_PASSWORD_HINT = _l("At least 10 characters and hard to guess: a few uncommon words work well.")


def new_password(label: object = None) -> PasswordField:
    """A password being chosen: the policy itself is the accounts service's (zxcvbn); the
    form only bounds the length and shows the hint."""
    return PasswordField(label or _l("New password"),
                         validators=[DataRequired(), Length(max=256)],
                         description=NEW_PASSWORD_HINT)  # fmt: skip


def repeated_password() -> PasswordField:
    return PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords differ."))],
    )
