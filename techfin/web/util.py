"""Small helpers shared by the page blueprints."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import request
from flask_wtf import FlaskForm

from techfin.errors import DomainError
from techfin.extensions import db


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
    db.session.rollback()
    for name, messages in err.fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + list(messages)
        else:
            form.form_errors.extend(messages)
    if not err.fields:
        form.form_errors.append(err.message)
