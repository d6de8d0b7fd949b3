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
from .width import WIDTH_RULES, WidthRule


@dataclass
class SearchConfig:
    """One config for every algorithm (each reads the fields it needs).

    width: siblings sampled per expansion (W); simulations: MCTS simulations per committed
    step (S); beam_width: beams kept (B); n_samples: best-of-N samples. c_base / c_init are
    the PUCT constants (paper: 19652 / 1.25). prune_order "after" scores every sibling and
    then prunes (the paper); "before" prunes first and saves value calls.

    Adaptive width (`search.width`): width_rule "fixed" samples W siblings (the paper);
    "new-group" / "good-turing" sample waves of `wave_size` and stop early (never below
    `min_width` samples; `unseen_mass` is the Good–Turing threshold); W stays the cap.
    single_group_commit: MCTS commits at once to a node's only child group instead of
    spending its simulations. adaptive_stop: best-of-N samples one solution at a time and
    stops by Adaptive-Consistency's Beta criterion at `stop_confidence`.
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
    width_rule: WidthRule = "fixed"
    min_width: int = 2
    wave_size: int = 1
    unseen_mass: float = 0.25
    single_group_commit: bool = False
    adaptive_stop: bool = False
    stop_confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.width_rule not in WIDTH_RULES:
            raise ValueError(
                f"unknown width rule {self.width_rule!r}; use one of {', '.join(WIDTH_RULES)}"
            )
        if self.min_width < 1 or self.wave_size < 1:
            raise ValueError("min_width and wave_size must be >= 1")
        if not 0.0 < self.unseen_mass < 1.0:
            raise ValueError(f"unseen_mass must be in (0, 1), got {self.unseen_mass}")
        if not 0.5 < self.stop_confidence < 1.0:
            raise ValueError(f"stop_confidence must be in (0.5, 1), got {self.stop_confidence}")

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
