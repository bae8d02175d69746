"""The one place that sends email: real SMTP, text + HTML parts from templates.

Messages are built with the compat32 `email.mime` classes rather than `EmailMessage` with
the default policy: the header registry of the latter costs ~3 ms a message, which made
header parsing the largest cost of a 10 000-subscriber digest run. compat32 does no parsing,
so every header that carries user text goes through `format_address` or `header_value`
(CR/LF removed; formataddr quotes or RFC 2047-encodes a display name, so it can never
become a second recipient or a new header), and the `_Verbatim` policy refuses to write a
header value with a line break that is not a fold.
"""

from __future__ import annotations

import base64
import re
import secrets
import smtplib
import ssl
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.policy import Compat32
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import lru_cache

from flask import current_app, render_template

_CRLF = re.compile(r"[\r\n\x00-\x1f\x7f\u0085\u2028\u2029]+")


def header_safe(value: str) -> str:
    """User text in a header cannot start a new header (CR/LF injection)."""
    return _CRLF.sub(" ", value or "").strip()


_BARE_EOL = re.compile(r"\r|\n(?![ \t])")


class _Verbatim(Compat32):
    """compat32 that writes each header as it was set instead of refolding it: values are
    made safe and folded once by `header_value` / `format_address`, so a long URL in
    List-Unsubscribe stays on its header's line and encoded words stay within 75
    characters — and refolding every header cost more than building the message."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii():
            if _BARE_EOL.search(value):
                raise ValueError(f"{name}: a line break that would start a new header")
            return f"{name}: {value.replace(chr(10), self.linesep)}{self.linesep}"
        return super()._fold(name, value, sanitize)


POLICY = _Verbatim()


def format_address(name: str, addr: str) -> str:
    """`Name <addr>` for a To/From header; the name is quoted (ASCII) or RFC 2047-encoded
    (otherwise), so "a: b@c, d@e;" in a company name stays a name, never a group or more
    recipients."""
    addr, name = header_safe(addr), header_safe(name)
    if not addr.isascii() or any(c in addr for c in '<>,;:"()[]\\ '):
        raise ValueError(f"not a plain address: {addr!r}")
    # One encoded word for a non-ASCII name even past 75 characters, as formataddr makes
    # it: parsers put a space between adjacent encoded words of a phrase.
    return formataddr((name, addr), charset="utf-8")


def _encode(header: str, value: str) -> str:
    """RFC 2047 encoded words (which carry no raw specials or line breaks), folded."""
    raw = value.encode()
    if len(raw) <= 45:  # one encoded word within 75 characters; Header is slow for this
        return f"=?utf-8?b?{base64.b64encode(raw).decode('ascii')}?="
    return Header(value, "utf-8", header_name=header).encode(maxlinelen=75)


def header_value(name: str, value: str) -> str:
    """A header value made safe and folded: user text can neither end the header nor
    leave ASCII unencoded."""
    value = header_safe(value)
    if not value.isascii():
        return _encode(name, value)
    if len(value) < 900:
        return value
    return Header(value, "us-ascii", header_name=name).encode()


class _TextPart(Message):
    """A UTF-8 text/* part, base64 like MIMEText's, built without its parameter parsing;
    with the `get_content()` accessor that EmailMessage parts have, so a caller reads a
    body the same way whichever builder made the message."""

    def __init__(self, text: str, subtype: str) -> None:
        super().__init__(policy=POLICY)
        self["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        self["Content-Transfer-Encoding"] = "base64"
        self.set_payload(base64.encodebytes(text.encode()).decode("ascii"))

    def get_content(self) -> str:
        payload = self.get_payload(decode=True)
        return payload.decode(self.get_content_charset() or "utf-8")


@lru_cache(maxsize=8)
def _from_header(configured: str) -> str:
    name, addr = parseaddr(configured)
    return format_address(name, addr)


@lru_cache(maxsize=8)
def envelope_from(configured: str) -> str:
    return parseaddr(configured)[1]


def sender_domain() -> str:
    """The domain of MAIL_FROM: Message-IDs and List-Ids belong to the sending domain, so
    receivers' threading and filters see one consistent origin."""
    _name, address = parseaddr(current_app.config["MAIL_FROM"])
    domain = address.rpartition("@")[2].strip().lower()
    return domain or "techfin.local"


def compose_message(
    to: str,
    subject: str,
    text: str,
    html: str,
    *,
    to_name: str = "",
    headers: dict[str, str] | None = None,
) -> Message:
    """A multipart/alternative message from already rendered text and HTML bodies."""
    if not to.isascii():
        # formataddr cannot encode an internationalised mailbox; such an address needs
        # SMTPUTF8 and the header registry, so it takes the slow path.
        return _compose_utf8(to, subject, text, html, to_name=to_name, headers=headers)
    # A boundary of our own: the generator would otherwise compile a regex per message to
    # check its random one against the text. Both parts are base64, whose lines never
    # start with "--", so any boundary is safe.
    msg = MIMEMultipart("alternative", boundary=f"=_{secrets.token_hex(12)}", policy=POLICY)
    msg["From"] = _from_header(current_app.config["MAIL_FROM"])
    msg["To"] = format_address(to_name, to)
    msg["Subject"] = header_value("Subject", subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender_domain())
    for key, value in (headers or {}).items():
        msg[key] = header_value(key, value)
    msg.attach(_TextPart(text, "plain"))
    msg.attach(_TextPart(html, "html"))
    return msg


def _compose_utf8(
    to: str,
    subject: str,
    text: str,
    html: str,
    *,
    to_name: str,
    headers: dict[str, str] | None,
) -> Message:
    from email.headerregistry import Address
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = Address(display_name=header_safe(to_name), addr_spec=header_safe(to))
    msg["Subject"] = header_safe(subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender_domain())
    for key, value in (headers or {}).items():
        msg[key] = header_safe(value)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def build_message(
    to: str,
    subject: str,
    template: str,
    *,
    to_name: str = "",
    headers: dict[str, str] | None = None,
    **context: object,
) -> Message:
    return compose_message(
        to,
        subject,
        render_template(f"email/{template}.txt", **context),
        render_template(f"email/{template}.html", **context),
        to_name=to_name,
        headers=headers,
    )


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


def send(
    msg: Message, conn: smtplib.SMTP | None = None, *, to_addrs: list[str] | None = None
) -> None:
    """Send one message; raises smtplib errors so the caller can decide to retry.

    `to_addrs` fixes the envelope recipients instead of reading them back from the headers.
    """
    sender = envelope_from(current_app.config["MAIL_FROM"])
    if conn is not None:
        conn.send_message(msg, from_addr=sender, to_addrs=to_addrs)
        return
    with smtp_connection() as own:
        own.send_message(msg, from_addr=sender, to_addrs=to_addrs)
