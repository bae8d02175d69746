"""Paths and links of this site from any context: a request, a CLI command, a digest run."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, url_for


def site_path(endpoint: str, **values: Any) -> str:
    """url_for's path, also outside a request, where url_for needs SERVER_NAME (which a
    deployment behind a proxy rarely sets); a path does not depend on the host name."""
    if has_request_context():
        return url_for(endpoint, **values)
    root = current_app.config.get("APPLICATION_ROOT") or "/"
    return current_app.url_map.bind("localhost", script_name=root).build(endpoint, values)


def site_link(endpoint: str, **values: Any) -> str:
    """An absolute link for mail, on EXTERNAL_URL (the address users reach the site at)."""
    return current_app.config["EXTERNAL_URL"].rstrip("/") + site_path(endpoint, **values)
