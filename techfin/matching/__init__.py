"""Matching library: eligibility, features, learned ranking, reasons. Plain dicts and numpy
arrays in and out; it never imports Flask or SQLAlchemy.

Inputs follow interchange.md with integer ids: a need dict embeds its "enterprise"
(with "patents" and optional "size"), a product dict embeds its "funder"; any field but
the ids may be missing or None.

Build once, rank many times::

    candidates, need_set = build_sets(products, needs, funders)       # one shared jieba TF-IDF
    # (or CandidateSet.from_products(products, funders, text_space=…) / NeedSet.from_needs)
    history = History.from_outcomes(outcomes, needs, products)        # funders' track records
    store = ModelStore(instance_dir / "models")                       # learned model or Prior

    ranking = rank_products_for_need(need, candidates, store.get(), history,
                                     locale="zh_CN", limit=20, names=reference_names())
    ranking.model        -> {"kind": "learned" | "prior", "version": "..."}
    ranking.matches      -> [Match(id, type, ref, name, score 0..1, eligible, reasons [str],
                                   missing [str], reason_codes [Reason], gaps [Gap], features,
                                   probability 0..1 | None, score_if_fixed | None)]
    match.band           -> "high" | "medium" | "low" | None (from probability)
    rank_needs_for_product(product, need_set, ...)   # the same, from the funder's side

Eligible matches come first (best `limit` by score), then up to `almost_limit`
"almost eligible" ones (failing one or two rules), whose `missing` says what is lacking:
those the enterprise can fix (Gap.fixable: amount, term, patents / IP, collateral,
certification; not region, industry, stage) first, then by `score_if_fixed`, the score
with the fixable gaps closed. `probability` is the calibrated approval odds of a learned
model (None under the Prior, whose scores only order candidates).
Equity needs also meet VC / guidance-fund mandates (`mandate_from_funder`, type "mandate").

IP: an enterprise's "patents" (and optional "copyrights" / "trademarks" lists) may hold
software copyrights and trademarks besides patents; a product's accepted_ip / min_ip_count
say which count for requires_patent and, for IP pledges, as pledged value.

Training (the CLI's `matching train` / `matching evaluate`)::

    examples = build_examples(needs, products, outcomes)   # one row per decided pair
    model = train(examples)          # NotEnoughOutcomes below MIN_LABELLED / MIN_PER_CLASS
    save_model(model, directory)     # skops, atomic; load_model(directory) → newest
    evaluate(examples)               # NDCG@10 (+ lift), precision@5, ROC AUC, ECE:
                                     # learned / previous (v1) / prior / random

The learned model (kindmodel.py) is a logistic regression with shared and kind-specific
feature weights plus smoothed per-institution and per-product effects, Platt-calibrated
on a time-ordered slice; its contributions (features + "institution" + "product") sum to
the logit exactly. train(estimator="linear") fits the v1 single-weight model instead.

Below 30 decided pairs (MIN_LABELLED), or fewer than 5 approved or 5 declined
(MIN_PER_CLASS), train() raises NotEnoughOutcomes and the Prior keeps ranking; a model file
that is missing, corrupt, tampered with (types outside persistence.ALLOWED_TYPES) or built
for another FEATURES list raises ModelLoadError, and ModelStore.get() returns the Prior.

Rules: rules.py; features: features.py (FEATURES); the Prior's weights: scoring.Prior;
test data with a known rule: synthetic.generate() and generate_kinds() (kind-specific
drivers + appetite, the issue #15 benchmark); the per-candidate oracle: reference.py.
Scoring avoids BLAS calls (OpenBLAS threads on a shared 2-core host made a 70 000-row
product 40× slower); set OPENBLAS_NUM_THREADS=1 / OMP_NUM_THREADS=1 for workers anyway.
"""

from techfin.matching.candidates import CandidateSet, NeedSet, build_sets
from techfin.matching.features import FEATURES, pair_features
from techfin.matching.history import History, pair_labels
from techfin.matching.kindmodel import PairContext
from techfin.matching.persistence import (
    ModelLoadError,
    ModelNotFound,
    ModelStore,
    UntrustedModelError,
    load_model,
    save_model,
)
from techfin.matching.profiles import mandate_from_funder, need_profile, product_profile
from techfin.matching.ranking import (
    Match,
    Ranking,
    rank_needs_for_product,
    rank_products_for_need,
    rank_products_for_needs,
)
from techfin.matching.reasons import Gap, Reason, reference_names, render_gap, render_reason
from techfin.matching.rules import RULES, check_eligibility
from techfin.matching.scoring import (
    MIN_LABELLED,
    MIN_PER_CLASS,
    PRIOR_WEIGHTS,
    Examples,
    NotEnoughOutcomes,
    Prior,
    Scorer,
    TrainedModel,
    build_examples,
    evaluate,
    probability_band,
    train,
)
from techfin.matching.text import TextSpace

__all__ = [
    "FEATURES",
    "MIN_LABELLED",
    "MIN_PER_CLASS",
    "PRIOR_WEIGHTS",
    "RULES",
    "CandidateSet",
    "Examples",
    "Gap",
    "History",
    "Match",
    "ModelLoadError",
    "ModelNotFound",
    "ModelStore",
    "NeedSet",
    "NotEnoughOutcomes",
    "PairContext",
    "Prior",
    "Ranking",
    "Reason",
    "Scorer",
    "TextSpace",
    "TrainedModel",
    "UntrustedModelError",
    "build_examples",
    "build_sets",
    "check_eligibility",
    "evaluate",
    "load_model",
    "mandate_from_funder",
    "need_profile",
    "pair_features",
    "pair_labels",
    "probability_band",
    "product_profile",
    "rank_needs_for_product",
    "rank_products_for_need",
    "rank_products_for_needs",
    "reference_names",
    "render_gap",
    "render_reason",
    "save_model",
    "train",
]
