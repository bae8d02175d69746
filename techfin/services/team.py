"""An organisation's people: members, invitations with a one-time link, removal.

Only owners invite and remove. An invited account starts with an unusable random password;
the link lets the person choose one, once (the token is bound to the current password hash).
"""

from __future__ import annotations

import secrets
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import Membership, Organization, User
from techfin.services import accounts, audit

INVITE_MAX_AGE = 7 * 24 * 3600
OWNER = "owner"


@dataclass
class Invitation:
    user: User
    link: str
    mailed: bool


def members(org: Organization) -> list[Membership]:
    """Memberships of an organisation: owners first, then by email."""
    rows = db.session.execute(
        select(Membership)
        .join(User, Membership.user_id == User.id)
        .where(Membership.organization_id == org.id)
        .order_by((Membership.role == OWNER).desc(), User.email)
    ).scalars()
    return list(rows)


def membership(user: User, org: Organization) -> Membership | None:
    return db.session.execute(
        select(Membership).filter_by(user_id=user.id, organization_id=org.id)
    ).scalar_one_or_none()


def is_owner(user: User, org: Organization) -> bool:
    m = membership(user, org)
    return m is not None and m.role == OWNER


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="member-invite")


def invite_token(user: User) -> str:
    """A link token that works until the person sets a password (then the hash changes)."""
    return _serializer().dumps({"uid": user.id, "pw": user.password_hash[-16:]})


def invited_user(token: str, max_age: int | None = None) -> User:
    """The account a token invites; DomainError when it is expired, forged or used."""
    if max_age is None:
        max_age = current_app.config.get("INVITE_MAX_AGE", INVITE_MAX_AGE)
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise DomainError("expired", {"token": ["This link has expired / 链接已过期"]}) from exc
    except BadSignature as exc:
        raise DomainError("invalid", {"token": ["This link is not valid / 链接无效"]}) from exc
    user = db.session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.active or user.password_hash[-16:] != data.get("pw"):
        raise DomainError("used", {"token": ["This link was already used / 链接已使用"]})
    return user


def accept_invitation(token: str, password: str) -> User:
    """Set the invited person's password; the link stops working."""
    user = invited_user(token)
    accounts.set_password(user, password)
    return user


def invite(
    inviter: User,
    org: Organization,
    email: str,
    name: str,
    *,
    link_for: Callable[[str], str],
    compose: Callable[[User, str], EmailMessage],
    send: Callable[[EmailMessage], None],
) -> Invitation:
    """Create a member account and mail its set-password link.

    `link_for` turns a token into an absolute URL, `compose` builds the message and `send`
    delivers it; when delivery fails the invitation stands and `mailed` is False, so the
    inviter can pass the link on another way.
    """
    if not is_owner(inviter, org):
        raise Forbidden("Only owners may invite / 只有管理员可以邀请成员")
    address = accounts.normalise_email(email)
    existing = accounts.find_user(address)
    if existing is not None:
        # An invitation only ever creates a new account. Taking over an existing one would
        # let any owner reactivate a suspended account (an operator's or an admin's, or a
        # member another organisation removed), revive its API tokens and mail themselves
        # a set-password link. Nothing is written, nothing is mailed.
        if membership(existing, org) is not None:
            raise Conflict("member", {"email": [_("Already a member of this organisation.")]})
        raise Conflict("existing account", {"email": [_(
            "This email already has an account; an invitation cannot add an existing or "
            "suspended account. Ask a platform administrator."
        )]})  # fmt: skip
    user = accounts.create_user(
        address, secrets.token_urlsafe(32), inviter.role,
        name=name, organization=org, org_role="member", locale=inviter.locale,
    )  # fmt: skip
    db.session.flush()
    audit.record("invite", user, object_type="user", detail={"organization": org.ref})
    db.session.commit()
    link = link_for(invite_token(user))
    try:
        send(compose(user, link))
        mailed = True
    except (OSError, smtplib.SMTPException):
        current_app.logger.warning("invitation mail to %s failed", user.email, exc_info=True)
        mailed = False
    return Invitation(user=user, link=link, mailed=mailed)


def remove_member(actor: User, org: Organization, user_id: int) -> User:
    """Take a person out of the organisation; the account is suspended and logged out."""
    if not is_owner(actor, org):
        raise Forbidden("Only owners may remove members / 只有管理员可以移除成员")
    target = db.session.get(User, user_id)
    m = membership(target, org) if target is not None else None
    if target is None or m is None:
        raise NotFound("not a member", {"user": ["Not a member / 不是本机构成员"]})
    if target.id == actor.id:
        raise Conflict("self", {"user": ["You cannot remove yourself / 不能移除自己"]})
    db.session.delete(m)
    target.active = False
    target.session_version += 1
    audit.record("remove_member", target, object_type="user", detail={"organization": org.ref})
    db.session.commit()
    return target
