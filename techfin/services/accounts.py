"""Accounts: registration, credentials, password reset, API tokens."""

from __future__ import annotations

import functools
import re
import secrets
import threading
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import ROLES, ApiToken, Funder, Membership, Organization, User
from techfin.models.base import utcnow
from techfin.services import audit

# A bank's auditor asks for length and for resistance to guessing: ten characters at least,
# and zxcvbn's score 3 ("safely unguessable": ~10^8 guesses, which a slow hash like scrypt
# keeps out of reach of an offline attack) so `12345678`, `password-123` or the user's own
# email do not pass however long they are.
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching is quadratic); a long password is judged by its
# first 72 characters, which is already more than any guessable pattern needs.
_ZXCVBN_MAX = 72
# zxcvbn keeps the user inputs in a module-level dictionary: one analysis at a time.
_zxcvbn_lock = threading.Lock()

# zxcvbn's warnings are English only; the ones it gives are translated here (pybabel
# extracts these), the others fall back to our own sentence.
_ZXCVBN_WARNINGS = {
    "Straight rows of keys are easy to guess.": _l("Straight rows of keys are easy to guess."),
    "Short keyboard patterns are easy to guess.": _l("Short keyboard patterns are easy to guess."),
    'Repeats like "aaa" are easy to guess.': _l('Repeats like "aaa" are easy to guess.'),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': _l(
        'Repeats like "abcabcabc" are only slightly harder to guess than "abc".'
    ),
    'Sequences like "abc" or "6543" are easy to guess.': _l(
        'Sequences like "abc" or "6543" are easy to guess.'
    ),
    "Recent years are easy to guess.": _l("Recent years are easy to guess."),
    "Dates are often easy to guess.": _l("Dates are often easy to guess."),
    "This is a top-10 common password.": _l("This is a top-10 common password."),
    "This is a top-100 common password.": _l("This is a top-100 common password."),
    "This is a very common password.": _l("This is a very common password."),
    "This is similar to a commonly used password.": _l(
        "This is similar to a commonly used password."
    ),
    "A word by itself is easy to guess.": _l("A word by itself is easy to guess."),
    "Names and surnames by themselves are easy to guess.": _l(
        "Names and surnames by themselves are easy to guess."
    ),
    "Common names and surnames are easy to guess.": _l(
        "Common names and surnames are easy to guess."
    ),
}


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def password_problems(password: str, user_inputs: Iterable[str] = ()) -> list[str]:
    """Why this password is refused, in the caller's language; [] when it is acceptable."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        return [_("Use at least %(n)d characters.", n=MIN_PASSWORD)]
    if len(password) > MAX_PASSWORD:
        return [_("Use at most %(n)d characters.", n=MAX_PASSWORD)]
    # The email's local part and domain words count as guessable too (zxcvbn matches whole
    # dictionary words, so "zhang@example.cn" must be split to catch "zhang").
    inputs: list[str] = []
    for value in user_inputs:
        value = (value or "").strip().lower()
        if value:
            inputs.append(value)
            inputs.extend(w for w in re.split(r"[@.\s_+-]+", value) if len(w) >= 3)
    with _zxcvbn_lock:
        result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
    if result["score"] >= MIN_SCORE:
        return []
    problems = [_("This password is too easy to guess.")]
    warning = _ZXCVBN_WARNINGS.get(result["feedback"].get("warning", ""))
    if warning is not None:
        problems.append(str(warning))
    problems.append(_("Add a few uncommon words, or use a longer passphrase."))
    return [" ".join(problems)]


def check_password_strength(password: str, user_inputs: Iterable[str] = ()) -> None:
    """DomainError on the `password` field unless the password meets the policy."""
    problems = password_problems(password, user_inputs)
    if problems:
        raise DomainError("weak password", {"password": problems})


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
    check_password_strength(password, (email, name, organization.name if organization else ""))
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


@functools.cache
def _dummy_hash() -> str:
    """A hash made like every stored one, to check against when the email is unknown."""
    return generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


class AccountSuspended(Forbidden):
    """The password was right but the account is suspended (said only after the password)."""

    code = "suspended"


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None; failures are audited.

    Known and unknown emails cost one password hash each, so the time of the answer does not
    tell an attacker which addresses have accounts. A suspended account raises
    AccountSuspended, but only after its right password: someone who does not know the
    password learns nothing about the account, not even that it is suspended.
    """
    user = find_user(email)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        ok = False
    else:
        ok = user.check_password(password)
    if user is None or not ok or not user.active:
        audit.record(
            "login_failed",
            object_type="user",
            actor=normalise_email(email)[:254],
            detail={"reason": "inactive" if user is not None and user.active is False else "bad"},
        )
        db.session.commit()
        if user is not None and ok:
            raise AccountSuspended(
                "This account is suspended; please contact the platform administrator"
                " / 账户已停用，请联系管理员"
            )
        return None
    user.last_login_at = utcnow()
    audit.record("login", user, user=user)
    db.session.commit()
    return user


def logout(user: User) -> None:
    """End every session of this user: a cookie copied before logout no longer logs in.

    The session version is part of the id Flask-Login keeps in the cookie and the user loader
    compares it with the database, so bumping it invalidates every outstanding session cookie
    (this browser's, other devices', and any stolen copy) at once.
    """
    user.session_version += 1
    audit.record("logout", user, user=user)
    db.session.commit()


def change_password(user: User, old: str, new: str) -> None:
    if not user.check_password(old):
        raise DomainError("wrong password", {"old_password": ["Wrong password / 密码错误"]})
    set_password(user, new)


def set_password(user: User, new: str) -> None:
    """Set a new password and end every session of the user (the caller logs in again).

    API tokens stay valid: they are issued only with `flask api-token create` on the server
    (no page or API call mints one), so a stolen password cannot have produced one, and
    integrations must not break because a person changed a password. Suspension stops them
    and `flask api-token revoke` ends them.
    """
    org = user.organization
    check_password_strength(new, (user.email, user.name, org.name if org is not None else ""))
    user.set_password(new)
    user.session_version += 1
    audit.record("password_change", user, user=user)
    db.session.commit()


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def password_reset_token(user: User) -> str:
    # The hash fingerprint makes the token single-use: a new password changes it.
    return _reset_serializer().dumps({"uid": user.id, "pw": user.password_hash[-16:]})


RESET_MARK = "__reset_token__"


def request_password_reset(email: str, link_template: str, locale: str) -> None:
    """Someone asked for a reset link: hand the whole job to the task queue.

    The request does the same work whether or not the address has an account (no lookup,
    no token, no mail here), so neither the answer nor its time tells which addresses
    exist. `link_template` is the reset URL with RESET_MARK where the token goes.
    """
    from techfin import tasks
    from techfin.tasks import jobs

    if not tasks.wake(jobs.send_password_reset, normalise_email(email), link_template, locale):
        current_app.logger.warning("password reset request dropped: task queue unreachable")


def send_password_reset(email: str, link_template: str, locale: str) -> bool:
    """The task's part: mail a reset link to an active account with this email, if any."""
    from flask_babel import force_locale

    from techfin import mail

    user = find_user(email)
    if user is None or not user.active:
        return False
    link = link_template.replace(RESET_MARK, password_reset_token(user))
    with force_locale(locale):
        msg = mail.build_message(user.email, _("Reset your password"), "reset_password",
                                 to_name=user.name, user=user, link=link)  # fmt: skip
    mail.send(msg)  # an SMTP error fails the task, and the queue retries it
    return True


def reset_password(token: str, new: str, max_age: int | None = None) -> User:
    user = check_reset_token(token, max_age)
    set_password(user, new)
    return user


def check_reset_token(token: str, max_age: int | None = None) -> User:
    """The user a reset link is for; DomainError when it is expired, invalid or used.

    The reset page calls it when the link is opened, so a dead link is reported before
    anyone types a new password.
    """
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
    return user


def create_api_token(user: User, name: str = "") -> str:
    """Return a new bearer token; only its hash is stored."""
    token = "tf_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=ApiToken.hash(token), name=name[:100]))
    audit.record("token_create", user)
    db.session.commit()
    return token


# Writing last_used_at on every request would make every read a write; a minute is precise
# enough to tell a live token from a forgotten one.
TOKEN_TOUCH_EVERY = timedelta(minutes=1)


def user_for_token(token: str, path: str = "") -> User | None:
    """The active user owning this bearer token, or None (unknown, revoked, suspended)."""
    row = db.session.execute(
        db.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token))
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.revoked_at is not None or not row.user.active:
        # A known account knocking with a dead credential is worth an audit line; random
        # garbage is not (anyone could fill the table with it).
        reason = "revoked token" if row.revoked_at is not None else "suspended account"
        audit.record_now("denied", row.user, object_type="user", user=row.user,
                         detail={"reason": reason, "path": path[:200]})  # fmt: skip
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row.user


def set_locale(user: User, locale: str) -> None:
    """The language the user's pages and emails are in (the form offers the catalogs)."""
    user.locale = locale
    db.session.commit()


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


# Who may suspend, edit or reset whom. Admins manage every account but their own (someone
# must be able to stop a rogue or compromised admin from the pages). Operators manage the
# organisations' staff only, not other operators: one hijacked operator account must not be
# able to lock out, rename or reset the colleagues who would respond to it.
RANKS = {"enterprise": 1, "investor": 1, "bank": 1, "operator": 2, "admin": 3}


def can_manage(actor: User, target: User) -> bool:
    """Whether `actor` may suspend, reactivate, edit, reset or change the role of `target`."""
    if actor.id == target.id or not actor.is_operator:
        return False
    if actor.role == "admin":
        return True
    return RANKS.get(actor.role, 0) > RANKS.get(target.role, 0)


def require_manage(actor: User, target: User) -> None:
    """Forbidden unless `actor` outranks `target` (see RANKS)."""
    if actor.id == target.id:
        raise Conflict("self", {"user": [_("You cannot do this to your own account.")]})
    if not can_manage(actor, target):
        raise Forbidden(_("Only an administrator may change this account."))


def can_see_enterprise_data(user: User) -> bool:
    """Institutions see enterprise data only once an operator verified their institution."""
    if user.is_operator:
        return True
    if user.is_institution:
        org = user.organization
        return isinstance(org, Funder) and org.verified
    return user.is_enterprise


# Which institution kinds each institution account type registers (the "我是" choice).
FUNDER_KINDS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "bank": ("bank", "guarantee", "microloan", "insurer"),
    "investor": ("vc", "guidance_fund"),
}


def role_for_funder_kind(kind: str) -> str:
    """The staff role of an institution of this kind: "investor" or "bank"."""
    return "investor" if kind in FUNDER_KINDS_BY_ROLE["investor"] else "bank"


def register(
    *,
    account_type: str,
    org_name: str,
    name: str,
    email: str,
    password: str,
    industry: str = "",
    region: str = "",
    funder_kind: str = "",  # blank: the usual kind of the account type
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
        # The enterprise fields are not asked of an institution: ignored, not validated.
        industry = region = ""
        allowed = FUNDER_KINDS_BY_ROLE[account_type]
        funder_kind = funder_kind or allowed[0]  # left blank: the usual kind of the type
        if funder_kind not in FUNDER_KINDS:
            errors["funder_kind"] = ["Unknown institution kind / 机构类型无效"]
        elif funder_kind not in allowed:
            errors["funder_kind"] = [
                "This kind belongs to the other institution type: choose one of the list"
                " / 该机构类型与所选身份不符，请从列表中选择"
            ]
        role = account_type
    else:
        errors["account_type"] = ["Unknown account type / 账户类型无效"]
        role = ""
    if find_user(email) is not None:
        errors["email"] = ["Already registered / 该邮箱已注册"]
    # Checked with the other fields, so the form shows every problem at once.
    weak = password_problems(password, (email, name, org_name))
    if weak:
        errors["password"] = weak
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
