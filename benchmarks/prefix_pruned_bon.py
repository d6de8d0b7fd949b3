"""What pruning best-of-N's chains on equivalent prefixes would buy, read from a run's
best-of-N trees (no generation).

The rule simulated: the N chains come one after another, step by step, down a shared tree.
A chain whose step is equivalent (by the detector) to a step already drawn under the same
node walks into that node; once it has agreed with earlier chains on `agree` consecutive
steps it stops, and its vote goes to the solution of the chain it agreed with. So `agree`
1 prunes a chain at its first equivalent step (EquivPruner's pruning applied to best-of-N),
and a large `agree` is plain best-of-N. The pruned chain's tokens are counted up to the step
where it stopped; a chain's tokens are spread over its steps by their length in characters
(best-of-N records one token count per chain).

    python benchmarks/prefix_pruned_bon.py benchmarks/runs/adaptive-40b --arm bon10 \\
        --detector cascade --agree 1 --agree 2 --n 3 --n 5 --n 10
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from equivpruner.answers import answers_match, majority_vote
from equivpruner.bench.curve import solutions
from equivpruner.bench.store import RESULTS, read_results
from equivpruner.equiv.base import Context, Detector
from equivpruner.equiv.registry import make_detector
from equivpruner.search import Tree
from equivpruner.steps import StepProtocol


@dataclass
class Chain:
    steps: list[str]
    step_tokens: list[float]
    answer: str | None


@dataclass
class Shared:
    """A node of the simulated tree: its step, the steps before it, and whose solution it
    leads to (the first chain that drew it)."""

    step: str = ""
    prefix: tuple[str, ...] = ()
    owner: int = -1
    kids: list[Shared] = field(default_factory=list)


def chains(tree: Tree) -> list[Chain]:
    """A best-of-N tree's chains in generation order, tokens spread over steps by length."""
    final_answer = StepProtocol().final_answer
    out = []
    for leaf in solutions(tree):
        steps = tree.steps_to(leaf)
        chars = sum(len(s) for s in steps) or 1
        out.append(Chain(steps, [leaf.tokens * len(s) / chars for s in steps], final_answer(steps)))
    return out


def _match(node: Shared, step: str, detector: Detector, question: str) -> Shared | None:
    """The first child of `node` whose step the detector finds equivalent to `step`."""
    if not node.kids:
        return None
    steps = [k.step for k in node.kids] + [step]
    pairs = [(i, len(node.kids)) for i in range(len(node.kids))]
    for v in detector.compare(steps, pairs, Context(question, node.prefix)):
        if v.equivalent:
            return node.kids[v.i]
    return None


def simulate(
    drawn: list[Chain], question: str, detector: Detector, agree: int
) -> tuple[str | None, float, int]:
    """(voted answer, tokens paid, solutions completed) for the prefix-pruned rule."""
    root = Shared()
    answers: list[str | None] = []
    weights: list[float] = []
    paid = 0.0
    for chain in drawn:
        node, run, voter = root, 0, None
        for step, tokens in zip(chain.steps, chain.step_tokens, strict=True):
            paid += tokens
            hit = _match(node, step, detector, question)
            if hit is None:
                hit = Shared(step, node.prefix + (step,), len(answers))
                node.kids.append(hit)
                run = 0
            else:
                run += 1
            node = hit
            if hit.owner != len(answers) and run >= agree:
                voter = hit.owner
                break
        if voter is None and node.owner == len(answers):
            answers.append(chain.answer)
            weights.append(1.0)
        else:  # stopped early, or walked to the end of an earlier chain's solution
            weights[node.owner if voter is None else voter] += 1.0
    return majority_vote(answers, weights), paid, len(answers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--arm", default="bon10")
    ap.add_argument("--detector", default="cascade")
    ap.add_argument("--agree", type=int, action="append")
    ap.add_argument("--n", type=int, action="append")
    args = ap.parse_args()
    records = list(read_results(args.run / RESULTS).values())
    vanilla = {r["id"]: r for r in records if r["arm"] == "none" and r.get("status") == "ok"}
    trees = {r["id"]: Tree.load(args.run / r["tree"])
             for r in records if r["arm"] == args.arm and r["id"] in vanilla}  # fmt: skip
    drawn_by = {p: (vanilla[p]["gold"], t.question, chains(t)) for p, t in trees.items()}
    detector = make_detector(args.detector)
    base = sum(vanilla[p]["generated_tokens"] for p in trees)
    print(f"{len(trees)} problems of `{args.arm}`; vanilla `none` right on "
          f"{sum(vanilla[p]['correct'] for p in trees)}")  # fmt: skip
    print("| rule | N | right | tokens × vanilla | solutions / problem |")
    print("|---|---:|---:|---:|---:|")
    for n in args.n or [3, 5, 10]:
        for agree in [0] + (args.agree or [1, 2]):
            right = paid = done = 0
            for gold, question, every in drawn_by.values():
                drawn = every[:n]
                if agree:
                    answer, cost, count = simulate(drawn, question, detector, agree)
                else:
                    answer = majority_vote([c.answer for c in drawn])
                    cost, count = sum(sum(c.step_tokens) for c in drawn), len(drawn)
                right += answers_match(answer, gold)
                paid += cost
                done += count
            rule = f"prune after {agree} agreeing step(s)" if agree else "best-of-N"
            print(f"| {rule} | {n} | {right} | {paid / base:.3f} | {done / len(trees):.2f} |")


if __name__ == "__main__":
    main()
