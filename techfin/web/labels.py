"""Display labels for every enum value, in both languages, from this one place."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

LABELS: dict[str, dict[str, object]] = {
    "job": {
        "digests_daily": _l("Daily digests"),
        "digests_weekly": _l("Weekly digests"),
        "retrain": _l("Retrain the ranking model"),
        "search_check": _l("Search index check"),
        "sweep": _l("Stored-matches sweep"),
        "application_deadlines": _l("Application deadlines"),
    },
    "application_status": {
        "picked_up": _l("Picked up, awaiting the enterprise"),
        "submitted": _l("Submitted"),
        "accepted": _l("Under review"),
        "info_requested": _l("More information requested"),
        "approved": _l("Approved"),
        "disbursed": _l("Disbursed"),
        "declined": _l("Declined"),
        "withdrawn": _l("Withdrawn"),
    },
    # What each move is called on its button (the status it leads to).
    "application_move": {
        "submitted": _l("Accept the pick-up"),
        "accepted": _l("Accept for review"),
        "info_requested": _l("Request more information"),
        "approved": _l("Approve"),
        "disbursed": _l("Record the disbursement"),
        "declined": _l("Decline"),
        "withdrawn": _l("Withdraw"),
    },
    "consent_scope": {
        "profile": _l("Your enterprise profile (name, credit code, industry, region, stage)"),
        "need": _l("This financing need (amount, term, purpose)"),
        "financials": _l("Your financials (employees, revenue, total assets)"),
        "patents": _l("Your non-confidential patents"),
        "documents": _l("The documents you attach"),
    },
    "deadline": {
        "first_response": _l("First response"),
        "decision": _l("Decision"),
    },
    "job_status": {
        "running": _l("Running"),
        "ok": _l("Done"),
        "failed": _l("Failed"),
    },
    "need_kind": {
        "equity": _l("Equity investment"),
        "loan": _l("Loan"),
        "ip_pledge": _l("IP-pledge loan"),
        "guarantee": _l("Financing guarantee"),
        "insurance": _l("Technology insurance"),
    },
    # Calibrated approval odds (matching.probability_band); zh: 高 / 中 / 低.
    "odds_band": {
        "high": _l("High odds"),
        "medium": _l("Medium odds"),
        "low": _l("Low odds"),
    },
    "need_status": {
        "draft": _l("Draft"),
        "published": _l("Published"),
        "closed": _l("Closed"),
        # not a stored status: a published need with a funded docking step is shown so
        "funded": _l("Financed"),
    },
    "product_status": {
        "active": _l("Available"),
        "paused": _l("Paused"),
        "retired": _l("Retired"),
    },
    "funder_kind": {
        "vc": _l("Venture capital fund"),
        "guidance_fund": _l("Government guidance fund"),
        "bank": _l("Bank"),
        "guarantee": _l("Guarantee company"),
        "microloan": _l("Micro-loan company"),
        "insurer": _l("Insurer"),
    },
    "funder_status": {
        "pending": _l("Awaiting verification"),
        "verified": _l("Verified"),
        "rejected": _l("Rejected"),
    },
    "stage": {
        "seed": _l("Seed"),
        "startup": _l("Start-up"),
        "growth": _l("Growth"),
        "mature": _l("Mature"),
    },
    "patent_kind": {
        "invention": _l("Invention patent"),
        "utility_model": _l("Utility model"),
        "design": _l("Design patent"),
    },
    # What a product may accept as IP (interchange accepted_ip).
    "ip_kind": {
        "invention": _l("Invention patent"),
        "utility_model": _l("Utility model"),
        "design": _l("Design patent"),
        "software_copyright": _l("Software copyright"),
        "trademark": _l("Trademark"),
    },
    "ip_status": {
        "registered": _l("Registration granted"),
        "pending": _l("Under examination"),
    },
    "patent_status": {
        "pending": _l("Under examination"),
        "granted": _l("Granted"),
        "lapsed": _l("Lapsed"),
    },
    "sme_size": {
        "micro": _l("Micro enterprise"),
        "small": _l("Small enterprise"),
        "medium": _l("Medium-sized enterprise"),
        "large": _l("Large enterprise"),
    },
    "outcome_stage": {
        "recommended": _l("Recommended"),
        "contacted": _l("Contacted"),
        "meeting": _l("Meeting"),
        "approved": _l("Approved"),
        "funded": _l("Funded"),
        "declined": _l("Declined"),
        "withdrawn": _l("Withdrawn"),
    },
    "repayment": {
        "bullet": _l("Principal at maturity"),
        "equal_installment": _l("Equal instalments"),
        "interest_only": _l("Interest only, principal at maturity"),
    },
    "role": {
        "enterprise": _l("Enterprise"),
        "investor": _l("Investor"),
        "bank": _l("Bank or lender"),
        "operator": _l("Operator"),
        "admin": _l("Administrator"),
    },
    "member_role": {
        "owner": _l("Owner"),
        "member": _l("Member"),
    },
    "object_type": {
        "enterprise": _l("Enterprise"),
        "funder": _l("Institution"),
        "patent": _l("Patent"),
        "copyright": _l("Software copyright"),
        "trademark": _l("Trademark"),
        "need": _l("Financing need"),
        "product": _l("Product"),
        "outcome": _l("Docking outcome"),
        "user": _l("Account"),
        "organization": _l("Organisation"),
        "file": _l("File"),
        "event": _l("Docking event"),
        "docking_event": _l("Docking event"),
        "meeting": _l("Event meeting"),
        "event_meeting": _l("Event meeting"),
        "risk_pool": _l("Risk compensation pool"),
        "pool_member": _l("Pool enterprise"),
        "pool_contribution": _l("Pool contribution"),
        "pool_compensation": _l("Pool compensation"),
        "recommendation": _l("Recommendation"),
        "task": _l("Background task"),
    },
    # the keys of an audit entry's detail (services call audit.record(detail={...}))
    "audit_detail": {
        "fields": _l("Fields"),
        "reason": _l("Reason"),
        "pool": _l("Pool"),
        "stage": _l("Docking stage"),
        "org": _l("Organisation"),
        "organization": _l("Organisation"),
        "funder_id": _l("Institution"),
        "amount_cny": _l("Amount (万元)"),
        "enterprise": _l("Enterprise"),
        "to": _l("To"),
        "from": _l("From"),
        "task": _l("Task"),
        "summary": _l("Summary"),
        "scheduled": _l("Scheduled"),
        "left_out": _l("Left out"),
        "role": _l("Role"),
        "result": _l("Result"),
        "removed": _l("Removed"),
        "products": _l("Products"),
        "product": _l("Product"),
        "period": _l("Period"),
        "path": _l("Path"),
        "patents": _l("Patents"),
        "financials": _l("Financials"),
        "profile": _l("Profile"),
        "outcome": _l("Outcome"),
        "need": _l("Financing need"),
        "n": _l("Number"),
        "count": _l("Number"),
        "file": _l("File"),
        "event": _l("Docking event"),
        "kind": _l("Kind"),
        "status": _l("Status"),
    },
    "event_kind": {
        "roadshow": _l("Roadshow (路演)"),
        "bank_meeting": _l("Bank–enterprise meeting (银企对接会)"),
        "online_week": _l("Online matchmaking week"),
    },
    "meeting_status": {
        "requested": _l("Requested"),
        "confirmed": _l("Confirmed"),
        "declined": _l("Declined"),
        "cancelled": _l("Cancelled"),
    },
    "meeting_result": {
        "no_interest": _l("No interest"),
        "follow_up": _l("Follow-up agreed"),
        "term_sheet": _l("Term sheet"),
        "approved": _l("Approved"),
        "funded": _l("Funded"),
    },
    # What "funded" means for each kind of financing (an investor invests, it lends nothing).
    "funded_by_kind": {
        "equity": _l("Invested"),
        "loan": _l("Funded"),
        "ip_pledge": _l("Funded"),
        "guarantee": _l("Guarantee issued"),
        "insurance": _l("Policy issued"),
    },
    # A product's price: interest for a loan, a fee for a guarantee or a policy.
    "rate_name": {
        "loan": _l("Annual rate"),
        "ip_pledge": _l("Annual rate"),
        "guarantee": _l("Annual fee rate"),
        "insurance": _l("Premium rate"),
        "equity": _l("Annual rate"),
    },
    # the search page: record types, facet headings (one distinct heading each) and values
    "search_type": {
        "enterprise": _l("Enterprise"),
        "need": _l("Financing need"),
        "product": _l("Product"),
        "funder": _l("Institution"),
        "patent": _l("Patent"),
        "copyright": _l("Software copyright"),
        "trademark": _l("Trademark"),
    },
    "search_facet": {
        "type": _l("Record type"),
        "kind": _l("Kind"),
        "section": _l("Industry section"),
        "industry": _l("Industry division"),
        "province": _l("Province"),
        "city": _l("City"),
        "region": _l("District or county"),
        "stage": _l("Development stage"),
        "size": _l("SME size"),
        "status": _l("Status"),
    },
    "search_status": {
        "high_tech": _l("High-tech enterprise"),
        "draft": _l("Draft"),
        "published": _l("Published"),
        "closed": _l("Closed"),
        "active": _l("Available"),
        "paused": _l("Paused"),
        "retired": _l("Retired"),
        "pending": _l("Awaiting verification or examination"),
        "verified": _l("Verified"),
        "rejected": _l("Rejected"),
        "granted": _l("Granted"),
        "lapsed": _l("Lapsed"),
    },
    "yes_no": {
        "True": _l("Yes"),
        "False": _l("No"),
    },
    "audit_action": {
        "create": _l("Create"),
        "update": _l("Update"),
        "delete": _l("Delete"),
        "import": _l("Imported"),
        "login": _l("Logged in"),
        "login_failed": _l("Failed login"),
        "logout": _l("Logged out"),
        "password_change": _l("Password changed"),
        "token_create": _l("API token created"),
        "token_revoke": _l("API tokens revoked"),
        "verify": _l("Verified"),
        "reject": _l("Rejected"),
        "sharing": _l("Sharing changed"),
        "invite": _l("Member invited"),
        "remove_member": _l("Member removed"),
        "suspend": _l("Account suspended"),
        "reactivate": _l("Account reactivated"),
        "role_change": _l("Role changed"),
        "password_reset": _l("Password reset by an administrator"),
        "accept": _l("Accepted"),
        "decline": _l("Declined"),
        "denied": _l("Access denied"),
        "digest_settings": _l("Digest settings changed"),
        "export": _l("Exported"),
        "interest": _l("Expressed interest"),
        "check_in": _l("Checked in"),
        "register": _l("Signed up"),
        "unregister": _l("Sign-up withdrawn"),
        "schedule": _l("Meetings scheduled"),
        "meeting_request": _l("Meeting requested"),
        "meeting_confirmed": _l("Meeting confirmed"),
        "meeting_declined": _l("Meeting declined"),
        "meeting_cancelled": _l("Meeting cancelled"),
        "meeting_result": _l("Meeting result recorded"),
        "recommend": _l("Recommended"),
        "reconcile": _l("Reconciled"),
        "retry_task": _l("Task retried"),
        "unsubscribe": _l("Unsubscribed"),
        "type_change": _l("Institution type corrected"),
    },
    "marketplace_sort": {
        "newest": _l("Newest first"),
        "rate": _l("Lowest rate first"),
        "amount": _l("Largest amount first"),
    },
    "activity_actor": {
        "member": _l("A colleague"),
        "operator": _l("Platform operator"),
        "other": _l("Another organisation"),
        "system": _l("The platform"),
    },
    "access_action": {
        "view": _l("Viewed"),
        "export": _l("Exported"),
        "api": _l("Read through the API"),
        "api_list": _l("Listed through the API"),
        "search": _l("Shown in search results"),
        "download": _l("Downloaded"),
    },
    "access_what": {
        "profile": _l("profile"),
        "financials": _l("financials"),
        "patents": _l("patents"),
        "document": _l("a document"),
    },
    "document_kind": {
        "business_plan": _l("Business plan"),
        "financial_statements": _l("Financial statements"),
        "tax_certificate": _l("Tax certificate"),
        "patent_certificate": _l("Patent certificate"),
        "copyright_certificate": _l("Software copyright certificate"),
        "other": _l("Other"),
    },
}

# Why each profile fact matters for matching (services/workspace.py: PROFILE_CHECKS).
COMPLETENESS = {
    "revenue_cny": (
        _l("Annual revenue"),
        _l("Banks' products have revenue thresholds, and revenue decides your SME size class."),
    ),
    "employees": (
        _l("Employees"),
        _l("Your SME size class (and the SME-only products) depends on the head count."),
    ),
    "total_assets_cny": (
        _l("Total assets"),
        _l("Some industries are sized by assets, and lenders weigh them for credit lines."),
    ),
    "stage": (
        _l("Development stage"),
        _l("Investors and many products serve only certain stages (seed, start-up, growth…)."),
    ),
    "founded": (
        _l("Founding date"),
        _l("Lenders look at years in business; some products require a minimum age."),
    ),
    "uscc": (
        _l("Unified social credit code"),
        _l("Institutions check your identity and credit record by this code before lending."),
    ),
    "description": (
        _l("Description"),
        _l("Search and matching read it to find funders of your field: say what you make."),
    ),
    "contact_email": (
        _l("Contact email"),
        _l("Institutions interested in your needs reach you here."),
    ),
    "patents": (
        _l("Patents"),
        _l("IP-pledge loans and many technology products require at least one patent."),
    ),
}


def label(group: str, value: object) -> str:
    """The display label of an enum value; the raw value when it has none."""
    if value is None or value == "":
        return "—"
    found = LABELS.get(group, {}).get(str(value))
    return str(found) if found is not None else str(value)


# The value groups of some detail keys, so a code in an audit detail shows as its label.
_DETAIL_VALUES = {"stage": "outcome_stage", "role": "role", "result": "meeting_result",
                  "kind": "funder_kind", "to": "funder_kind", "from": "funder_kind"}  # fmt: skip


def audit_detail(detail: dict[str, Any] | None) -> str:
    """An audit entry's detail as "标签: 值; …" with labels, 是/否 and "—" (never None/True)."""
    parts = []
    for key, value in (detail or {}).items():
        if isinstance(value, bool):
            shown = label("yes_no", str(value))
        elif value is None or value == "" or value == []:
            shown = "—"
        elif isinstance(value, list | tuple):
            shown = ", ".join(str(v) for v in value)
        elif key == "amount_cny" and isinstance(value, int):
            from techfin.i18n import wan

            shown = wan(value)
        elif key in _DETAIL_VALUES:
            shown = label(_DETAIL_VALUES[key], value)
        else:
            shown = str(value)
        parts.append(f"{label('audit_detail', key)}: {shown}")
    return "; ".join(parts)


# Notes the platform itself writes on docking steps (stored as data, so old rows read right).
_EVENT_NOTE = re.compile(r"^(?P<title>.*): (?P<result>[a-z_]+)$")


def outcome_note(note: str | None) -> str:
    """A docking step's note for display: the platform's own codes become labels."""
    if not note:
        return ""
    if note == "interest":  # services/matching/interest.py: the enterprise expressed interest
        return str(_l("The enterprise expressed interest on the platform"))
    found = _EVENT_NOTE.match(note)  # services/events.py: "<event title>: <meeting result>"
    if found and found["result"] in LABELS["meeting_result"]:
        return f"{found['title']}: {label('meeting_result', found['result'])}"
    return note


def stage_label(stage: str | None, kind: str | None = None) -> str:
    """A docking stage's label; "funded" in the words of the kind of financing."""
    if stage == "funded" and kind in LABELS["funded_by_kind"]:
        return label("funded_by_kind", kind)
    return label("outcome_stage", stage)


def stage_labels(kind: str | None) -> dict[str, str]:
    """stage_label of every docking stage for one kind of financing, computed once per
    request and language: a dealflow page of 20 rows asked for about 120 of them."""
    from flask import g
    from flask_babel import get_locale

    cache = g.setdefault("_stage_labels", {})
    key = (str(get_locale()), kind)
    if key not in cache:
        cache[key] = {stage: stage_label(stage, kind) for stage in LABELS["outcome_stage"]}
    return cache[key]


def rate_name(kind: str | None) -> str:
    """What a product's rate is called: 年利率 for loans, 费率 for guarantees and insurance."""
    return label("rate_name", kind) if kind in LABELS["rate_name"] else str(_l("Annual rate"))


def span(low: object, high: object) -> str:
    """ "6 – 36", one number when both ends are the same ("12", not "12 – 12"), "—" for none."""
    if low is None and high is None:
        return "—"
    if high is None:
        return f"≥ {low}"
    if low is None:
        return f"≤ {high}"
    if low == high:
        return str(low)
    return f"{low} – {high}"


def choices(group: str, *, blank: object | None = None) -> list:
    """SelectField choices for one enum group, optionally led by a blank 'any' choice."""
    pairs = list(LABELS[group].items())
    if blank is not None:
        pairs.insert(0, ("", blank))
    return [SelectChoice(value, text) for value, text in pairs]
