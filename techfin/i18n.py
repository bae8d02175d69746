"""Locale choice and display helpers: zh_CN first, en second; amounts in 万元 (techfin.money)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from flask import Flask, has_request_context, request, session
from flask_login import current_user

from techfin.extensions import babel
from techfin.localtime import BEIJING  # the platform's one display time zone
from techfin.money import Wan, wan_text

SUPPORTED = ("zh_CN", "en")


def select_locale() -> str | None:
    if not has_request_context():
        return None  # CLI and tasks: BABEL_DEFAULT_LOCALE (or a force_locale around the call)
    wanted = request.args.get("lang")
    if wanted in SUPPORTED:
        session["lang"] = wanted
        return wanted
    user_locale = getattr(current_user, "locale", None)
    logged_in = getattr(current_user, "is_authenticated", False)
    if logged_in and user_locale in SUPPORTED and "lang" not in session:
        return user_locale
    if session.get("lang") in SUPPORTED:
        return session["lang"]
    return "zh_CN"


def wan(amount_cny: int | Wan | None, exact: bool = False) -> str:
    """The `wan` filter: yuan → 万元 text with thousands separators, e.g. 5000000 → '500'
    (techfin.money is the one formatter; this is its name in templates)."""
    if isinstance(amount_cny, Wan):
        amount_cny = amount_cny.cny
    return wan_text(amount_cny, exact=exact)


def yuan(amount_cny: int | None) -> str:
    """The `yuan` filter, for the one place the unit rule keeps 元 (the filed 申报汇总表 and
    its reconciliation): the exact figure with thousands separators."""
    return "—" if amount_cny is None else f"{int(amount_cny):,}"


def beijing(value: datetime) -> datetime:
    """A stored timestamp (naive UTC, or aware) as Beijing wall-clock time."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING)


def isodate(value: date | datetime | None) -> str:
    """The one date/time format of pages, mail and exports: dates as YYYY-MM-DD, timestamps
    (stored as naive UTC) in Beijing time as YYYY-MM-DD HH:mm."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return beijing(value).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def window_text(start: datetime, end: datetime) -> str:
    """A [start, end) window of whole Beijing days as the days it covers: "2026-11-23 –
    2026-11-29" for a week, "2026-11-23" for a day; other windows as two timestamps."""
    first, after = beijing(start), beijing(end)
    whole_days = all((t.hour, t.minute, t.second) == (0, 0, 0) for t in (first, after))
    if not whole_days:
        return f"{isodate(start)} – {isodate(end)}"
    last = (after - timedelta(days=1)).date()
    return first.date().isoformat() if last == first.date() else f"{first.date()} – {last}"


def current_locale() -> str:
    from flask_babel import get_locale

    loc = get_locale()
    return str(loc) if loc else "zh_CN"


_CJK = re.compile("[\u3400-\u9fff\uff01-\uff5e]")


def localized(message: object) -> str:
    """The current locale's side of a bilingual "English / 中文" service message.

    Services raise their refusals as one "English / 中文" text (they run for the pages, the
    JSON API and the CLI alike, and do not know who reads them). The pages show only the
    reader's language: every template prints a message through this filter (`|loc`), so the
    choice is made in one place, at rendering. The JSON API keeps both sides on purpose: API
    clients are programs whose locale we do not know, the text is stable for them to log or
    match, and `code`/`fields` carry the machine-readable part. A message that is not of that
    shape (one language, or a slash inside a value) is shown as it is.
    """
    text = str(message)
    left, sep, right = text.rpartition(" / ")
    if not sep or _CJK.search(left) or not _CJK.search(right):
        return text
    return right if current_locale().startswith("zh") else left


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["wan"] = wan
    app.jinja_env.filters["yuan"] = yuan
    from techfin.services.reports import cell_text  # the report tables' one cell formatter

    app.jinja_env.filters["cell"] = cell_text
    app.jinja_env.filters["isodate"] = isodate
    app.jinja_env.filters["localtime"] = isodate
    app.jinja_env.filters["window"] = window_text
    app.jinja_env.filters["loc"] = localized
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["SUPPORTED_LOCALES"] = SUPPORTED
