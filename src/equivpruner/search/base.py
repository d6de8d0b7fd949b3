"""What every search algorithm shares: one config, the environment it runs in, its result."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from ..equiv.base import Detector
from ..llm.base import PolicyBackend
from ..steps import StepProtocol
from ..value.base import ValueFunction
from .gate import BranchGate, load_gate
from .pruning import KeepRule, ValueRule
from .stats import SearchStats
from .tree import Tree
from .vote import ANSWER_RULES, VOTE_WEIGHTS, tree_vote
from .width import WIDTH_RULES, WidthRule

PriorRule = Literal["empirical", "confidence"]
PRIOR_RULES: tuple[str, ...] = ("empirical", "confidence")


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

    stop_detector: a detector name used only for the adaptive-width stop decision (e.g.
    "cascade-strict"); merging still uses the search's detector (None: it decides both).
    branch_gate: a fitted gate file (`search.gate`) that keeps an expansion to one sample
    when its first sample's confidence says a second would not open a new group;
    gate_threshold overrides the file's threshold.
    prior_rule: "empirical" (each sample weighs 1/n, a group's prior is its share of the
    samples: what every run before confidence was recorded used) or "confidence" (the
    paper's exp(mean token log-prob) normalised over siblings, falling back to the empirical
    share when a backend gives no log-probs).
    answer_rule: "path" answers with the committed path (MCTS) or best beam; "vote" by a
    vote over the tree's complete solutions weighted by `vote_weights` (`search.vote`).
    arithmetic_check: discard sampled steps that state false arithmetic and draw on, and
    leave solutions holding such a step out of votes (`search.check`).
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
    stop_detector: str | None = None
    branch_gate: str | None = None
    gate_threshold: float | None = None
    prior_rule: PriorRule = "empirical"
    answer_rule: str = "path"
    vote_weights: str = "count"
    arithmetic_check: bool = False

    def __post_init__(self) -> None:
        self._check_choices()
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

    def _check_choices(self) -> None:
        for name, value, allowed in (
            ("prior rule", self.prior_rule, PRIOR_RULES),
            ("answer rule", self.answer_rule, ANSWER_RULES),
            ("vote weights", self.vote_weights, VOTE_WEIGHTS),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")
        if self.gate_threshold is not None and not 0.0 <= self.gate_threshold <= 1.0:
            raise ValueError(f"gate_threshold must be in [0, 1], got {self.gate_threshold}")

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
    stop_detector: Detector | None = None  # default: `config.stop_detector` by name
    gate: BranchGate | None = None  # default: `config.branch_gate` loaded

    def __post_init__(self) -> None:
        if self.tree is None:
            self.tree = Tree(question=self.question)
        if self.stop_detector is None and self.config.stop_detector:
            self.stop_detector = shared_detector(self.config.stop_detector)
        if self.gate is None and self.config.branch_gate:
            self.gate = load_gate(self.config.branch_gate)


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


_DETECTORS: dict[str, Detector] = {}
_DETECTORS_LOCK = threading.Lock()


def shared_detector(name: str) -> Detector:
    """A detector by registry name, built once per process (a stop detector is named in
    the config of every problem's search)."""
    with _DETECTORS_LOCK:
        if name not in _DETECTORS:
            from ..equiv.registry import make_detector

            _DETECTORS[name] = make_detector(name)
        return _DETECTORS[name]


def finish(env: SearchEnv, path_ids: list[int], exhausted: bool = False) -> SearchResult:
    """Record the chosen path and answer on the tree and wrap up a result. The vote over the
    tree's solutions is recorded too (`meta["vote"]`); with `answer_rule="vote"` (MCTS and
    beam search) its winner's path is the one chosen."""
    tree = env.tree
    cfg = env.config
    vote = tree_vote(tree, env.protocol.final_answer, cfg.vote_weights, cfg.arithmetic_check)
    tree.meta["vote"] = {"weights": cfg.vote_weights, **vote.to_dict()}
    if env.config.answer_rule == "vote" and vote.node is not None:
        if env.config.algorithm in ("mcts", "beam"):
            path_ids = [n.id for n in tree.path_to(vote.node)]
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
