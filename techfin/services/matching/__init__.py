"""Matching wired into the platform: database rows → the matching library's plain dicts,
per-process cached candidate sets, the model store, access-checked rankings, persisted
matches (for "new since") and their refresh, training and evaluation.

The library (techfin.matching) never sees Flask or SQLAlchemy; this module is the only
bridge. Rankings are computed live from a snapshot of the catalogue that is rebuilt when
the catalogue's fingerprint (row counts and latest updated_at of products, funders,
needs, enterprises, patents and outcomes) changes, so every worker sees a change on its
next request. The `matches` table keeps each need's latest ranking; it is refreshed after
any request (or CLI command) that changed a need, product, patent, enterprise or funder,
after `flask matching train`, and in full by `flask matching refresh`.
"""

from __future__ import annotations

from techfin.services.matching.common import (  # noqa: F401
    ALMOST,
    AUTO_REFRESH_MAX,
    FINANCIAL_REASONS,
    KEEP,
    LOAN_KINDS,
    MANDATE_FUNDER_KINDS,
    MAX_LIMIT,
    NEXT_STAGES,
    PATENT_REASONS,
    _funder_public,
    _jsonable,
    _limit,
    _locale,
    _size,
    enterprise_dict,
    funder_dict,
    names,
    need_dict,
    need_summary,
    product_dict,
    product_summary,
)
from techfin.services.matching.dealflow import (  # noqa: F401
    Dealflow,
    DealflowRow,
    current_stages,
    dealflow,
    dealflow_products,
    move_stage,
)
from techfin.services.matching.hooks import (  # noqa: F401
    _collect,
    _Pending,
    _touch_organizations,
    apply_pending,
    init_app,
    install_hooks,
    refresh_after_change,
)
from techfin.services.matching.interest import (  # noqa: F401
    Interest,
    _recipients,
    compose_interest,
    express_interest,
)
from techfin.services.matching.live import (  # noqa: F401
    _check_need,
    _check_product,
    _need_entries,
    _Visibility,
    matches_for_need,
    matches_for_product,
)
from techfin.services.matching.new_matches import (  # noqa: F401
    _CHANGES,
    NewMatchCache,
    NewMatchQuery,
    _change_code,
    _covers,
    _hidden_codes,
    _load_hidden,
    _new_match_item,
    _new_match_rows,
    _sharing_batch,
    _user_items,
    new_matches_for_user,
    new_matches_for_users,
)
from techfin.services.matching.snapshot import (  # noqa: F401
    _CATALOGUE,
    _FINGERPRINTED,
    Snapshot,
    _load_outcomes,
    _State,
    _state,
    _with_new_outcomes,
    fingerprint,
    load_snapshot,
    model_info,
    scorer,
    snapshot,
)
from techfin.services.matching.stored import (  # noqa: F401
    RefreshReport,
    _key,
    _rank_for_storage,
    _refresh_chunk,
    _render,
    _store_need,
    _stored_item,
    need_match_count,
    needs_affected_by_products,
    refresh_all,
    refresh_needs,
    refresh_products,
    stored_matches,
)
from techfin.services.matching.training import (  # noqa: F401
    TrainResult,
    evaluate_models,
    train_model,
    training_examples,
)
