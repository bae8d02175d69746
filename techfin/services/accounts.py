"""Accounts: registration, credentials, password reset, API tokens."""

from __future__ import annotations

import secrets

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from techfin.errors import Conflict, DomainError, NotFound
from techfin.extensions import db
from techfin.models import ROLES, ApiToken, Funder, Membership, Organization, User
from techfin.models.base import utcnow
from techfin.services import audit

MIN_PASSWORD = 8


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise DomainError(
            "password too short",
            {"password": [f"At least {MIN_PASSWORD} characters / 至少 {MIN_PASSWORD} 个字符"]},
        )
    if len(password) > 256:
        raise DomainError("password too long", {"password": ["At most 256 characters"]})


def find_user(email: str) -> User | None:
    return db.session.execute(
        db.select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


def find_organization(ref: str) -> Organization:
    rows = db.session.execute(db.select(Organization).where(Organization.ref == ref)).scalars()
    found = list(rows)
    if not found:
        raise NotFound(f"no enterprise or funder with ref {ref!r}", {"org": ["unknown ref"]})
    if len(found) > 1:
        raise Conflict(f"ref {ref!r} names both an enterprise and a funder", {"org": ["ambiguous"]})
    return found[0]


def create_user(
    email: str,
    password: str,
    role: str,
    *,
    name: str = "",
    organization: Organization | None = None,
    org_role: str = "member",
    locale: str = "zh_CN",
) -> User:
    """Create an account; the caller commits."""
    email = normalise_email(email)
    if role not in ROLES:
        raise DomainError("unknown role", {"role": [f"one of {', '.join(ROLES)}"]})
    if find_user(email) is not None:
        raise Conflict("email already registered", {"email": ["already registered / 已注册"]})
    check_password_strength(password)
    if organization is not None:
        expected = "enterprise" if role == "enterprise" else "funder"
        if role in ("operator", "admin"):
            raise DomainError("operators belong to no organisation", {"org": ["not allowed"]})
        if organization.type != expected:
            raise DomainError(
                f"a {role} account needs a {expected} organisation", {"org": ["wrong kind"]}
            )
    user = User(email=email, role=role, name=name.strip(), locale=locale)
    user.set_password(password)
    db.session.add(user)
    if organization is not None:
        db.session.add(Membership(user=user, organization=organization, role=org_role))
    db.session.flush()
    audit.record("create", user, detail={"role": role})
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None; failures are audited."""
    user = find_user(email)
    if user is None or not user.check_password(password) or not user.active:
        audit.record(
            "login_failed",
            object_type="user",
            actor=normalise_email(email)[:254],
            detail={"reason": "inactive" if user is not None and user.active is False else "bad"},
        )
        db.session.commit()
        return None
    user.last_login_at = utcnow()
    audit.record("login", user, user=user)
    db.session.commit()
    return user


def change_password(user: User, old: str, new: str) -> None:
    if not user.check_password(old):
        raise DomainError("wrong password", {"old_password": ["Wrong password / 密码错误"]})
    set_password(user, new)


def set_password(user: User, new: str) -> None:
    check_password_strength(new)
    user.set_password(new)
    user.session_version += 1  # logs out every other session
    audit.record("password_change", user, user=user)
    db.session.commit()


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def password_reset_token(user: User) -> str:
    # The hash fingerprint makes the token single-use: a new password changes it.
    return _reset_serializer().dumps({"uid": user.id, "pw": user.password_hash[-16:]})


def reset_password(token: str, new: str, max_age: int | None = None) -> User:
    max_age = max_age if max_age is not None else current_app.config["PASSWORD_RESET_MAX_AGE"]
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise DomainError("expired", {"token": ["This link has expired / 链接已过期"]}) from exc
    except BadSignature as exc:
        raise DomainError("invalid", {"token": ["This link is not valid / 链接无效"]}) from exc
    user = db.session.get(User, data.get("uid"))
    if user is None or user.password_hash[-16:] != data.get("pw"):
        raise DomainError("used", {"token": ["This link was already used / 链接已使用"]})
    set_password(user, new)
    return user


def create_api_token(user: User, name: str = "") -> str:
    """Return a new bearer token; only its hash is stored."""
    token = "tf_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=ApiToken.hash(token), name=name[:100]))
    audit.record("token_create", user)
    db.session.commit()
    return token


def revoke_api_tokens(user: User) -> int:
    rows = db.session.execute(
        db.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalars()
    count = 0
    for row in rows:
        row.revoke()
        count += 1
    audit.record("token_revoke", user, detail={"count": count})
    db.session.commit()
    return count


def can_see_enterprise_data(user: User) -> bool:
    """Institutions see enterprise data only once an operator verified their institution."""
    if user.is_operator:
        return True
    if user.is_institution:
        org = user.organization
        return isinstance(org, Funder) and org.verified
    return user.is_enterprise


def register(
    *,
    account_type: str,
    org_name: str,
    name: str,
    email: str,
    password: str,
    industry: str = "",
    region: str = "",
    funder_kind: str = "bank",
    locale: str = "zh_CN",
) -> User:
    """Self-registration: a new organisation and its first (owner) account.

    Institutions start unverified: they see no enterprise data until an operator verifies them.
    """
    from techfin import reference
    from techfin.models import FUNDER_KINDS, Enterprise

    errors: dict[str, list[str]] = {}
    org_name = org_name.strip()
    if account_type == "enterprise":
        if not reference.is_valid_industry(industry.strip().upper()):
            errors["industry"] = ["Unknown industry code / 行业代码无效"]
        if not reference.is_valid_region(region.strip()):
            errors["region"] = ["Unknown region code / 地区代码无效"]
        role = "enterprise"
    elif account_type in ("bank", "investor"):
        if funder_kind not in FUNDER_KINDS:
            errors["funder_kind"] = ["Unknown institution kind / 机构类型无效"]
        role = account_type
    else:
        errors["account_type"] = ["Unknown account type / 账户类型无效"]
        role = ""
    if find_user(email) is not None:
        errors["email"] = ["Already registered / 该邮箱已注册"]
    if errors:
        raise DomainError("invalid registration", errors)
    ref = "W-" + secrets.token_hex(5).upper()
    org: Organization
    if role == "enterprise":
        org = Enterprise(
            ref=ref, name=org_name, industry=industry.strip().upper(), region=region.strip(),
            contact_email=normalise_email(email),
        )  # fmt: skip
    else:
        org = Funder(ref=ref, name=org_name, kind=funder_kind, status="pending",
                     contact_email=normalise_email(email))  # fmt: skip
    db.session.add(org)
    db.session.flush()
    audit.record("create", org, object_type=org.type)
    user = create_user(
        email, password, role, name=name, organization=org, org_role="owner", locale=locale
    )
    db.session.commit()
    return user
