"""Administrators: create accounts, change roles, reset passwords.

Only admins do these (operators verify institutions and suspend organisations' staff, see
moderation.py); every function checks that and the hierarchy of accounts.can_manage, so the
pages, the CLI or a future API cannot skip it. Each writes its audit entry in the same
transaction as the change.
"""

from __future__ import annotations

from flask_babel import gettext as _

from techfin.errors import DomainError, Forbidden
from techfin.extensions import db
from techfin.models import INSTITUTION_ROLES, ROLES, STAFF_ROLES, Funder, User
from techfin.services import accounts, audit


def _require_admin(actor: User) -> None:
    if actor.role != "admin":
        raise Forbidden(_("Administrators only."))


def create_account(
    actor: User,
    *,
    email: str,
    role: str,
    password: str,
    name: str = "",
    org_ref: str = "",
    locale: str = "zh_CN",
) -> User:
    """A new account, with its organisation membership for enterprise and institution staff."""
    _require_admin(actor)
    org = None
    org_ref = (org_ref or "").strip()
    if role in STAFF_ROLES:
        if org_ref:
            raise DomainError("staff have no organisation", {"org_ref": [
                _("Operators and administrators belong to no organisation.")]})  # fmt: skip
    elif role in ROLES:
        if not org_ref:
            raise DomainError("organisation needed", {"org_ref": [
                _("Give the reference of the account's organisation.")]})  # fmt: skip
        try:
            org = accounts.find_organization(org_ref)
        except DomainError as err:
            raise DomainError(err.message, {"org_ref": [_("No such organisation.")]}) from err
    try:
        user = accounts.create_user(
            email, password, role, name=name, organization=org, org_role="member", locale=locale
        )
    except DomainError as err:
        # create_user names the organisation field "org"; the form calls it org_ref.
        if "org" in err.fields:
            err.fields["org_ref"] = err.fields.pop("org")
        raise
    # create_user wrote the "create" audit entry (as the admin: the request's user).
    db.session.commit()
    return user


def _same_kind(old: str, new: str) -> bool:
    """A role change keeps the account's kind: its organisation (or none) stays valid."""
    for kind in (("enterprise",), INSTITUTION_ROLES, STAFF_ROLES):
        if old in kind:
            return new in kind
    return False


def change_role(actor: User, target: User, role: str) -> User:
    """Operator ↔ admin, or bank ↔ investor staff; every session of the account ends."""
    _require_admin(actor)
    accounts.require_manage(actor, target)
    if role not in ROLES:
        raise DomainError("unknown role", {"role": [_("Unknown role.")]})
    if role == target.role:
        return target
    if not _same_kind(target.role, role):
        raise DomainError("kind changes", {"role": [_(
            "A role can change within its kind only (operator and administrator, or bank "
            "and investor staff); create a new account for anything else."
        )]})  # fmt: skip
    if role in INSTITUTION_ROLES and not isinstance(target.organization, Funder):
        raise DomainError("no institution", {"role": [_("The account has no institution.")]})
    old = target.role
    target.role = role
    # Pages and forms opened under the old role must not keep working (a demoted admin).
    target.session_version += 1
    audit.record("role_change", target, object_type="user", user=actor,
                 detail={"from": old, "to": role})  # fmt: skip
    db.session.commit()
    return target


def reset_password(actor: User, target: User, password: str) -> User:
    """Set a new password for someone (the policy applies); every session of theirs ends.

    The administrator hands the password over out of band and the person changes it; API
    tokens stay (see accounts.set_password for why).
    """
    _require_admin(actor)
    accounts.require_manage(actor, target)
    org = target.organization
    accounts.check_password_strength(
        password, (target.email, target.name, org.name if org is not None else "")
    )
    target.set_password(password)
    target.session_version += 1
    audit.record("password_reset", target, object_type="user", user=actor)
    db.session.commit()
    return target
