"""Organisation profiles and an enterprise's data sharing, as its pages show them."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select

from techfin import reference
from techfin.errors import DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.models import DataAccess, Enterprise, Funder, SharingRule, User
from techfin.services import access, audit
from techfin.services.paging import Page, paginate
from techfin.services.records import FunderRecord

_EDITABLE_FUNDER_FIELDS = ("name", "regions", "description", "contact_email")


def update_funder(user: User, funder: Funder, data: dict[str, Any]) -> Funder:
    """An institution edits its own profile; kind and verification are the operator's."""
    if not access.can_edit_funder(user, funder):
        raise Forbidden("You may not change this record / 无权修改此记录")
    unknown = set(data) - set(_EDITABLE_FUNDER_FIELDS)
    if unknown:
        raise DomainError(
            "not editable", {k: ["Not editable here / 此处不可修改"] for k in unknown}
        )
    payload = {"ref": funder.ref, "name": funder.name, "kind": funder.kind, **data}
    if not payload.get("contact_email"):
        payload["contact_email"] = None
    try:
        clean = FunderRecord().load(payload)
    except ValidationError as exc:
        fields = {k: v if isinstance(v, list) else [str(v)] for k, v in exc.messages.items()}
        raise DomainError("invalid input", fields) from exc
    bad = [r for r in clean.get("regions") or [] if not reference.is_valid_region_prefix(r)]
    if bad:
        raise DomainError(
            "regions", {"regions": [f"Unknown region code {', '.join(bad)} / 地区代码无效"]}
        )
    values = {
        "name": clean["name"].strip(),
        "regions": sorted({reference.region_prefix(r) for r in clean.get("regions") or []}),
        "description": clean.get("description") or "",
        "contact_email": clean.get("contact_email") or None,
    }
    changed = {k: v for k, v in values.items() if k in data and getattr(funder, k) != v}
    for key, value in changed.items():
        setattr(funder, key, value)
    if changed:
        audit.record("update", funder, object_type="funder", detail={"fields": sorted(changed)})
    db.session.commit()
    return funder


def sharing_rules(enterprise: Enterprise) -> list[SharingRule]:
    """The enterprise's rules: the one for all verified institutions first."""
    rows = db.session.execute(
        select(SharingRule)
        .where(SharingRule.enterprise_id == enterprise.id)
        .order_by(SharingRule.funder_id.is_not(None), SharingRule.id)
    ).scalars()
    return list(rows)


def delete_sharing_rule(user: User, enterprise: Enterprise, rule_id: int) -> None:
    """Remove one rule: a per-institution rule falls back to the rule for all institutions."""
    if not access.can_edit_enterprise(user, enterprise):
        raise Forbidden("You may not change this record / 无权修改此记录")
    rule = db.session.get(SharingRule, rule_id)
    if rule is None or rule.enterprise_id != enterprise.id:
        raise NotFound("no such rule")
    audit.record("sharing", enterprise, object_type="enterprise",
                 detail={"funder_id": rule.funder_id, "removed": True})  # fmt: skip
    db.session.delete(rule)
    db.session.commit()


def shareable_funders() -> list[Funder]:
    """Institutions an enterprise may name in a sharing rule: the verified ones."""
    return list(
        db.session.execute(
            select(Funder).where(Funder.status == "verified").order_by(Funder.name)
        ).scalars()
    )


def access_log(enterprise: Enterprise, page: Any = 1, per_page: Any = 20) -> Page[DataAccess]:
    """Who viewed or exported the enterprise's data, newest first."""
    stmt = (
        select(DataAccess)
        .where(DataAccess.enterprise_id == enterprise.id)
        .order_by(DataAccess.at.desc(), DataAccess.id.desc())
    )
    return paginate(stmt, page, per_page)
