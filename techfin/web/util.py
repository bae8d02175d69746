"""Small helpers shared by the page blueprints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField

from techfin.errors import DomainError, NotFound
from techfin.models import Enterprise, Funder
from techfin.services import lookup
from techfin.web.fields import RateField, WanField


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never an open redirect (//evil, /\\evil, https://…)."""
    if not target or not isinstance(target, str):
        return default
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    joined = urlsplit(urljoin(request.host_url, target))
    if joined.netloc != urlsplit(request.host_url).netloc or joined.scheme not in ("http", "https"):
        return default
    return target


def apply_domain_error(form: FlaskForm, err: DomainError) -> None:
    """Show a service's field errors on the form (unknown fields go to the form level)."""
    lookup.discard()
    for name, messages in err.fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + list(messages)
        else:
            form.form_errors.extend(messages)
    if not err.fields:
        form.form_errors.append(err.message)


def flash_domain_error(err: DomainError) -> None:
    """Show a service's refusal as flash messages (for actions without a form page)."""
    lookup.discard()
    messages = [m for msgs in err.fields.values() for m in msgs] or [err.message]
    for message in dict.fromkeys(str(m) for m in messages):  # each once, in order
        flash(message, "danger")


# ------------------------------------------------------------------ role guards


def guard(check: Callable[[Any], bool]) -> Callable[[], Any]:
    """A blueprint before_request hook: anonymous → login page, wrong role → 403."""

    def _hook() -> Any:
        if request.method == "OPTIONS":  # as Flask-Login's login_required: no auth for CORS
            return None
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if not check(current_user):
            abort(403)
        return None

    return _hook


def is_enterprise_user(user: Any) -> bool:
    return user.is_enterprise and isinstance(user.organization, Enterprise)


def is_institution_user(user: Any) -> bool:
    return user.is_institution and isinstance(user.organization, Funder)


def current_org() -> Any:
    """The signed-in user's organisation (the guards make sure there is one)."""
    return current_user.organization


def acting_user() -> Any:
    """The real User object behind the current_user proxy, for service calls."""
    return current_user._get_current_object()


def owned_or_404(model: type, object_id: int) -> Any:
    """A row of `model` belonging to the current organisation; 404 otherwise (never 403:
    another organisation's ids are not even confirmed to exist)."""
    try:
        return lookup.owned(acting_user(), model, object_id)
    except NotFound:
        abort(404)


def found_or_404(model: type, object_id: int) -> Any:
    """Any row of `model` (operators' and administrators' pages, whose guard checked the
    role); 404 when there is none."""
    try:
        return lookup.get(model, object_id)
    except NotFound:
        abort(404)


# ------------------------------------------------------------------ forms ↔ services


# Optional interchange fields where "not given" is null rather than empty text.
_BLANK_IS_NONE = frozenset({"uscc", "contact_email", "stage"})


def form_values(form: FlaskForm, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Service input from form fields named as the interchange fields (money in yuan).

    Dates become ISO text, blank optional values None, 万元 amounts integer yuan.
    """
    out: dict[str, Any] = {}
    for name in names:
        field = form[name]
        if isinstance(field, WanField):
            out[name] = field.cny
            continue
        value = field.data
        if value is None and isinstance(field, StringField) and not isinstance(field, RateField):
            value = ""  # a text input left out of the request is empty text
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        elif value == "" and name in _BLANK_IS_NONE:
            value = None
        out[name] = value
    return out


def submit_form(
    form: FlaskForm,
    action: Callable[[dict[str, Any]], Any],
    message: str,
    then: str | Callable[[Any], str],
) -> Response | None:
    """Validate → service → flash → redirect, the shape of every edit page.

    Returns None when the page should be shown again: on a GET, on invalid input, or when the
    service refused (its DomainError lands on the form's fields, next to what caused it).
    `then` is an endpoint, or a function of the service's result giving the URL to go to.
    """
    if not form.validate_on_submit():
        return None
    try:
        result = action(form_values(form, form.FIELDS))
    except DomainError as err:
        apply_domain_error(form, err)
        return None
    flash(message, "success")
    return redirect(then(result) if callable(then) else url_for(then))


def with_query(**changes: Any) -> str:
    """The current URL with some query arguments replaced (None removes one)."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    query = urlencode(args, doseq=True)
    return request.path + ("?" + query if query else "")
