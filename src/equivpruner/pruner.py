"""The pruner in anyone's search loop: one object, one call per expansion.

    from equivpruner import Pruner

    pruner = Pruner("cascade")
    grouping = pruner.group(question, previous_steps, candidates)
    survivors = [candidates[i] for i in grouping.keep]      # one per group, first generated

`grouping.groups` are lists of candidate indices (each in generation order, complete linkage:
a candidate joins a group only if it is equivalent to every member); `grouping.merges` says,
for every candidate folded away, which one kept it, the detector stage that decided and its
probability. `pruner.incremental(question, previous_steps)` groups candidates as they
arrive (adaptive sibling width): `add(new)` sends only the new pairs to the detector and
returns how many new groups they opened.

One `Pruner` may serve many searches at once from threads: calls into its detector are
serialised by a lock (detectors hold models and caches that are not safe to share).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from .equiv.base import Context, Detector, Grouping, Verdict, group_steps
from .llm.base import PolicyBackend
from .search.width import IncrementalGrouping


@dataclass(frozen=True)
class Merge:
    """Candidate `merged` folded into the group kept by candidate `kept`."""

    kept: int
    merged: int
    stage: str
    probability: float


@dataclass
class StepGroups:
    """The groups of one expansion's candidates and the merges behind them."""

    candidates: list[str]
    groups: list[list[int]]
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def keep(self) -> list[int]:
        """One candidate per group: its first generated member (the paper's rule)."""
        return [g[0] for g in self.groups]

    @property
    def merges(self) -> list[Merge]:
        out, lookup = [], Grouping(self.groups, self.verdicts)
        for group in self.groups:
            for member in group[1:]:
                v = lookup.verdict(group[0], member)
                stage, p = (v.stage, v.probability) if v else ("unknown", 1.0)
                out.append(Merge(group[0], member, stage, p))
        return out

    def survivors(self) -> list[str]:
        return [self.candidates[i] for i in self.keep]


class _Locked:
    """A detector whose `compare` calls run one at a time."""

    def __init__(self, detector: Detector, lock: threading.Lock):
        self.inner, self.lock, self.name = detector, lock, detector.name

    def compare(self, steps, pairs, context) -> list[Verdict]:
        with self.lock:
            return self.inner.compare(steps, pairs, context)


class IncrementalGroups:
    """Groups built as candidates arrive (see `Pruner.incremental`)."""

    def __init__(self, detector: Detector, context: Context):
        self._grouping = IncrementalGrouping(detector, context)

    def add(self, candidates: Sequence[str]) -> int:
        """Add candidates in generation order; returns how many new groups they opened."""
        return self._grouping.add(candidates)

    @property
    def groups(self) -> list[list[int]]:
        return [list(g) for g in self._grouping.groups]

    def result(self) -> StepGroups:
        g = self._grouping.grouping()
        return StepGroups(list(self._grouping.steps), g.groups, g.verdicts)


class Pruner:
    """Groups equivalent candidate steps with a detector: a name from `--pruner` (`cascade`,
    `exact`, `symbolic`, …; `llm-judge` judges with `backend`) or a ready `Detector`.
    `options` go to the detector's constructor (`equiv.registry.make_detector`)."""

    def __init__(
        self,
        detector: str | Detector = "cascade",
        backend: PolicyBackend | None = None,
        **options,
    ):
        if isinstance(detector, str) and options:
            from .equiv.registry import make_detector

            built = make_detector(detector, **({"backend": backend} if backend else {}), **options)
        else:
            from .api import build_detector

            built = build_detector(detector, backend)
        self.detector: Detector = built
        self.name = built.name
        self._lock = threading.Lock()
        self._guarded = _Locked(built, self._lock)

    @staticmethod
    def _context(question: str, previous_steps: Sequence[str]) -> Context:
        if isinstance(previous_steps, str):
            raise TypeError("previous_steps must be a list of step texts, not one string")
        return Context(question, tuple(previous_steps))

    def group(
        self, question: str, previous_steps: Sequence[str], candidates: Sequence[str]
    ) -> StepGroups:
        """Group one expansion's candidate next steps (all pairs in one detector call)."""
        context = self._context(question, previous_steps)
        grouping = group_steps(list(candidates), self._guarded, context)
        return StepGroups(list(candidates), grouping.groups, grouping.verdicts)

    def incremental(
        self, question: str, previous_steps: Sequence[str] = ()
    ) -> IncrementalGroups:
        """An empty grouping for one expansion, to `add` candidates to as they arrive."""
        return IncrementalGroups(self._guarded, self._context(question, previous_steps))
