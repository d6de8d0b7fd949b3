"""The answer rule over the tree: a vote over every complete solution the search built.

A complete solution is a terminal node; its answer is the protocol's final answer of its
path. Weights (`SearchConfig.vote_weights`):

- `count`: one vote per solution (majority vote);
- `groups`: the number of samples the solution's last step stands for (itself plus the
  siblings merged into it);
- `visits`: the node's MCTS visits;
- `value`: the node's value (backed-up mean when visited, else its own score).

When every weight is zero (e.g. visits in a beam search), each solution counts once. With
`check` (the arithmetic check, `search.check`) solutions holding a step that states false
arithmetic are left out, unless every solution holds one. The vote costs no tokens: it reads
what the search already generated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..answers import canonical_answer, majority_vote
from .check import checked_solutions
from .tree import Node, Tree

VOTE_WEIGHTS: tuple[str, ...] = ("count", "groups", "visits", "value")
ANSWER_RULES: tuple[str, ...] = ("path", "vote")


@dataclass
class TreeVote:
    """The winner, the node whose path gives it (the best-weighted solution with that
    answer), and the tally per canonical answer."""

    answer: str | None
    node: Node | None
    tally: dict[str, float]
    solutions: int

    def to_dict(self) -> dict:
        return {
            "answer": self.answer,
            "node": None if self.node is None else self.node.id,
            "tally": {k: round(v, 6) for k, v in self.tally.items()},
            "solutions": self.solutions,
        }


def _weight(node: Node, rule: str) -> float:
    if rule == "count":
        return 1.0
    if rule == "groups":
        return 1.0 + len(node.merged)
    if rule == "visits":
        return float(node.visits)
    if rule == "value":
        return max(0.0, node.q)
    raise ValueError(f"unknown vote weights {rule!r}; use one of {', '.join(VOTE_WEIGHTS)}")


def complete_solutions(tree: Tree) -> list[Node]:
    """The terminal nodes, in the order they were created (the root excluded)."""
    return [n for n in tree.nodes[1:] if n.terminal]


def tree_vote(
    tree: Tree,
    final_answer: Callable[[Sequence[str]], str | None],
    weights: str = "count",
    check: bool = False,
) -> TreeVote:
    """Vote over the tree's complete solutions; `final_answer(steps)` reads an answer."""
    leaves = complete_solutions(tree)
    if check:
        leaves = checked_solutions(tree, leaves)
    answers = [final_answer(tree.steps_to(n)) for n in leaves]
    votes = [_weight(n, weights) for n in leaves]
    if not any(votes):
        votes = [1.0] * len(leaves)
    winner = majority_vote(answers, votes)
    key = canonical_answer(winner)
    tally: dict[str, float] = {}
    for a, w in zip(answers, votes, strict=True):
        k = canonical_answer(a)
        if k is not None:
            tally[k] = tally.get(k, 0.0) + w
    backers = [
        (w, -n.id, n) for n, a, w in zip(leaves, answers, votes, strict=True)
        if key is not None and canonical_answer(a) == key
    ]  # fmt: skip
    node = max(backers, key=lambda t: t[:2])[2] if backers else None
    return TreeVote(winner, node, tally, len(leaves))
