"""Matching benchmark: vectorised ranking vs the per-candidate Python loop (not a test).

    .venv/bin/python bench/matching.py                     # 10 000 products, 100 000 needs
    .venv/bin/python bench/matching.py --products 2000 --needs 20000 --outcome-needs 3000
    .venv/bin/python bench/matching.py --quality-only      # hold-out quality table only

On synthetic data (techfin.matching.synthetic) it measures: ranking 10 000 products for
one need and returning the top 20 with reasons; ranking 100 000 needs for one product;
each beside techfin.matching.reference's loop computing the same scores (and checks that
they agree); and training on the outcome history. Every product and need is rewritten to
kind "loan" for the ranking part, so all 10 000 / 100 000 rows pass the kind filter and go
through every rule. Prints one side-by-side table.

Quality (issue #15): the outcomes follow synthetic.generate_kinds()'s rule (kind-specific
drivers plus institution and product appetite; `--world sections` for the older
generate() rule). On the time-ordered hold-out it prints, for the learned (kind-aware,
calibrated) model, the previous v1 linear model, the Prior, random order and the true
rule itself (the ceiling label noise allows): NDCG@10, its lift = (model − random) /
(ideal − random), ROC AUC and expected calibration error, then the learned model's
reliability table. Targets: lift ≥ 0.7, ECE ≤ 0.05.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from techfin.matching import (  # noqa: E402
    History,
    build_examples,
    build_sets,
    rank_needs_for_product,
    rank_products_for_need,
    train,
)
from techfin.matching.reference import (  # noqa: E402
    rank_needs_for_product_loop,
    rank_products_for_need_loop,
)
from techfin.matching.scoring import metrics_for, time_split  # noqa: E402
from techfin.matching.synthetic import generate, generate_kinds  # noqa: E402


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t) * 1000


def _pct(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _agree(fast, slow) -> float:
    """Largest score difference over every candidate both return (ids must match)."""
    a = {(m.id, m.eligible, tuple(g.code for g in m.gaps)): m.score for m in fast}
    b = {(m.id, m.eligible, tuple(g.code for g in m.gaps)): m.score for m in slow}
    if a.keys() != b.keys():
        raise SystemExit(f"loop and vectorised rankings differ: {len(a.keys() ^ b.keys())} rows")
    return max((abs(a[k] - b[k]) for k in a), default=0.0)


def _quality(world, examples, met: dict) -> None:
    """Hold-out table: learned / previous / prior / random / true rule, and reliability."""
    _, test_idx = time_split(examples)
    test = examples.subset(test_idx)
    needs = {n["id"]: n for n in world.needs}
    products = {p["id"]: p for p in world.products}
    truth = np.array(
        [
            world.probability(needs[g], products[p])
            for g, p in zip(test.groups, test.product_ids, strict=True)
        ]
    )
    rows = dict(met)
    rows["true rule"] = metrics_for(test.y, truth, test.groups)
    rand = met["random"]["ndcg@10"]
    rows["true rule"]["ndcg_lift"] = (rows["true rule"]["ndcg@10"] - rand) / (1 - rand)
    print(
        f"\nhold-out: {met['n_holdout']} decided pairs of {met['n_holdout_needs']} needs"
        f" with both outcomes, from {met['holdout_from']}; world rule {world.rule!r}"
    )
    head = ("ranker", "NDCG@10", "lift", "P@5", "ROC AUC", "ECE")
    table = [head]
    for who in ("learned", "previous", "prior", "random", "true rule"):
        m = rows.get(who)
        if m is None:
            continue
        table.append(
            (
                who,
                f"{m['ndcg@10']:.3f}",
                f"{m['ndcg_lift']:.3f}",
                f"{m['precision@5']:.3f}",
                f"{m['roc_auc']:.3f}",
                f"{m['ece']:.3f}",
            )
        )
    table.append(("target (learned)", "", "≥ 0.70", "", "", "≤ 0.05"))
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print("\nreliability of the learned model's probabilities on the hold-out:")
    print("  bin        pairs  predicted  observed")
    for b in met.get("reliability", []):
        print(
            f"  {b['lo']:.1f}–{b['hi']:.1f}  {b['n']:6d}  {b['predicted']:9.3f}  {b['observed']:8.3f}"
        )
    print(flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=10_000)
    ap.add_argument("--needs", type=int, default=100_000)
    ap.add_argument(
        "--outcome-needs",
        type=int,
        default=20_000,
        help="needs with outcome history (~115 000 decided pairs)",
    )
    ap.add_argument("--repeats", type=int, default=200, help="vectorised calls per direction")
    ap.add_argument("--loop-repeats", type=int, default=10, help="loop calls (need → products)")
    ap.add_argument(
        "--loop-repeats-needs", type=int, default=3, help="loop calls (product → needs)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--world", choices=("kinds", "sections"), default="kinds")
    ap.add_argument("--quality-only", action="store_true", help="skip the ranking timings")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    rows: list[tuple[str, ...]] = []

    world, ms = _timed(
        generate_kinds if args.world == "kinds" else generate,
        n_needs=args.needs,
        n_products=args.products,
        outcome_needs=args.outcome_needs,
        seed=args.seed,
    )
    print(
        f"generated {args.products} products, {args.needs} needs, {len(world.outcomes)} outcome rows in {ms / 1000:.1f} s",
        flush=True,
    )

    # Training on the outcome history (mixed kinds, as recorded).
    examples, ms_ex = _timed(build_examples, world.needs, world.products, world.outcomes)
    model, ms_fit = _timed(train, examples)
    met = model.metadata["metrics"]
    print(
        f"training rows {len(examples)} (positive {int(examples.y.sum())}); build {ms_ex / 1000:.1f} s, fit+evaluate {ms_fit / 1000:.1f} s",
        flush=True,
    )
    _quality(world, examples, met)
    if args.quality_only:
        return

    # Ranking tables: every record as a loan, active.
    products = [dict(p, kind="loan", status="active") for p in world.products]
    needs = [dict(n, kind="loan", status="published") for n in world.needs]
    history = History.from_outcomes(world.outcomes, world.needs, world.products)
    (cands, need_set), ms_sets = _timed(build_sets, products, needs)
    print(
        f"CandidateSet + NeedSet with one shared jieba TF-IDF space ({cands.text_space.size} terms):"
        f" {ms_sets / 1000:.1f} s",
        flush=True,
    )
    as_of = world.end
    rng = np.random.default_rng(args.seed)

    # 1. one need → 10 000 products
    picks = [needs[i] for i in rng.choice(len(needs), size=args.repeats, replace=False)]
    rank_products_for_need(picks[0], cands, model, history, as_of=as_of)  # warm caches
    fast = [_timed(rank_products_for_need, n, cands, model, history, as_of=as_of)[1] for n in picks]
    slow = [
        _timed(rank_products_for_need_loop, n, cands, model, history, as_of=as_of)[1]
        for n in picks[: args.loop_repeats]
    ]
    full = {"limit": 10**7, "almost_limit": 10**7, "as_of": as_of}
    diff1 = max(
        _agree(
            rank_products_for_need(n, cands, model, history, **full),
            rank_products_for_need_loop(n, cands, model, history, **full),
        )
        for n in picks[:3]
    )
    top = rank_products_for_need(picks[0], cands, model, history, as_of=as_of)
    f50, f95 = _pct(fast)
    s50, s95 = _pct(slow)
    rows.append(
        (
            f"need → {len(cands):,} products, top 20 + reasons",
            f"{f50:.1f}",
            f"{f95:.1f}",
            "≤ 20",
            f"{s50:.0f}",
            f"{s95:.0f}",
            f"{s50 / f50:.0f}×",
            "≥ 50×",
            f"{diff1:.1e}",
        )
    )
    print(
        f"need → products: {top.n_candidates} candidates, {top.n_eligible} eligible, {top.n_almost} almost; top: {top.matches[0].reasons if top.matches else []}",
        flush=True,
    )

    # 2. one product → 100 000 needs
    ppicks = [
        products[i]
        for i in rng.choice(len(products), size=min(args.repeats, len(products)), replace=False)
    ]
    rank_needs_for_product(ppicks[0], need_set, model, history, as_of=as_of)
    fast = [
        _timed(rank_needs_for_product, p, need_set, model, history, as_of=as_of)[1] for p in ppicks
    ]
    slow = [
        _timed(rank_needs_for_product_loop, p, need_set, model, history, as_of=as_of)[1]
        for p in ppicks[: args.loop_repeats_needs]
    ]
    diff2 = _agree(
        rank_needs_for_product(ppicks[0], need_set, model, history, **full),
        rank_needs_for_product_loop(ppicks[0], need_set, model, history, **full),
    )
    f50, f95 = _pct(fast)
    s50, s95 = _pct(slow)
    rows.append(
        (
            f"product → {len(need_set):,} needs, top 20 + reasons",
            f"{f50:.1f}",
            f"{f95:.1f}",
            "≤ 200",
            f"{s50:.0f}",
            f"{s95:.0f}",
            f"{s50 / f50:.0f}×",
            "≥ 50×",
            f"{diff2:.1e}",
        )
    )
    rows.append(
        (
            "train: build examples + fit + evaluate",
            f"{(ms_ex + ms_fit) / 1000:.1f} s",
            "",
            "< 60 s",
            "",
            "",
            "",
            "",
            f"{len(examples)} rows",
        )
    )

    head = (
        "task",
        "p50 ms",
        "p95 ms",
        "target",
        "loop p50",
        "loop p95",
        "speed-up",
        "target",
        "max |Δscore|",
    )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print()
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        f"\n(loop: {args.loop_repeats} / {args.loop_repeats_needs} calls; vectorised:"
        f" {args.repeats} calls; speed-up = loop p50 ÷ vectorised p50; 1-min load average"
        f" {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
