"""Does the search's value rank sibling steps? Read from saved trees, nothing generated.

For every arm of each run: sibling pairs whose subtrees hold complete solutions with
different right-rates (Monte Carlo labels, `value.labels`), and the share of them each
score orders the right way (ties half; 0.5 is chance). Scores: the value the search gave
each step (`value`), the policy's confidence in it (`mean_logprob`, `min_logprob`), the
arithmetic check (`check`: 0 when the step states false arithmetic, else 1; it speaks only
on pairs where one step is flawed, and ties the rest), and the label itself (`oracle`, 1.0
by construction: a check of the pairs). With `--value DIR`, also a learned step value
(`value.learned`, fitted by `fit_step_value.py` on train trees) scoring each step given the
question, the steps before it and the confidence recorded on it (`learned`).

    python benchmarks/value_ranking.py benchmarks/runs/adaptive-40b \
        benchmarks/runs/confirm-40 benchmarks/runs/confirm-b-40 --arm none
"""

from __future__ import annotations

import argparse
from pathlib import Path

from equivpruner.bench.store import RESULTS, read_results
from equivpruner.search import Tree
from equivpruner.search.check import false_equalities
from equivpruner.search.stats import SearchStats
from equivpruner.value.labels import Ranking, sibling_ranking, subtree_outcomes
from equivpruner.value.learned import LearnedValue

SCORES = {
    "value": lambda n: n.value,
    "mean_logprob": lambda n: n.logprob,
    "min_logprob": lambda n: n.min_logprob,
    "check": lambda n: 0.0 if false_equalities(n.text) else 1.0,
}


def learned_score(value: LearnedValue, tree: Tree):
    """A node's score under the learned value, given the steps before it."""

    def score(node) -> float:
        prefix = tree.steps_to(tree.nodes[node.parent])
        return value.score_samples(tree.question, prefix, [node], SearchStats())[0]

    return score


def rank_run(
    run: Path, arms: list[str] | None, value: LearnedValue | None = None
) -> dict[str, dict[str, Ranking]]:
    """Per arm, per score: the pooled ranking over the run's ok records."""
    out: dict[str, dict[str, Ranking]] = {}
    names = [*SCORES, *(["learned"] if value else []), "oracle"]
    for (arm, _), record in sorted(read_results(run / RESULTS).items()):
        if record.get("status") != "ok" or (arms and arm not in arms):
            continue
        tree = Tree.load(run / record["tree"])
        outcomes = subtree_outcomes(tree, record["gold"])
        per = out.setdefault(arm, {s: Ranking() for s in names})
        for name, score in SCORES.items():
            per[name].add(sibling_ranking(tree, outcomes, score))
        if value is not None:
            per["learned"].add(sibling_ranking(tree, outcomes, learned_score(value, tree)))
        oracle = sibling_ranking(tree, outcomes, lambda n, o=outcomes: o[n.id].rate)
        per["oracle"].add(oracle)
    return out


def _cell(r: Ranking) -> str:
    return "—" if r.share is None else f"{r.share:.3f} ({r.pairs})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--arm", action="append", help="only these arms (repeatable)")
    parser.add_argument("--value", type=Path, help="a learned step value's model dir")
    args = parser.parse_args(argv)
    value = LearnedValue.load(args.value) if args.value else None
    names = [*SCORES, *(["learned"] if value else []), "oracle"]
    print("| run | arm | " + " | ".join(f"{s} (pairs)" for s in names) + " |")
    print("|---|---|" + "---|" * len(names))
    pooled: dict[str, Ranking] = {}
    lines = 0
    for run in args.runs:
        for arm, per in rank_run(run, args.arm, value).items():
            cells = " | ".join(_cell(per[s]) for s in names)
            print(f"| {run.name} | `{arm}` | {cells} |")
            lines += 1
            for s, r in per.items():
                pooled.setdefault(s, Ranking()).add(r)
    if lines > 1:
        cells = " | ".join(_cell(pooled[s]) for s in names)
        print(f"| all | | {cells} |")


if __name__ == "__main__":
    main()
