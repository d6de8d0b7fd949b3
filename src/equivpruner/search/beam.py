"""Step-level beam search: expand each live beam W ways, keep the top B by value."""

from __future__ import annotations

from .base import BudgetExhausted, SearchEnv, SearchResult, finish
from .expand import Expander
from .tree import Node


def top_by_value(nodes: list[Node], k: int) -> list[Node]:
    """The k best nodes by value (ties: earlier-generated first)."""
    ranked = sorted(nodes, key=lambda n: (-(n.value if n.value is not None else 0.0), n.id))
    return ranked[:k]


class BeamSearch:
    name = "beam"

    def run(self, env: SearchEnv) -> SearchResult:
        expander = Expander(env)
        beams: list[Node] = [env.tree.root]
        exhausted = False
        try:
            for _ in range(env.protocol.max_depth):
                live = [b for b in beams if not b.terminal]
                if not live:
                    break
                pool = [b for b in beams if b.terminal]
                for beam in live:
                    pool += expander.expand(beam)
                if not pool:
                    break
                beams = top_by_value(pool, env.config.beam_width)
        except BudgetExhausted:
            exhausted = True
        beams = [b for b in beams if b is not env.tree.root]
        if not beams:
            return finish(env, [], exhausted)
        finished = [b for b in beams if b.terminal] or beams
        best = top_by_value(finished, 1)[0]
        return finish(env, [n.id for n in env.tree.path_to(best)], exhausted)
