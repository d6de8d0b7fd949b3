"""The value seam: score candidate next steps given the question and the steps before them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..search.stats import SearchStats


@runtime_checkable
class ValueFunction(Protocol):
    """Scores in [0, 1]: higher means the step more likely leads to a correct solution.

    Implementations record their own cost in `stats` ("value" phase for model calls,
    "rollout" for tokens sampled by rollouts).
    """

    name: str

    def score(
        self,
        question: str,
        prefix: Sequence[str],
        candidates: Sequence[str],
        stats: SearchStats,
    ) -> list[float]: ...


class ConstantValue:
    """Every step scores the same: search is then guided by priors and visits alone."""

    name = "constant"

    def __init__(self, value: float = 0.5):
        self.value = value

    def score(self, question, prefix, candidates, stats) -> list[float]:
        return [self.value] * len(candidates)
