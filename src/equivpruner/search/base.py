"""What every search algorithm shares: one config, the environment it runs in, its result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from ..equiv.base import Detector
from ..llm.base import PolicyBackend
from ..steps import StepProtocol
from ..value.base import ValueFunction
from .pruning import KeepRule, ValueRule
from .stats import SearchStats
from .tree import Tree


@dataclass
class SearchConfig:
    """One config for every algorithm (each reads the fields it needs).

    width: siblings sampled per expansion (W); simulations: MCTS simulations per committed
    step (S); beam_width: beams kept (B); n_samples: best-of-N samples. c_base / c_init are
    the PUCT constants (paper: 19652 / 1.25). prune_order "after" scores every sibling and
    then prunes (the paper); "before" prunes first and saves value calls.
    """

    algorithm: str = "mcts"
    width: int = 5
    simulations: int = 3
    beam_width: int = 2
    n_samples: int = 8
    temperature: float = 0.7
    top_p: float = 1.0
    c_base: float = 19652.0
    c_init: float = 1.25
    prune_order: Literal["after", "before"] = "after"
    keep: KeepRule = "first"
    value_merge: ValueRule = "keep"
    weighted_vote: bool = False
    drop_truncated: bool = True
    token_budget: int | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchEnv:
    """Everything one problem's search needs; `stats` and `tree` fill in as it runs."""

    question: str
    backend: PolicyBackend
    detector: Detector
    value: ValueFunction
    config: SearchConfig = field(default_factory=SearchConfig)
    protocol: StepProtocol = field(default_factory=StepProtocol)
    stats: SearchStats = field(default_factory=SearchStats)
    tree: Tree | None = None

    def __post_init__(self) -> None:
        if self.tree is None:
            self.tree = Tree(question=self.question)


@dataclass
class SearchResult:
    """The outcome of one problem: the committed steps, the answer, the tree and the costs."""

    steps: list[str]
    answer: str | None
    tree: Tree
    stats: SearchStats
    budget_exhausted: bool = False


class SearchAlgorithm(Protocol):
    name: str

    def run(self, env: SearchEnv) -> SearchResult: ...


class BudgetExhausted(Exception):
    """The token budget ran out; the algorithm returns its best answer so far."""


def finish(env: SearchEnv, path_ids: list[int], exhausted: bool = False) -> SearchResult:
    """Record the chosen path and answer on the tree and wrap up a result."""
    tree = env.tree
    steps = [tree.nodes[i].text for i in path_ids]
    answer = env.protocol.final_answer(steps)
    tree.chosen_path = list(path_ids)
    tree.answer = answer
    tree.meta.update(
        search=env.config.to_dict(),
        model=getattr(env.backend, "name", "?"),
        detector=getattr(env.detector, "name", "?"),
        value=getattr(env.value, "name", "?"),
        stats=env.stats.to_dict(),
    )
    return SearchResult(steps, answer, tree, env.stats, exhausted)
