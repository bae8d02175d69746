"""Learning from outcomes: labels, time-ordered hold-out, beating the Prior, reasons."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from techfin.matching import (
    FEATURES,
    MIN_LABELLED,
    CandidateSet,
    NotEnoughOutcomes,
    Prior,
    build_examples,
    evaluate,
    need_profile,
    pair_labels,
    rank_products_for_need,
    train,
)
from techfin.matching.scoring import time_split
from techfin.matching.synthetic import World, generate


def test_outcome_steps_collapse_to_one_label_per_pair() -> None:
    rows = [
        {"need_id": 1, "product_id": 1, "stage": "recommended", "date": "2024-01-01"},
        {"need_id": 1, "product_id": 1, "stage": "approved", "date": "2024-02-01"},
        {"need_id": 1, "product_id": 1, "stage": "funded", "date": "2024-02-10"},
        {"need_id": 1, "product_id": 2, "stage": "contacted", "date": "2024-01-05"},
        {"need_id": 1, "product_id": 2, "stage": "declined", "date": "2024-03-01"},
        {"need_id": 1, "product_id": 3, "stage": "meeting", "date": "2024-01-05"},
        {"need_id": 1, "product_id": 4, "stage": "withdrawn", "date": "2024-01-05"},
        {"need_id": 1, "product_id": 5, "stage": "approved", "date": None},
        {"need_id": None, "product_id": 5, "stage": "approved", "date": "2024-01-05"},
    ]
    labels = {
        (x.need_id, x.product_id): (x.label, str(x.decided), str(x.first))
        for x in pair_labels(rows)
    }
    assert labels == {
        (1, 1): (1, "2024-02-01", "2024-01-01"),
        (1, 2): (0, "2024-03-01", "2024-01-05"),
    }


def test_too_few_outcomes_keep_the_prior(world: World, examples) -> None:
    few = build_examples(world.needs, world.products, world.outcomes[:20])
    assert len(few) < MIN_LABELLED
    with pytest.raises(NotEnoughOutcomes):
        train(few)
    negatives_only = examples.subset(np.flatnonzero(examples.y == 0)[:200])
    with pytest.raises(NotEnoughOutcomes, match="approved"):
        train(negatives_only)
    result = evaluate(few)
    assert result["learned"] is None and result["prior"] is not None


def test_hold_out_is_the_newest_fifth(examples) -> None:
    train_idx, test_idx = time_split(examples)
    assert examples.dates[train_idx].max() < examples.dates[test_idx].min()
    assert len(test_idx) / len(examples) == pytest.approx(0.2, abs=0.02)


def test_model_beats_prior_and_random_on_held_out_needs(model) -> None:
    metrics = model.metadata["metrics"]
    learned, prior, rand = metrics["learned"], metrics["prior"], metrics["random"]
    assert metrics["n_holdout_needs"] >= 200
    assert learned["ndcg@10"] >= prior["ndcg@10"] + 0.03, metrics
    assert learned["ndcg@10"] >= rand["ndcg@10"] + 0.10, metrics
    assert learned["precision@5"] > rand["precision@5"]
    assert learned["roc_auc"] >= prior["roc_auc"] + 0.05, metrics
    assert rand["roc_auc"] == pytest.approx(0.5, abs=0.03)


def test_model_learns_what_matters_and_ignores_what_does_not(model) -> None:
    coef = model.coefficients
    # The world's rule: funders' section appetite, a penalty near the product ceiling.
    assert coef["funder_approval_rate"] > 0.4
    assert coef["amount_position"] < -0.4
    # Region and text overlap have no effect in this world (the Prior believes they do).
    assert abs(coef["region_level"]) < 0.15
    assert abs(coef["text_relevance"]) < 0.15


def test_metadata(model, examples) -> None:
    meta = model.metadata
    assert meta["features"] == list(FEATURES)
    assert meta["n_samples"] == len(examples)
    assert meta["n_holdout"] + meta["metrics"]["n_train"] == len(examples)
    assert meta["estimator"] == "StandardScaler+LogisticRegression"
    assert model.info == {"kind": "learned", "version": meta["version"]}
    assert Prior().info == {"kind": "prior", "version": "prior-1"}


def test_evaluate_reports_three_rankers(examples) -> None:
    result = evaluate(examples)
    for who in ("learned", "prior", "random"):
        assert set(result[who]) == {"ndcg@10", "precision@5", "roc_auc"}
    assert result["learned"]["ndcg@10"] > result["prior"]["ndcg@10"] > result["random"]["ndcg@10"]


def test_scores_equal_the_pipelines_predict_proba(model, examples) -> None:
    X = examples.X[:500]
    np.testing.assert_allclose(model.score(X), model.pipeline.predict_proba(X)[:, 1], rtol=1e-10)
    np.testing.assert_allclose([model.score_one(x) for x in X.tolist()], model.score(X), rtol=1e-10)
    contrib = model.contributions(X)
    z = contrib.sum(axis=1) + model.pipeline[-1].intercept_[0]
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), model.score(X), rtol=1e-10)


def test_top_reason_names_the_driving_feature() -> None:
    """IP pledges approved when patents cover ≥ 2× the amount: the learned model's top
    reason for a well-covered need is that coverage (or the other true driver, the amount
    sitting low in the product's range), never a feature with no effect."""
    world = generate(
        n_needs=1500, n_products=300, seed=3, need_kinds=("ip_pledge",), appetite_sd=0.0
    )
    examples = build_examples(world.needs, world.products, world.outcomes)
    model = train(examples)
    coef = model.coefficients
    assert max(coef, key=lambda f: abs(coef[f])) == "patent_coverage"
    cands = CandidateSet.from_products(world.products)
    tops: Counter[str] = Counter()
    for need in world.needs[-400:]:
        n = need_profile(need)
        if not (n.amount and n.pledge_value >= 2.5 * n.amount):
            continue
        ranking = rank_products_for_need(need, cands, model, as_of=world.end, include_almost=False)
        if ranking.matches:
            tops[ranking[0].reason_codes[0].code] += 1
    assert sum(tops.values()) >= 50
    assert tops.most_common(1)[0][0] == "patent_coverage", tops
    assert set(tops) <= {"patent_coverage", "amount_in_range"}, tops
