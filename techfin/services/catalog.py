"""Create, change and delete business records, with the access rules and validation.

Pages, the JSON API and the CLI call these; each takes the acting user and plain data in
interchange field names (money in yuan) and raises DomainError subclasses that the callers
turn into form errors or JSON 4xx answers.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from techfin import reference
from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.localtime import beijing_today
from techfin.models import (
    Copyright,
    Enterprise,
    Funder,
    Membership,
    Need,
    Outcome,
    Patent,
    Product,
    SharingRule,
    Trademark,
    User,
)
from techfin.services import access, audit
from techfin.services.interchange import (
    _copyright_values,
    _enterprise_values,
    _funder_values,
    _need_values,
    _outcome_values,
    _patent_values,
    _product_values,
    _trademark_values,
)
from techfin.services.records import (
    CopyrightRecord,
    EnterpriseRecord,
    FunderRecord,
    NeedRecord,
    OutcomeRecord,
    PatentRecord,
    ProductRecord,
    TrademarkRecord,
    bilingual,
)

_FORBIDDEN = "You may not change this record / 无权修改此记录"


def _load(
    schema: type, data: dict[str, Any], *, partial: bool = False, exclude: tuple = ()
) -> dict:
    try:
        return schema(exclude=exclude).load(data, partial=partial)
    except ValidationError as exc:
        fields = {
            k: [bilingual(str(m)) for m in (v if isinstance(v, list) else [v])]
            for k, v in _flat(exc.messages).items()
        }
        raise DomainError("invalid input", fields) from exc


def _flat(messages: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(_flat(value, name))
            else:
                out[name] = value
    return out


def _unique_ref(prefix: str, model: type) -> str:
    import secrets

    while True:
        ref = f"{prefix}-{secrets.token_hex(4).upper()}"
        if not db.session.scalar(db.select(model.id).where(model.ref == ref)):
            return ref


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    out.update(changes)
    return out


# ------------------------------------------------------------------ enterprise


def update_enterprise(user: User, enterprise: Enterprise, data: dict[str, Any]) -> Enterprise:
    if not access.can_edit_enterprise(user, enterprise):
        raise Forbidden(_FORBIDDEN)
    from techfin.services.interchange import enterprise_record

    current = enterprise_record(enterprise)
    current.pop("type")
    clean = _load(EnterpriseRecord, _merged(current, data | {"ref": enterprise.ref}))
    values = _enterprise_values(clean)
    if values["uscc"]:
        other = db.session.scalar(
            db.select(Enterprise.ref).where(
                Enterprise.uscc == values["uscc"], Enterprise.id != enterprise.id
            )
        )
        if other:
            raise Conflict(
                "uscc in use",
                {"uscc": ["Already registered by another enterprise / 该信用代码已被其他企业使用"]},
            )
    changed = {k: v for k, v in values.items() if getattr(enterprise, k) != v}
    for key, value in changed.items():
        setattr(enterprise, key, value)
    if changed:
        audit.record(
            "update", enterprise, object_type="enterprise", detail={"fields": sorted(changed)}
        )
    db.session.commit()
    return enterprise


# ------------------------------------------------------------------ copyrights and trademarks

IpRight = Copyright | Trademark
# kind → (model, record schema, record → column values, generated ref prefix)
_IP: dict[str, tuple[Any, type, Any, str]] = {
    "copyright": (Copyright, CopyrightRecord, _copyright_values, "CR"),
    "trademark": (Trademark, TrademarkRecord, _trademark_values, "TM"),
}


def _ip_kind(item: Any) -> str:
    return "copyright" if isinstance(item, Copyright) else "trademark"


def _check_ip_number(model: Any, enterprise_id: int, number: str, own_id: int | None) -> None:
    # One registration is one item: the same number twice would count it twice for a
    # product's min_ip_count and pledged value.
    stmt = db.select(model.id).where(model.enterprise_id == enterprise_id, model.number == number)
    if own_id is not None:
        stmt = stmt.where(model.id != own_id)
    if db.session.scalar(stmt.limit(1)):
        raise Conflict(
            "number exists",
            {"number": ["This enterprise already has this registration number / 该登记号已录入"]},
        )


def create_ip(user: User, kind: str, enterprise: Enterprise, data: dict[str, Any]) -> IpRight:
    """A software copyright (kind "copyright") or trademark of the enterprise."""
    model, schema, values_of, prefix = _IP[kind]
    if not access.can_edit_ip(user, enterprise_id=enterprise.id):
        raise Forbidden(_FORBIDDEN)
    payload = {"ref": data.get("ref") or _unique_ref(prefix, model), **data,
               "enterprise_ref": enterprise.ref}  # fmt: skip
    clean = _load(schema, payload)
    if db.session.scalar(db.select(model.id).where(model.ref == clean["ref"])):
        raise Conflict("ref exists", {"ref": ["Already used / 编号已存在"]})
    values = values_of(clean)
    _check_ip_number(model, enterprise.id, values["number"], None)
    item = model(ref=clean["ref"], enterprise=enterprise, **values)
    db.session.add(item)
    db.session.flush()
    audit.record("create", item, object_type=kind)
    db.session.commit()
    return item


def update_ip(user: User, item: IpRight, data: dict[str, Any]) -> IpRight:
    kind = _ip_kind(item)
    model, schema, values_of, _prefix = _IP[kind]
    if not access.can_edit_ip(user, item):
        raise Forbidden(_FORBIDDEN)
    from techfin.services.interchange import copyright_record, trademark_record

    current = (copyright_record if kind == "copyright" else trademark_record)(item)
    current.pop("type")
    clean = _load(schema, _merged(current, data | {"ref": item.ref,
                                                   "enterprise_ref": item.enterprise.ref}))  # fmt: skip
    values = values_of(clean)
    _check_ip_number(model, item.enterprise_id, values["number"], item.id)
    changed = {k: v for k, v in values.items() if getattr(item, k) != v}
    for key, value in changed.items():
        setattr(item, key, value)
    if changed:
        audit.record("update", item, object_type=kind, detail={"fields": sorted(changed)})
    db.session.commit()
    return item


def delete_ip(user: User, item: IpRight) -> None:
    if not access.can_edit_ip(user, item):
        raise Forbidden(_FORBIDDEN)
    audit.record("delete", item, object_type=_ip_kind(item))
    db.session.delete(item)
    db.session.commit()


# ------------------------------------------------------------------ patents


def create_patent(user: User, enterprise: Enterprise, data: dict[str, Any]) -> Patent:
    if not access.can_edit_patent(user, enterprise_id=enterprise.id):
        raise Forbidden(_FORBIDDEN)
    payload = {"ref": data.get("ref") or _unique_ref("PT", Patent), **data,
               "enterprise_ref": enterprise.ref}  # fmt: skip
    clean = _load(PatentRecord, payload)
    if db.session.scalar(db.select(Patent.id).where(Patent.ref == clean["ref"])):
        raise Conflict("ref exists", {"ref": ["Already used / 编号已存在"]})
    patent = Patent(ref=clean["ref"], enterprise=enterprise, **_patent_values(clean))
    _check_patent_kind(patent)
    _check_patent_unique(enterprise.id, patent.number, None)
    db.session.add(patent)
    db.session.flush()
    audit.record("create", patent, object_type="patent")
    db.session.commit()
    return patent


DUPLICATE_PATENT = "This enterprise already has this patent / 本企业已登记该专利"


def _check_patent_unique(enterprise_id: int, number: str, patent_id: int | None) -> None:
    """One application number once per enterprise (the unique index of migration 0014)."""
    query = db.select(Patent.id).where(Patent.enterprise_id == enterprise_id,
                                       Patent.number == number)  # fmt: skip
    if patent_id is not None:
        query = query.where(Patent.id != patent_id)
    with db.session.no_autoflush:  # the patent being changed must not be flushed first
        if db.session.scalar(query) is not None:
            raise Conflict("patent exists", {"number": [DUPLICATE_PATENT]})


# The kinds in both languages, for the message below (never the raw code on a page).
_PATENT_KIND_NAMES = {
    "invention": ("an invention", "发明专利"),
    "utility_model": ("a utility model", "实用新型"),
    "design": ("a design", "外观设计"),
}


def _check_patent_kind(patent: Patent) -> None:
    implied = reference.patent_kind_from_number(patent.number)
    if implied and implied != patent.kind:
        en, zh = _PATENT_KIND_NAMES.get(implied, (implied, implied))
        raise DomainError(
            "kind mismatch",
            {"kind": [f"The number is {en} application / 申请号表明类型为{zh}"]},
        )


def update_patent(user: User, patent: Patent, data: dict[str, Any]) -> Patent:
    if not access.can_edit_patent(user, patent):
        raise Forbidden(_FORBIDDEN)
    from techfin.services.interchange import patent_record

    current = patent_record(patent)
    current.pop("type")
    clean = _load(PatentRecord, _merged(current, data | {"ref": patent.ref,
                                                         "enterprise_ref": patent.enterprise.ref}))  # fmt: skip
    values = _patent_values(clean)
    _check_patent_unique(patent.enterprise_id, values["number"], patent.id)
    changed = {k: v for k, v in values.items() if getattr(patent, k) != v}
    for key, value in changed.items():
        setattr(patent, key, value)
    _check_patent_kind(patent)
    if changed:
        audit.record("update", patent, object_type="patent", detail={"fields": sorted(changed)})
    db.session.commit()
    return patent


def delete_patent(user: User, patent: Patent) -> None:
    if not access.can_edit_patent(user, patent):
        raise Forbidden(_FORBIDDEN)
    audit.record("delete", patent, object_type="patent")
    db.session.delete(patent)
    db.session.commit()


# ------------------------------------------------------------------ needs


def create_need(user: User, enterprise: Enterprise, data: dict[str, Any]) -> Need:
    if not access.can_edit_need(user, enterprise_id=enterprise.id):
        raise Forbidden(_FORBIDDEN)
    payload = {"ref": data.get("ref") or _unique_ref("N", Need), "status": "draft",
               "created": beijing_today().isoformat(), **data, "enterprise_ref": enterprise.ref}  # fmt: skip
    clean = _load(NeedRecord, payload)
    if clean.get("status") == "closed":
        raise DomainError(
            "closed", {"status": ["A new need cannot start closed / 新需求不能为已关闭"]}
        )
    if db.session.scalar(db.select(Need.id).where(Need.ref == clean["ref"])):
        raise Conflict("ref exists", {"ref": ["Already used / 编号已存在"]})
    need = Need(ref=clean["ref"], enterprise=enterprise, **_need_values(clean))
    db.session.add(need)
    db.session.flush()
    audit.record("create", need, object_type="need")
    db.session.commit()
    return need


# Needs: draft → published → closed (with a reason) → published again. Once published, a
# need may have been read by institutions: it is closed, never unpublished or deleted.
NEED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("published", "closed"),
    "published": ("closed",),
    "closed": ("published",),
}


def need_status_problem(current: str, status: str) -> str | None:
    """Why a need may not move from `current` to `status` (None: it may); pages, API and
    import alike."""
    if status == current or status in NEED_TRANSITIONS.get(current, ()):
        return None
    if current == "published":
        return "A published need is closed, not taken back / 已发布的需求只能关闭，不能撤回"
    return f"Cannot go from {current} to {status} / 不能从当前状态变更为该状态"


def update_need(user: User, need: Need, data: dict[str, Any]) -> Need:
    """Edit a need or change its status, for the pages and the API alike: status moves
    follow NEED_TRANSITIONS, a closed need changes only by being published again (alone,
    then edited), closing needs a reason, and the creation date stays."""
    if not access.can_edit_need(user, need):
        raise Forbidden(_FORBIDDEN)
    data = dict(data) if isinstance(data, dict) else {}
    reason = data.pop("closed_reason", None)
    status = data.get("status", need.status)
    message = need_status_problem(need.status, status)
    if message:
        raise Conflict("transition", {"status": [message]})
    from techfin.services.interchange import need_record

    current = need_record(need)
    current.pop("type")
    if need.status == "closed":
        others = {k for k, v in data.items() if k != "status" and current.get(k) != v}
        if status != "published" or others:
            raise Conflict(
                "closed",
                {"status": ["A closed need cannot be edited: publish it again first / "
                            "已关闭的需求不能修改，请先重新发布"]},
            )  # fmt: skip
    if "created" in data and str(data["created"]) != str(current.get("created")):
        raise DomainError(
            "created", {"created": ["The creation date cannot be changed / 创建日期不可修改"]}
        )
    clean = _load(NeedRecord, _merged(current, data | {"ref": need.ref,
                                                       "enterprise_ref": need.enterprise.ref}))  # fmt: skip
    values = _need_values(clean)
    if values["status"] == "closed" and need.status != "closed":
        if not isinstance(reason, str) or not reason.strip():
            raise DomainError(
                "reason", {"closed_reason": ["Give a reason for closing / 请填写关闭原因"]}
            )
        need.closed_reason = reason.strip()[:2000]
    elif need.status == "closed" and values["status"] == "published":
        need.closed_reason = ""
    changed = {k: v for k, v in values.items() if getattr(need, k) != v}
    for key, value in changed.items():
        setattr(need, key, value)
    if changed:
        audit.record("update", need, object_type="need", detail={"fields": sorted(changed)})
    db.session.commit()
    return need


def set_need_status(user: User, need: Need, status: str, reason: str = "") -> Need:
    data: dict[str, Any] = {"status": status}
    if status == "closed":
        data["closed_reason"] = reason
    return update_need(user, need, data)


def delete_need(user: User, need: Need) -> None:
    """Only a draft is deleted: anything institutions may have read is closed instead."""
    if not access.can_edit_need(user, need):
        raise Forbidden(_FORBIDDEN)
    if need.status != "draft":
        raise Conflict(
            "not a draft",
            {"status": ["Only drafts can be deleted: close it instead / 仅草稿可删除，请改为关闭"]},
        )
    if db.session.scalar(db.select(Outcome.id).where(Outcome.need_id == need.id).limit(1)):
        raise Conflict(
            "has outcomes",
            {
                "status": [
                    "It has docking records: close it instead / 已有对接记录，请关闭而不是删除"
                ]
            },
        )
    audit.record("delete", need, object_type="need")
    db.session.delete(need)
    db.session.commit()


# ------------------------------------------------------------------ products


def create_product(user: User, funder: Funder, data: dict[str, Any]) -> Product:
    if not access.can_edit_product(user, funder_id=funder.id):
        raise Forbidden(_FORBIDDEN)
    payload = {
        "ref": data.get("ref") or _unique_ref("P", Product),
        **data,
        "funder_ref": funder.ref,
    }
    clean = _load(ProductRecord, payload)
    if db.session.scalar(db.select(Product.id).where(Product.ref == clean["ref"])):
        raise Conflict("ref exists", {"ref": ["Already used / 编号已存在"]})
    product = Product(ref=clean["ref"], funder=funder, **_product_values(clean))
    db.session.add(product)
    db.session.flush()
    audit.record("create", product, object_type="product")
    db.session.commit()
    return product


def update_product(user: User, product: Product, data: dict[str, Any]) -> Product:
    if not access.can_edit_product(user, product):
        raise Forbidden(_FORBIDDEN)
    from techfin.services.interchange import product_record

    current = product_record(product)
    current.pop("type")
    clean = _load(ProductRecord, _merged(current, data | {"ref": product.ref,
                                                          "funder_ref": product.funder.ref}))  # fmt: skip
    values = _product_values(clean)
    changed = {k: v for k, v in values.items() if getattr(product, k) != v}
    for key, value in changed.items():
        setattr(product, key, value)
    if changed:
        audit.record("update", product, object_type="product", detail={"fields": sorted(changed)})
    db.session.commit()
    return product


def delete_product(user: User, product: Product) -> None:
    if not access.can_edit_product(user, product):
        raise Forbidden(_FORBIDDEN)
    if db.session.scalar(db.select(Outcome.id).where(Outcome.product_id == product.id).limit(1)):
        raise Conflict(
            "has outcomes",
            {
                "status": [
                    "It has docking records: retire it instead / 已有对接记录，请下架而不是删除"
                ]
            },
        )
    audit.record("delete", product, object_type="product")
    db.session.delete(product)
    db.session.commit()


# ------------------------------------------------------------------ outcomes


def record_outcome(user: User, need: Need, product: Product, data: dict[str, Any]) -> Outcome:
    """A docking step, committed: see `techfin.services.pipeline.advance` (the one entry)."""
    from techfin.services import pipeline

    return pipeline.advance(user, need, product, data)


def delete_outcome(user: User, outcome: Outcome) -> None:
    if not user.is_operator:
        raise Forbidden(_FORBIDDEN)
    audit.record("delete", outcome, object_type="outcome")
    db.session.delete(outcome)
    db.session.commit()


# ------------------------------------------------------------------ funders and sharing


def correct_funder_kind(user: User, funder: Funder, kind: str) -> Funder:
    """An operator corrects the kind of an institution (a VC that registered as a bank).

    Its staff's role follows the kind (investor or bank staff), so they see the pages of
    what they are; each change is audited with what it was before.
    """
    from techfin.models import FUNDER_KINDS
    from techfin.services.accounts import role_for_funder_kind

    if not user.is_operator:
        raise Forbidden(_FORBIDDEN)
    if kind not in FUNDER_KINDS:
        raise DomainError("kind", {"kind": ["Choose the institution kind / 请选择机构类型"]})
    old = funder.kind
    if kind == old:
        return funder
    funder.kind = kind
    audit.record("type_change", funder, object_type="funder", user=user,
                 detail={"from": old, "to": kind})  # fmt: skip
    role = role_for_funder_kind(kind)
    staff = db.session.execute(
        db.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == funder.id, User.role.in_(("bank", "investor")))
    ).scalars()  # fmt: skip
    for member in staff:
        if member.role != role:
            audit.record("role_change", member, object_type="user", user=user,
                         detail={"from": member.role, "to": role})  # fmt: skip
            member.role = role
            member.session_version += 1  # pages opened under the old role stop working
    db.session.commit()
    return funder


def verify_funder(user: User, funder: Funder, approve: bool, reason: str = "") -> Funder:
    if not user.is_operator:
        raise Forbidden(_FORBIDDEN)
    if not approve and not reason.strip():
        raise DomainError("reason", {"reason": ["Tell the applicant why / 请说明原因"]})
    funder.status = "verified" if approve else "rejected"
    funder.status_reason = "" if approve else reason.strip()[:2000]
    audit.record("verify" if approve else "reject", funder, object_type="funder",
                 detail={"reason": funder.status_reason})  # fmt: skip
    db.session.commit()
    return funder


def set_sharing(
    user: User, enterprise: Enterprise, funder_id: int | None, *, financials: bool, patents: bool
) -> SharingRule:
    if not access.can_edit_enterprise(user, enterprise):
        raise Forbidden(_FORBIDDEN)
    if funder_id is not None and db.session.get(Funder, funder_id) is None:
        raise NotFound("no such funder", {"funder_id": ["Unknown institution / 机构不存在"]})
    rule = db.session.execute(
        db.select(SharingRule).filter_by(enterprise_id=enterprise.id, funder_id=funder_id)
    ).scalar_one_or_none()
    if rule is None:
        rule = SharingRule(enterprise_id=enterprise.id, funder_id=funder_id)
        db.session.add(rule)
    rule.financials, rule.patents = bool(financials), bool(patents)
    audit.record("sharing", enterprise, object_type="enterprise",
                 detail={"funder_id": funder_id, "financials": financials, "patents": patents})  # fmt: skip
    db.session.commit()
    return rule


def log_data_access(user: User, enterprise_id: int, action: str, what: str) -> None:
    """Record that an institution looked at an enterprise's data (shown to the enterprise)."""
    from techfin.services import access_log

    access_log.record_reads(user, action, [(enterprise_id, what)])


# ------------------------------------------------------------------ organisations and corrections


def _has_accounts(org_id: int) -> bool:
    return bool(
        db.session.scalar(
            db.select(Membership.id).where(Membership.organization_id == org_id).limit(1)
        )
    )


def create_enterprise(user: User, data: dict[str, Any]) -> Enterprise:
    """An operator registers an enterprise (enterprises register themselves via accounts)."""
    if not access.can_create(user, "enterprise"):
        raise Forbidden(_FORBIDDEN)
    clean = _load(
        EnterpriseRecord, {"ref": data.get("ref") or _unique_ref("E", Enterprise), **data}
    )
    if db.session.scalar(db.select(Enterprise.id).where(Enterprise.ref == clean["ref"])):
        raise Conflict("ref exists", {"ref": ["Already used / 编号已存在"]})
    values = _enterprise_values(clean)
    if values["uscc"] and db.session.scalar(
        db.select(Enterprise.id).where(Enterprise.uscc == values["uscc"])
    ):
        raise Conflict(
            "uscc in use",
            {"uscc": ["Already registered by another enterprise / 该信用代码已被其他企业使用"]},
        )
    enterprise = Enterprise(ref=clean["ref"], **values)
    db.session.add(enterprise)
    db.session.flush()
    audit.record("create", enterprise, object_type="enterprise")
    db.session.commit()
    return enterprise


def delete_enterprise(user: User, enterprise: Enterprise) -> None:
    """Operators only, and only a record nobody works with yet (no accounts, no dockings)."""
    if not user.is_operator:
        raise Forbidden(_FORBIDDEN)
    docked = db.session.scalar(
        db.select(Outcome.id).join(Need).where(Need.enterprise_id == enterprise.id).limit(1)
    )
    if docked or _has_accounts(enterprise.id):
        raise Conflict(
            "in use",
            {"ref": ["It has accounts or docking records / 该企业已有账户或对接记录，不能删除"]},
        )
    audit.record("delete", enterprise, object_type="enterprise")
    db.session.delete(enterprise)
    db.session.commit()


def create_funder(user: User, data: dict[str, Any]) -> Funder:
    """An operator registers an institution; verified unless the data says otherwise."""
    if not access.can_create(user, "funder"):
        raise Forbidden(_FORBIDDEN)
    clean = _load(FunderRecord, {"ref": data.get("ref") or _unique_ref("F", Funder), **data})
    if db.session.scalar(db.select(Funder.id).where(Funder.ref == clean["ref"])):
        raise Conflict("ref exists", {"ref": ["Already used / 编号已存在"]})
    funder = Funder(ref=clean["ref"], **_funder_values(clean, None))
    db.session.add(funder)
    db.session.flush()
    audit.record("create", funder, object_type="funder")
    db.session.commit()
    return funder


def update_funder(user: User, funder: Funder, data: dict[str, Any]) -> Funder:
    """Profile fields only: verification goes through verify_funder, with its reason."""
    if not access.can_edit_funder(user, funder):
        raise Forbidden(_FORBIDDEN)
    if "verified" in data:
        raise DomainError(
            "verified", {"verified": ["Use the verification workflow / 请通过机构审核流程"]}
        )
    if not user.is_operator and "kind" in data and data["kind"] != funder.kind:
        # The kind decides which needs and reports an institution takes part in: the
        # operator sets it (the profile page does not offer it either).
        raise DomainError(
            "kind",
            {
                "kind": [
                    "Only an operator may change the institution kind / 仅运营人员可修改机构类型"
                ]
            },
        )
    from techfin.services.interchange import funder_record

    current = funder_record(funder)
    current.pop("type")
    clean = _load(FunderRecord, _merged(current, data | {"ref": funder.ref}))
    values = _funder_values(clean, funder)
    changed = {k: v for k, v in values.items() if getattr(funder, k) != v}
    for key, value in changed.items():
        setattr(funder, key, value)
    if changed:
        audit.record("update", funder, object_type="funder", detail={"fields": sorted(changed)})
    db.session.commit()
    return funder


def delete_funder(user: User, funder: Funder) -> None:
    """Operators only, and only an institution nobody works with yet."""
    if not user.is_operator:
        raise Forbidden(_FORBIDDEN)
    docked = db.session.scalar(
        db.select(Outcome.id).join(Product).where(Product.funder_id == funder.id).limit(1)
    )
    if docked or _has_accounts(funder.id):
        raise Conflict(
            "in use",
            {"ref": ["It has accounts or docking records / 该机构已有账户或对接记录，不能删除"]},
        )
    audit.record("delete", funder, object_type="funder")
    db.session.delete(funder)
    db.session.commit()


def update_outcome(user: User, outcome: Outcome, data: dict[str, Any]) -> Outcome:
    """Correct a step's figures; need, product, stage and date identify it and stay."""
    if not access.can_edit_outcome(user, outcome):
        raise Forbidden(_FORBIDDEN)
    fixed = {"need_ref", "product_ref", "stage", "date"} & data.keys()
    if fixed:
        raise DomainError(
            "fixed", {k: ["Delete and record the step again / 请删除后重新记录"] for k in fixed}
        )
    from techfin.services.interchange import outcome_record

    current = outcome_record(outcome)
    current.pop("type")
    clean = _load(OutcomeRecord, _merged(current, data))
    from techfin.services import pipeline

    problems = pipeline.funded_problems(
        outcome.stage, (outcome.need.kind, outcome.product.kind), clean
    )
    if problems:
        raise DomainError("funded", problems)
    values = _outcome_values(clean)
    changed = {k: v for k, v in values.items() if getattr(outcome, k) != v}
    for key, value in changed.items():
        setattr(outcome, key, value)
    if changed:
        audit.record("update", outcome, object_type="outcome", detail={"fields": sorted(changed)})
    db.session.commit()
    return outcome
