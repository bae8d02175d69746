"""Typed SQLAlchemy models; importing this module registers every table."""

from techfin.models.digests import DigestDelivery, DigestSubscription
from techfin.models.finance import (
    IP_KINDS,
    IP_STATUSES,
    NEED_KINDS,
    NEED_STATUSES,
    OUTCOME_STAGES,
    PATENT_KINDS,
    PATENT_STATUSES,
    PRODUCT_STATUSES,
    REPAYMENTS,
    AuditEntry,
    Copyright,
    Need,
    Outcome,
    Patent,
    Product,
    Trademark,
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
from techfin.models.tasks import DIRTY_KINDS, DashboardReport, DirtyMark, JobRun, TaskFailure
from techfin.models.user import INSTITUTION_ROLES, ROLES, STAFF_ROLES, ApiToken, Membership, User

__all__ = [
    "DIRTY_KINDS",
    "DashboardReport",
    "DirtyMark",
    "JobRun",
    "TaskFailure",
    "ENTERPRISE_STAGES",
    "FUNDER_KINDS",
    "FUNDER_STATUSES",
    "INSTITUTION_ROLES",
    "IP_KINDS",
    "IP_STATUSES",
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
    "Copyright",
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
    "Trademark",
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

from techfin.models.applications import (  # noqa: E402 - appended per feature
    APPLICATION_ORIGINS,
    APPLICATION_STATUSES,
    CONSENT_SCOPE,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    Application,
    ApplicationEvent,
)

__all__ += [
    "APPLICATION_ORIGINS",
    "APPLICATION_STATUSES",
    "CONSENT_SCOPE",
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "Application",
    "ApplicationEvent",
]

from techfin.models.documents import DOCUMENT_KINDS, Document, DocumentGrant  # noqa: E402
from techfin.models.notifications import (  # noqa: E402 - appended per feature
    EMAIL_STATUSES,
    Notification,
    NotificationEmail,
)

__all__ += [
    "DOCUMENT_KINDS",
    "EMAIL_STATUSES",
    "Document",
    "DocumentGrant",
    "Notification",
    "NotificationEmail",
]

# ------------------------------------------------------------------ ids are never reused
from techfin.models.uploads import UPLOAD_KINDS, UPLOAD_STATUSES, UploadJob  # noqa: E402

__all__ += ["UPLOAD_KINDS", "UPLOAD_STATUSES", "UploadJob"]

# SQLite hands out max(id) + 1, so deleting the newest row gives its id to the next insert:
# a new need would inherit the deleted one's audit history, bookmarks and cached matches.
# AUTOINCREMENT makes SQLite remember the highest id ever used (PostgreSQL sequences never
# reuse one anyway). Every table whose own id can be deleted and then appears in a URL, an
# audit or activity entry or another table is listed; migration 0008 gives existing SQLite
# databases the same. Not listed (tests/integration/test_ids.py keeps the two lists whole):
# matches (derived and rebuilt, its id is never shown or referred to), the append-only logs
# (audit_entries, data_access_log, digest_deliveries) and tables whose id is another's.
NEVER_REUSED_IDS = (
    "organizations", "users", "memberships", "api_tokens", "needs", "patents", "products",
    "outcomes", "sharing_rules", "search_outbox", "digest_subscriptions", "docking_events",
    "event_registrations", "event_meetings", "recommendations", "risk_pools",
    "risk_pool_contributions", "risk_pool_enterprises", "risk_pool_compensations",
    # AUTOINCREMENT since migration 0006 created them: a retried failure or a job run is
    # referred to by id on the system page.
    "dirty_marks", "job_runs", "task_failures",
    # AUTOINCREMENT since migration 0009 created them: an application's id is in its URL.
    "applications", "application_events",
    # Since migration 0010: documents and notices are addressed by id in URLs, grants and
    # queued emails are referred to by id from the task queue.
    "documents", "document_grants", "notifications", "notification_emails",
    # Since migration 0011 created them, like patents.
    "copyrights", "trademarks",
    # Since migration 0017: a period's stored dashboard is one row, asked for by pages.
    "dashboard_reports",
    # Since migration 0013: an upload job's id is in its page's URL and the task's argument.
    "upload_jobs",
)  # fmt: skip


def _never_reuse_ids() -> None:
    from techfin.extensions import db

    for name in NEVER_REUSED_IDS:
        db.metadata.tables[name].dialect_kwargs["sqlite_autoincrement"] = True


_never_reuse_ids()
