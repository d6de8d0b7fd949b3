"""Fit the learned step value (`value.learned`) on the trees of TRAIN problems.

Every node whose subtree holds complete solutions gives one row: the features of its step
(given the question and the steps before it, with the confidence recorded on the node) and
its Monte Carlo label, the share of those
solutions that is right (`value.labels`), weighted by how many there are (at most
`--max-weight`). Runs whose config names a split other than train are refused: the value is
chosen on the dev trees afterwards (`benchmarks/value_ranking.py --value DIR`).

    python benchmarks/fit_step_value.py benchmarks/runs/value-train \
        --out benchmarks/configs/step-value
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fit_branch_gate import check_train_only

from equivpruner.bench.store import RESULTS, read_results
from equivpruner.search import Tree
from equivpruner.value.labels import subtree_outcomes
from equivpruner.value.learned import FEATURES, save_model, step_features

PARAMS = {
    "objective": "cross_entropy", "num_leaves": 7, "min_data_in_leaf": 20,
    "learning_rate": 0.05, "lambda_l2": 1.0, "verbose": -1, "seed": 0, "deterministic": True,
    "num_threads": 1,
}  # fmt: skip


def rows_of(tree: Tree, gold: str, max_weight: int) -> tuple[list, list, list, list]:
    """(features, label, weight, parent id) of every labelled step of one tree."""
    outcomes = subtree_outcomes(tree, gold)
    rows, labels, weights, parents = [], [], [], []
    for node in tree.nodes[1:]:
        outcome = outcomes.get(node.id)
        if outcome is None:
            continue
        prefix = tree.steps_to(tree.nodes[node.parent])
        confidence = (node.logprob, node.min_logprob, node.entropy)
        rows.append(step_features(tree.question, prefix, node.text, confidence))
        labels.append(outcome.rate)
        weights.append(float(min(outcome.total, max_weight)))
        parents.append(node.parent)
    return rows, labels, weights, parents


def sibling_groups(labels: list, parents: list) -> list[list[int]]:
    """Row indices per parent, for parents whose labelled children do not all agree (the
    only ones a ranking objective learns from)."""
    by_parent: dict = {}
    for k, parent in enumerate(parents):
        by_parent.setdefault(parent, []).append(k)
    return [g for g in by_parent.values() if len({labels[k] for k in g}) > 1]


def fit(rows, labels, weights, parents, objective: str, rounds: int):
    """A booster: `pointwise` regresses the labels (cross-entropy, weighted by solutions);
    `rank` learns to order siblings (LambdaRank over sibling groups, the label in five
    grades), which leaves out what only tells problems apart."""
    import lightgbm
    import numpy as np

    names = list(FEATURES)
    if objective == "pointwise":
        data = lightgbm.Dataset(
            np.asarray(rows), np.asarray(labels), weight=np.asarray(weights), feature_name=names
        )
        return lightgbm.train(PARAMS, data, rounds)
    groups = sibling_groups(labels, parents)
    if not groups:
        raise SystemExit("error: no sibling group with different labels to rank")
    order = [k for g in groups for k in g]
    grades = [int(round(labels[k] * 4)) for k in order]
    data = lightgbm.Dataset(
        np.asarray([rows[k] for k in order]), np.asarray(grades),
        group=[len(g) for g in groups], feature_name=names,
    )  # fmt: skip
    return lightgbm.train({**PARAMS, "objective": "lambdarank"}, data, rounds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="bench run dirs of train problems")
    ap.add_argument("--out", type=Path, required=True, help="the model dir to write")
    ap.add_argument("--arm", help="use this arm's trees only")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--max-weight", type=int, default=5)
    ap.add_argument("--objective", choices=("pointwise", "rank"), default="pointwise")
    args = ap.parse_args(argv)
    rows, labels, weights, parents, trees = [], [], [], [], 0
    for run in args.runs:
        check_train_only(run)
        for (arm, _), record in sorted(read_results(run / RESULTS).items()):
            if record.get("status") != "ok" or (args.arm and arm != args.arm):
                continue
            tree = Tree.load(run / record["tree"])
            r, y, w, p = rows_of(tree, record["gold"], args.max_weight)
            parents += [(trees, x) for x in p]  # parents of different trees stay apart
            rows, labels, weights, trees = rows + r, labels + y, weights + w, trees + 1
    if not rows:
        raise SystemExit(f"error: no labelled step in {len(args.runs)} run(s)")
    booster = fit(rows, labels, weights, parents, args.objective, args.rounds)
    provenance = {
        "fitted_on": [str(r) for r in args.runs], "arm": args.arm, "trees": trees,
        "rows": len(rows), "mean_label": sum(labels) / len(labels), "params": PARAMS,
        "rounds": args.rounds, "max_weight": args.max_weight, "objective": args.objective,
        "output": "sigmoid" if args.objective == "rank" else "probability",
    }  # fmt: skip
    save_model(booster, args.out, provenance)
    print(json.dumps({"out": str(args.out), **provenance}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
