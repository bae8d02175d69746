"""Reference data and validators: GB/T 4754 industries, GB/T 2260 regions, SME size rules,
USCC and CNIPA application numbers.

Plain functions over packaged data files (data/); nothing here imports Flask or the database,
so forms, the API, the importer and the matching code all share one source of truth.
"""

from __future__ import annotations

from techfin.reference.errors import ReferenceValidationError
from techfin.reference.identifiers import (
    PatentKind,
    patent_check_char,
    patent_kind_from_number,
    validate_patent_number,
    validate_uscc,
)
from techfin.reference.industries import (
    Industry,
    IndustryLevel,
    industries,
    industry,
    industry_matches,
    industry_name,
    industry_section,
    is_valid_industry,
    normalize_industry,
    search_industries,
)
from techfin.reference.regions import (
    Region,
    RegionLevel,
    is_valid_region,
    is_valid_region_prefix,
    normalize_region,
    region,
    region_matches,
    region_name,
    region_prefix,
    regions,
    search_regions,
)
from techfin.reference.sme import (
    SME_SIZES,
    SmeRule,
    SmeSize,
    sme_rule,
    sme_rules,
    sme_size,
    sme_size_label,
)

__all__ = [
    "SME_SIZES",
    "Industry",
    "IndustryLevel",
    "PatentKind",
    "ReferenceValidationError",
    "Region",
    "RegionLevel",
    "SmeRule",
    "SmeSize",
    "industries",
    "industry",
    "industry_matches",
    "industry_name",
    "industry_section",
    "is_valid_industry",
    "is_valid_region",
    "is_valid_region_prefix",
    "normalize_industry",
    "normalize_region",
    "patent_check_char",
    "patent_kind_from_number",
    "region",
    "region_matches",
    "region_name",
    "region_prefix",
    "regions",
    "search_industries",
    "search_regions",
    "sme_rule",
    "sme_rules",
    "sme_size",
    "sme_size_label",
    "validate_patent_number",
    "validate_uscc",
]
