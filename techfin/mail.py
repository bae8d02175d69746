"""The one place that sends email: real SMTP, text + HTML parts from templates."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template

_CRLF = re.compile(r"[\r\n\x00-\x1f\x7f]+")


def header_safe(value: str) -> str:
    """User text in a header cannot start a new header (CR/LF injection)."""
    return _CRLF.sub(" ", value or "").strip()


def build_message(
    to: str,
    subject: str,
    template: str,
    *,
    to_name: str = "",
    headers: dict[str, str] | None = None,
    **context: object,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    # Address quotes the display name, so "a: b@c" in a company name stays a name, never a
    # group or a second recipient.
    msg["To"] = Address(display_name=header_safe(to_name), addr_spec=header_safe(to))
    msg["Subject"] = header_safe(subject)
    msg["Message-ID"] = make_msgid(domain="techfin.local")
    for key, value in (headers or {}).items():
        msg[key] = header_safe(value)
    msg.set_content(render_template(f"email/{template}.txt", **context))
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return msg


def smtp_connection() -> smtplib.SMTP:
    cfg = current_app.config
    security = cfg["SMTP_SECURITY"]
    if security == "ssl":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=30, context=ssl.create_default_context()
        )
    else:
        conn = smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=30)
        if security == "starttls":
            conn.starttls(context=ssl.create_default_context())
    if cfg["SMTP_USER"]:
        conn.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
    return conn


def send(msg: EmailMessage, conn: smtplib.SMTP | None = None) -> None:
    """Send one message; raises smtplib errors so the caller can decide to retry."""
    if conn is not None:
        conn.send_message(msg)
        return
    with smtp_connection() as own:
        own.send_message(msg)
