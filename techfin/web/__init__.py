"""Thin page blueprints; every action calls a service function."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from techfin.web import auth, main

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
