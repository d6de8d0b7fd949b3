"""Search events: what a progress display or a log needs while one problem is searched.

`api.solve(..., on_event=fn)` calls `fn(kind, data)`:

- "start": the search begins (`search`, `max_depth`, `simulations`).
- "node": a step joined the tree (`node`, `parent`, `depth`, `text`, `terminal`, `value`,
  `merged`: the siblings folded into it, each with the `stage` that decided and its
  `probability`; `expansion`: the parent's samples, groups and why it stopped sampling).
  The children of one expansion arrive one after another.
- "simulation": an MCTS simulation ended (`simulations` so far, `depth`: steps committed).
- "done": the search ended (`steps`, `answer`).

Every event also carries the running totals `tokens` (generated, all phases), `merges`
(siblings folded into a survivor, byte-identical samples included), `by_stage` (those merges
by deciding stage, `identical` among them), `identical` (byte-identical samples folded) and
`expansions`. The events are observed from the tree the search writes and from MCTS's
simulation step, so no algorithm needs to know about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from .search import MCTS, make_search
from .search.stats import SearchStats
from .search.tree import Node, Tree

OnEvent = Callable[[str, dict], None]


class Emitter:
    """Calls `on_event` with the event's data plus the running totals of `stats`."""

    def __init__(self, on_event: OnEvent, stats: SearchStats | None = None):
        self.on_event = on_event
        self.stats = stats

    def __call__(self, kind: str, **data) -> None:
        self.on_event(kind, {**data, **totals(self.stats)})


def totals(stats: SearchStats | None) -> dict:
    if stats is None:
        return {"tokens": 0, "merges": 0, "by_stage": {}, "identical": 0, "expansions": 0}
    return {
        "tokens": stats.generated_tokens,
        "merges": stats.merges,
        "by_stage": stats.merges_by_stage(),
        "identical": stats.exact_duplicates,
        "expansions": stats.expansions,
    }


class ObservedTree(Tree):
    """A tree that reports every step added to it."""

    def __init__(self, question: str, emit: Emitter):
        super().__init__(question=question)
        self._emit = emit

    def add_child(self, parent: Node, text: str, **stats) -> Node:
        node = super().add_child(parent, text, **stats)
        self._emit(
            "node",
            node=node.id,
            parent=parent.id,
            depth=node.depth,
            text=node.text,
            terminal=node.terminal,
            value=node.value,
            merged=[asdict(m) for m in node.merged],
            expansion=parent.expansion,
        )
        return node


class ObservedMCTS(MCTS):
    """MCTS that reports each simulation (and so each committed step)."""

    def __init__(self, emit: Emitter):
        super().__init__()
        self._emit = emit
        self.simulations = 0

    def simulate(self, env, expander, start: Node) -> None:
        super().simulate(env, expander, start)
        self.simulations += 1
        self._emit("simulation", simulations=self.simulations, depth=start.depth)


def observed_search(name: str, emit: Emitter):
    """The algorithm `name`, reporting its simulations when it is MCTS."""
    return ObservedMCTS(emit) if name == "mcts" else make_search(name)
