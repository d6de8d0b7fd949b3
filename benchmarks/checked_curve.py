"""The arithmetic check read from a run's saved trees, without generating anything.

Prints, as markdown: how often a complete solution holding a false equality was right (per
arm); the nested best-of-N curve with the plain vote and with the checked vote (solutions
holding a false equality left out unless all do); and every arm's path, vote and checked
vote next to both curves at the arm's own token budget. The checked curve is the fair
comparator for an arm that searches with the check: best-of-N gets the same verifier free.

    python benchmarks/checked_curve.py benchmarks/runs/adaptive-40b --arm bon10
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from equivpruner.answers import answers_match
from equivpruner.bench.curve import solutions
from equivpruner.bench.metrics import VANILLA
from equivpruner.bench.store import RESULTS, read_results
from equivpruner.search import Tree
from equivpruner.search.best_of_n import vote_choice
from equivpruner.search.check import checked_solutions, flawed_solution
from equivpruner.search.vote import complete_solutions, tree_vote
from equivpruner.steps import StepProtocol

final_answer = StepProtocol().final_answer


@dataclass
class CurvePoint:
    n: int
    plain: int
    checked: int
    tokens: int


@dataclass
class ArmRow:
    arm: str
    problems: int
    tokens: int
    path: int
    vote: int
    checked_vote: int
    flawed_right: int
    flawed_wrong: int
    clean_right: int
    clean_wrong: int


def curve(trees: Sequence[tuple[Tree, str]], k: int) -> list[CurvePoint]:
    """Best-of-N for N = 1..k from the first N solutions of each best-of-K tree."""
    points = [CurvePoint(n, 0, 0, 0) for n in range(1, k + 1)]
    for tree, gold in trees:
        leaves = solutions(tree)
        answer = {leaf.id: final_answer(tree.steps_to(leaf)) for leaf in leaves}
        for p in points:
            if not leaves:
                continue
            first = [answer[leaf.id] for leaf in leaves[: p.n]]
            clean = [answer[leaf.id] for leaf in checked_solutions(tree, leaves[: p.n])]
            p.plain += answers_match(first[vote_choice(first)], gold)
            p.checked += answers_match(clean[vote_choice(clean)], gold)
            p.tokens += sum(leaf.tokens for leaf in leaves[: p.n])
    return points


def arm_row(out: Path, records: Sequence[dict], arm: str) -> ArmRow:
    """An arm's answers under the three rules, and its solutions by flaw and correctness."""
    row = ArmRow(arm, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    for r in records:
        if r["arm"] != arm or r.get("status") != "ok" or not r.get("tree"):
            continue
        tree = Tree.load(out / r["tree"])
        weights = (tree.meta.get("vote") or {}).get("weights", "groups")
        row.problems += 1
        row.tokens += r["generated_tokens"]
        row.path += bool(r["correct"])
        checked = tree_vote(tree, final_answer, weights, True).answer
        row.vote += answers_match(tree_vote(tree, final_answer, weights).answer, r["gold"])
        row.checked_vote += answers_match(checked, r["gold"])
        for leaf in complete_solutions(tree):
            right = answers_match(final_answer(tree.steps_to(leaf)), r["gold"])
            if flawed_solution(tree, leaf):
                row.flawed_right += right
                row.flawed_wrong += not right
            else:
                row.clean_right += right
                row.clean_wrong += not right
    return row


def _at_budget(points: Sequence[CurvePoint], tokens: float, attr: str) -> str:
    within = [p for p in points if p.tokens <= tokens]
    return f"{getattr(within[-1], attr)} (N = {within[-1].n})" if within else "below N = 1"


def report(out: Path, curve_arm: str, k: int) -> list[str]:
    records = list(read_results(out / RESULTS).values())
    golds = {r["id"]: r["gold"] for r in records}
    base = {r["id"] for r in records if r["arm"] == VANILLA and r.get("status") == "ok"}
    trees = [(Tree.load(out / r["tree"]), golds[r["id"]]) for r in records
             if r["arm"] == curve_arm and r.get("status") == "ok" and r["id"] in base]  # fmt: skip
    vanilla_tokens = sum(r["generated_tokens"] for r in records
                         if r["arm"] == VANILLA and r["id"] in base)  # fmt: skip
    points = curve(trees, k)
    lines = ["| N | plain vote | checked vote | tokens × vanilla |", "|---|---:|---:|---:|"]
    lines += [f"| {p.n} | {p.plain} | {p.checked} | {p.tokens / vanilla_tokens:.3f} |"
              for p in points]  # fmt: skip
    header = (
        "| arm | problems | tokens × vanilla | path | vote | checked vote | curve at budget "
        "(plain) | (checked) | flawed solutions right / all | others right / all |"
    )
    lines += ["", header, "|---|---:|---:|---:|---:|---:|---|---|---|---|"]
    arms = list(dict.fromkeys(r["arm"] for r in records))
    for arm in arms:
        row = arm_row(out, [r for r in records if r["id"] in base], arm)
        if not row.problems:
            continue
        ratio = row.tokens / vanilla_tokens
        spend = ratio * vanilla_tokens
        lines.append(
            f"| `{arm}` | {row.problems} | {ratio:.3f} | {row.path} | {row.vote} "
            f"| {row.checked_vote} | {_at_budget(points, spend, 'plain')} "
            f"| {_at_budget(points, spend, 'checked')} "
            f"| {row.flawed_right} / {row.flawed_right + row.flawed_wrong} "
            f"| {row.clean_right} / {row.clean_right + row.clean_wrong} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a bench --out directory")
    parser.add_argument("--arm", default="bon10", help="the fixed-N best-of-N arm")
    parser.add_argument("--k", type=int, default=10, help="its N")
    args = parser.parse_args(argv)
    print("\n".join(report(args.run, args.arm, args.k)))


if __name__ == "__main__":
    main()
