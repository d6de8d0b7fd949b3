"""Step-wise MCTS as in the EquivPruner paper (built on OpenR's setup).

For every committed step: run S simulations from the current node. A simulation descends by
PUCT to a leaf, expands it once (W sampled children, scored by the value function, pruned),
and backs the leaf's value up the path; no rollouts. Then commit to the most-visited child
and repeat until a terminal step or the depth limit. With `single_group_commit`, a node whose
expansion left one child group is committed from at once (there is no choice to simulate).

Unvisited children use their own value as Q (they were scored on creation). Priors are
exp(mean log-prob) normalised over siblings when the backend gives log-probs cheaply, else
the empirical frequency of each distinct sample (see `expand._priors`).
"""

from __future__ import annotations

import math

from .base import BudgetExhausted, SearchEnv, SearchResult, finish
from .expand import Expander
from .tree import Node


def puct_score(parent: Node, child: Node, c_base: float, c_init: float) -> float:
    """Q + U with AlphaZero's visit-dependent exploration constant."""
    c = math.log((parent.visits + c_base + 1) / c_base) + c_init
    u = c * child.prior * math.sqrt(parent.visits) / (1 + child.visits)
    return child.q + u


def commit_choice(children: list[Node]) -> Node:
    """Most visits; ties go to the higher Q, then to the earlier-generated child."""
    return max(children, key=lambda n: (n.visits, n.q, -n.id))


class MCTS:
    name = "mcts"

    def run(self, env: SearchEnv) -> SearchResult:
        expander = Expander(env)
        current, path = env.tree.root, []
        try:
            while not current.terminal and current.depth < env.protocol.max_depth:
                for _ in range(env.config.simulations):
                    if self._single_group(env, current):
                        env.stats.single_group_commits += 1
                        break
                    self.simulate(env, expander, current)
                children = env.tree.children(current)
                if not children:
                    break
                current = commit_choice(children)
                path.append(current.id)
        except BudgetExhausted:
            path += self._greedy_tail(env, current)
            return finish(env, path, exhausted=True)
        return finish(env, path)

    @staticmethod
    def _single_group(env: SearchEnv, node: Node) -> bool:
        """Single-group commit: an expanded node with one child group leaves no choice, so
        the simulations that would pick among its children are not spent."""
        return env.config.single_group_commit and node.expanded and len(node.children) == 1

    def select(self, env: SearchEnv, node: Node) -> Node:
        cfg = env.config
        return max(
            env.tree.children(node),
            key=lambda ch: (puct_score(node, ch, cfg.c_base, cfg.c_init), -ch.id),
        )

    def simulate(self, env: SearchEnv, expander: Expander, start: Node) -> None:
        node, path = start, [start]
        while node.expanded and node.children and not node.terminal:
            node = self.select(env, node)
            path.append(node)
        if not node.terminal and not node.expanded and node.depth < env.protocol.max_depth:
            children = expander.expand(node)
            if node.value is None and children:
                node.value = sum(c.q for c in children) / len(children)
        value = node.value if node.value is not None else 0.0
        self.backup(path, value)

    @staticmethod
    def backup(path: list[Node], value: float) -> None:
        for n in path:
            n.visits += 1
            n.value_sum += value

    @staticmethod
    def _greedy_tail(env: SearchEnv, node: Node) -> list[int]:
        """Out of budget: follow the best already-expanded children without sampling."""
        tail = []
        while node.children and not node.terminal:
            node = commit_choice(env.tree.children(node))
            tail.append(node.id)
        return tail
