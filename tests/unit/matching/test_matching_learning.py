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


def test_model_learns_what_matters_and_ignores_what_does_not(examples) -> None:
    # The v1 linear model, whose one weight per feature is easy to read.
    coef = train(examples, estimator="linear", refit=False).coefficients
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
    assert meta["estimator"] == "KindInteractions+LogisticRegression"
    assert meta["calibration"]["method"] == "platt" and meta["calibration"]["a"] > 0
    assert model.info == {"kind": "learned", "version": meta["version"]}
    assert Prior().info == {"kind": "prior", "version": "prior-1"}


def test_evaluate_reports_four_rankers(examples) -> None:
    result = evaluate(examples)
    for who in ("learned", "previous", "prior", "random"):
        assert set(result[who]) == {"ndcg@10", "ndcg_lift", "precision@5", "roc_auc", "ece"}
    assert result["learned"]["ndcg@10"] > result["prior"]["ndcg@10"] > result["random"]["ndcg@10"]
    assert result["random"]["ndcg_lift"] == 0.0
    rand = result["random"]["ndcg@10"]
    lift = (result["learned"]["ndcg@10"] - rand) / (1 - rand)
    assert result["learned"]["ndcg_lift"] == pytest.approx(lift)
    table = result["reliability"]
    assert sum(row["n"] for row in table) == result["n_holdout"]
    assert all(row["lo"] <= row["predicted"] <= row["hi"] for row in table)


def test_linear_scores_equal_the_pipelines_predict_proba(examples) -> None:
    model = train(examples, estimator="linear", calibrate=False, refit=False)
    X = examples.X[:500]
    np.testing.assert_allclose(model.score(X), model.pipeline.predict_proba(X)[:, 1], rtol=1e-10)
    np.testing.assert_allclose([model.score_one(x) for x in X.tolist()], model.score(X), rtol=1e-10)
    contrib = model.contributions(X)
    z = contrib.sum(axis=1) + model.pipeline[-1].intercept_[0]
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), model.score(X), rtol=1e-10)


def test_kind_model_scores_are_the_calibrated_pipeline(model, examples) -> None:
    """score = sigmoid(a · logit + c) where logit is the fitted regression's on the design
    matrix, and the folded per-kind weights reproduce it (also one pair at a time)."""
    part = examples.subset(np.arange(600))
    ctx = part.context()
    design = model.pipeline_input(part.X, ctx)
    raw = model.pipeline.predict_proba(design)[:, 1]
    cal = model.metadata["calibration"]
    z = cal["a"] * np.log(raw / (1 - raw)) + cal["c"]
    np.testing.assert_allclose(model.score(part.X, ctx), 1 / (1 + np.exp(-z)), rtol=1e-9)
    one = [model.score_one(x, ctx.take([i])) for i, x in enumerate(part.X[:50].tolist())]
    np.testing.assert_allclose(one, model.score(part.X[:50], ctx.take(np.arange(50))), rtol=1e-12)


def test_contributions_sum_to_the_logit(model, examples) -> None:
    part = examples.subset(np.arange(0, len(examples), 7))
    ctx = part.context()
    contrib, base = model.logit_parts(part.X, ctx)
    assert contrib.shape == (len(part), len(model.contribution_names))
    assert model.contribution_names[-2:] == ("institution", "product")
    p = model.score(part.X, ctx)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, np.log(p / (1 - p)), atol=1e-9)
    # The appetite columns are not all zero: products seen in training carry an effect.
    assert np.abs(contrib[:, -1]).max() > 0.05


APPETITE_CODES = ("institution_appetite", "product_appetite")


def test_top_reason_names_the_driving_feature() -> None:
    """IP pledges approved when patents cover ≥ 2× the amount: the learned model's top
    reason for a well-covered need is that coverage (or the other true driver, the amount
    sitting low in the product's range), never a feature with no effect. Funders differ in
    nothing here, so an appetite effect the model learns from noise may lead at most a
    rare pair."""
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
    noise = sum(tops[c] for c in APPETITE_CODES)
    assert noise <= 0.02 * sum(tops.values()), tops
    assert set(tops) <= {"patent_coverage", "amount_in_range", *APPETITE_CODES}, tops
