"""Flask-WTF forms; labels and messages are translatable (zh_CN default, en)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Regexp


def options(pairs) -> list[SelectChoice]:  # noqa: ANN001 - iterable of (value, label)
    """WTForms 3.3+ wants SelectChoice objects rather than tuples."""
    return [SelectChoice(value, label) for value, label in pairs]


IndustryCode = Regexp(r"^[A-T]\d{2}$", message=_l("Use a GB/T 4754 code such as C38."))


# ------------------------------------------------------------------ administrators


NEW_PASSWORD_HINT = _l("At least 10 characters and hard to guess: a few uncommon words work well.")
