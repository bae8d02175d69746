"""Display labels for every enum value, in both languages, from this one place."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

LABELS: dict[str, dict[str, object]] = {
    "job": {
        "digests_daily": _l("Daily digests"),
        "digests_weekly": _l("Weekly digests"),
        "retrain": _l("Retrain the ranking model"),
        "search_check": _l("Search index check"),
        "sweep": _l("Stored-matches sweep"),
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
    },
    "marketplace_sort": {
        "newest": _l("Newest first"),
        "rate": _l("Lowest rate first"),
        "amount": _l("Largest amount first"),
    },
    "access_action": {
        "view": _l("Viewed"),
        "export": _l("Exported"),
        "api": _l("Read through the API"),
    },
    "access_what": {
        "profile": _l("profile"),
        "financials": _l("financials"),
        "patents": _l("patents"),
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


def choices(group: str, *, blank: object | None = None) -> list:
    """SelectField choices for one enum group, optionally led by a blank 'any' choice."""
    pairs = list(LABELS[group].items())
    if blank is not None:
        pairs.insert(0, ("", blank))
    return [SelectChoice(value, text) for value, text in pairs]
