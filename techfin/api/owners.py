"""Which organisation a new record belongs to, from the body or from the caller."""

from __future__ import annotations

from typing import Any

from techfin.api.core import INVALID
from techfin.errors import DomainError
from techfin.models import Enterprise, Funder, User
from techfin.services import lookup


def owning_enterprise(user: User, data: dict[str, Any]) -> Enterprise:
    """`enterprise_ref` from the body (popped), else the caller's own enterprise."""
    ref = data.pop("enterprise_ref", None)
    if ref is not None:
        return lookup.by_ref(user, Enterprise, ref, "enterprise_ref")
    own = user.organization
    if user.is_enterprise and isinstance(own, Enterprise):
        return own
    raise DomainError(
        INVALID, {"enterprise_ref": ["Missing data for required field. / 请指定企业编号"]}
    )


def owning_funder(user: User, data: dict[str, Any]) -> Funder:
    """`funder_ref` from the body (popped), else the caller's own institution."""
    ref = data.pop("funder_ref", None)
    if ref is not None:
        return lookup.by_ref(user, Funder, ref, "funder_ref")
    own = user.organization
    if user.is_institution and isinstance(own, Funder):
        return own
    raise DomainError(
        INVALID, {"funder_ref": ["Missing data for required field. / 请指定机构编号"]}
    )
