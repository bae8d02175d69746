"""Typed SQLAlchemy models; importing this module registers every table."""

from techfin.models.digests import DigestDelivery, DigestSubscription
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
from techfin.models.search import SearchOutbox
from techfin.models.sharing import DataAccess, SharingRule
from techfin.models.tasks import DIRTY_KINDS, DirtyMark, JobRun, TaskFailure
from techfin.models.user import INSTITUTION_ROLES, ROLES, STAFF_ROLES, ApiToken, Membership, User

__all__ = [
    "DIRTY_KINDS",
    "DirtyMark",
    "JobRun",
    "TaskFailure",
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
    "DigestDelivery",
    "DigestSubscription",
    "Enterprise",
    "Funder",
    "Membership",
    "Need",
    "Organization",
    "Outcome",
    "Patent",
    "Product",
    "SearchOutbox",
    "SharingRule",
    "User",
]

from techfin.models.matching import MATCH_KINDS, Match  # noqa: E402 - appended per feature

__all__ += ["MATCH_KINDS", "Match"]

from techfin.models.events import (  # noqa: E402 - appended per feature
    EVENT_KINDS,
    MEETING_RESULTS,
    MEETING_STATUSES,
    DockingEvent,
    EventMeeting,
    EventRegistration,
)
from techfin.models.pool import (  # noqa: E402 - appended per feature
    RECOMMENDATION_STATUSES,
    PoolCompensation,
    PoolContribution,
    PoolEnterprise,
    Recommendation,
    RiskPool,
    pool_products,
)

__all__ += [
    "EVENT_KINDS",
    "MEETING_RESULTS",
    "MEETING_STATUSES",
    "RECOMMENDATION_STATUSES",
    "DockingEvent",
    "EventMeeting",
    "EventRegistration",
    "PoolCompensation",
    "PoolContribution",
    "PoolEnterprise",
    "Recommendation",
    "RiskPool",
    "pool_products",
]
