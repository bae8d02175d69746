"""Matching wired into the platform: database rows → the matching library's plain dicts,
the per-process product catalogue, the model store, access-checked rankings, the stored
matches (for "new since", counts and the dealflow) and the task that keeps them fresh,
training and evaluation, express interest, the dealflow pipeline.

The library (techfin.matching) never sees Flask or SQLAlchemy; this package is the only
bridge. A need's products are ranked live against the in-memory catalogue; every need's
stored ranking is recomputed by the task queue from dirty marks written in the same
transaction as the change (dirty.py), so no request does work that grows with the number
of needs or enterprises.
"""

from __future__ import annotations

from techfin.services.matching.common import (  # noqa: F401
    _NAMES,
    ALMOST,
    FINANCIAL_REASONS,
    KEEP,
    LOAN_KINDS,
    MANDATE_FUNDER_KINDS,
    MAX_LIMIT,
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
    reopen_deal,
)
from techfin.services.matching.dirty import (  # noqa: F401
    _PENDING,
    _SQLITE_CLAIM,
    _WOKEN,
    Progress,
    _claim,
    _expand_everything,
    _expand_products,
    _forget,
    _marks_for,
    _record,
    _touch_organizations,
    any_marks,
    init_app,
    install_hooks,
    is_stale,
    mark_all_dirty,
    pending_marks,
    process_dirty,
    process_once,
    refresh_everything,
    wake_after_change,
)
from techfin.services.matching.interest import (  # noqa: F401
    Interest,
    express_interest,
)
from techfin.services.matching.live import (  # noqa: F401
    _check_need,
    _check_product,
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
    _IN_CHUNK,
    WORKER_FLAG,
    Snapshot,
    _history_ttl,
    _State,
    _state,
    confidential_enterprises,
    fingerprint,
    load_catalogue,
    load_history,
    load_outcomes,
    load_snapshot,
    model_info,
    need_records,
    scorer,
    snapshot,
)
from techfin.services.matching.stored import (  # noqa: F401
    _UPDATED,
    RefreshReport,
    _key,
    _rank_for_storage,
    _refresh_chunk,
    _render,
    _stored_item,
    _upsert,
    need_count,
    need_match_count,
    refresh_all,
    refresh_needs,
    stored_matches,
)
from techfin.services.matching.training import (  # noqa: F401
    TrainResult,
    evaluate_models,
    train_model,
    training_examples,
)
