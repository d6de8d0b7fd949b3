"""Step-by-step chain of thought: one sample per step (greedy at temperature 0)."""

from __future__ import annotations

from .base import BudgetExhausted, SearchEnv, SearchResult, finish
from .expand import Expander


class GreedySearch:
    """Follows a single path; `sampled=True` draws each step at the config's temperature."""

    name = "greedy"

    def __init__(self, sampled: bool = False):
        self.sampled = sampled

    def run(self, env: SearchEnv) -> SearchResult:
        expander = Expander(env)
        node, path = env.tree.root, []
        temperature = env.config.temperature if self.sampled else 0.0
        try:
            while not node.terminal and node.depth < env.protocol.max_depth:
                children = expander.expand(node, n=1, temperature=temperature)
                if not children:
                    break
                node = children[0]
                path.append(node.id)
        except BudgetExhausted:
            return finish(env, path, exhausted=True)
        return finish(env, path)
