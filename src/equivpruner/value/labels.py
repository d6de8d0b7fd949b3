"""Monte Carlo step labels read from a search tree, and how well a value ranks siblings.

A node's label is the share of the complete solutions in its subtree whose answer is right
(the Math-Shepherd recipe, with the search's own samples as the completions): no model is
asked, and a node whose subtree holds no complete solution has no label. The same labels
say whether a value function ranks sibling steps: over every pair of labelled siblings with
different labels, the share the value orders the right way (ties count half). A value that
carries no information scores about 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..answers import answers_match
from ..search.tree import Node, Tree
from ..steps import StepProtocol


@dataclass(frozen=True)
class Outcome:
    """Complete solutions in a node's subtree, and how many of them are right."""

    right: int
    total: int

    @property
    def rate(self) -> float:
        return self.right / self.total


def subtree_outcomes(
    tree: Tree, gold: str, protocol: StepProtocol | None = None
) -> dict[int, Outcome]:
    """Every node's outcome; a terminal node is one solution, right or not."""
    final_answer = (protocol or StepProtocol()).final_answer
    out: dict[int, Outcome] = {}
    for node in sorted(tree.nodes, key=lambda n: -n.depth):  # children before parents
        if node.terminal:
            out[node.id] = Outcome(int(answers_match(final_answer(tree.steps_to(node)), gold)), 1)
            continue
        kids = [out[c] for c in node.children if c in out]
        out[node.id] = Outcome(sum(k.right for k in kids), sum(k.total for k in kids))
    return {k: v for k, v in out.items() if v.total}


@dataclass
class Ranking:
    """Sibling pairs with different labels, and the (tie-halved) count ordered right."""

    agree: float = 0.0
    pairs: int = 0

    @property
    def share(self) -> float | None:
        return self.agree / self.pairs if self.pairs else None

    def add(self, other: Ranking) -> None:
        self.agree += other.agree
        self.pairs += other.pairs


def sibling_ranking(
    tree: Tree, outcomes: dict[int, Outcome], score: Callable[[Node], float | None]
) -> Ranking:
    """How often `score` orders two labelled siblings as their labels do (nodes it gives
    no score are left out)."""
    ranking = Ranking()
    for node in tree.nodes:
        kids = [
            (outcomes[c].rate, s)
            for c in node.children
            if c in outcomes and (s := score(tree.nodes[c])) is not None
        ]
        for i, (rate_a, score_a) in enumerate(kids):
            for rate_b, score_b in kids[i + 1 :]:
                if rate_a == rate_b:
                    continue
                better, worse = (score_a, score_b) if rate_a > rate_b else (score_b, score_a)
                ranking.pairs += 1
                ranking.agree += 1.0 if better > worse else 0.5 if better == worse else 0.0
    return ranking
