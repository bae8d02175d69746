"""Typed SQLAlchemy models; importing this module registers every table."""

from techfin.models.finance import (
    NEED_KINDS,
    NEED_STATUSES,
    OUTCOME_STAGES,
    PATENT_KINDS,
    PATENT_STATUSES,
    PRODUCT_STATUSES,
    REPAYMENTS,
    AuditEntry,
    Need,
    Outcome,
    Patent,
    Product,
)
from techfin.models.organization import (
    ENTERPRISE_STAGES,
    FUNDER_KINDS,
    FUNDER_STATUSES,
    Enterprise,
    Funder,
    Organization,
)
from techfin.models.sharing import DataAccess, SharingRule
from techfin.models.user import INSTITUTION_ROLES, ROLES, STAFF_ROLES, ApiToken, Membership, User

__all__ = [
    "ENTERPRISE_STAGES",
    "FUNDER_KINDS",
    "FUNDER_STATUSES",
    "INSTITUTION_ROLES",
    "NEED_KINDS",
    "NEED_STATUSES",
    "OUTCOME_STAGES",
    "PATENT_KINDS",
    "PATENT_STATUSES",
    "PRODUCT_STATUSES",
    "REPAYMENTS",
    "ROLES",
    "STAFF_ROLES",
    "ApiToken",
    "AuditEntry",
    "DataAccess",
    "Enterprise",
    "Funder",
    "Membership",
    "Need",
    "Organization",
    "Outcome",
    "Patent",
    "Product",
    "SharingRule",
    "User",
]
