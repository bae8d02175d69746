"""Response headers: security headers on every response; static files cached for a year under
URLs that carry their content's hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


STATIC_MAX_AGE = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    _static_cache(app)

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


def _static_cache(app: Flask) -> None:
    """`url_for('static', …)` adds `?v=<hash of the file>`; such a URL is served with a year's
    max-age, so a returning visitor fetches nothing again until a deployment changes the file
    (and with it the URL). A URL without `v` keeps Flask's default (revalidate every time)."""
    hashes: dict[str, str] = {}
    folder = Path(app.static_folder or "")

    def version(filename: str) -> str:
        if filename in hashes and not app.debug:
            return hashes[filename]
        try:
            digest = hashlib.sha256((folder / filename).read_bytes()).hexdigest()[:12]
        except OSError:  # a missing file: no version, Flask answers 404 as before
            digest = ""
        hashes[filename] = digest
        return digest

    @app.url_defaults
    def _versioned(endpoint: str, values: dict) -> None:
        name = values.get("filename") if endpoint == "static" and "v" not in values else None
        if name and (digest := version(name)):
            values["v"] = digest

    default_max_age = app.get_send_file_max_age

    def max_age(filename: str | None) -> int | None:
        if request.endpoint == "static" and request.args.get("v"):
            return STATIC_MAX_AGE
        return default_max_age(filename)

    app.get_send_file_max_age = max_age  # type: ignore[method-assign]
