"""The policy's own confidence as a step value (spec `confidence`), DeepConf-style.

A sampled step's value is the probability of its least likely token, exp(min token
log-prob), as the backend reported it when the step was drawn: a step that had to pass
through a token the policy itself found unlikely is where a small model's slips are. It
costs no tokens and no forward pass. Of the scores read on labelled sibling pairs of the
saved trees (`benchmarks/value_ranking.py`, RESULTS 20.2), it ordered the most pairs right.
A step without log-probs (a backend that gives none, or a value asked about texts alone)
scores `neutral`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..search.stats import SearchStats


class ConfidenceValue:
    """exp(min token log-prob) of each sampled step; `neutral` where it is unknown."""

    name = "confidence"

    def __init__(self, neutral: float = 0.5):
        self.neutral = neutral

    def score(
        self, question: str, prefix: Sequence[str], candidates: Sequence[str], stats: SearchStats
    ) -> list[float]:
        """Texts alone carry no confidence: every step scores `neutral`."""
        return [self.neutral] * len(candidates)

    def score_samples(
        self, question: str, prefix: Sequence[str], samples: Sequence, stats: SearchStats
    ) -> list[float]:
        """Scores of sampled steps (`.min_logprob` as the expansion's candidates carry it)."""
        out = []
        for s in samples:
            low = getattr(s, "min_logprob", None)
            out.append(self.neutral if low is None else min(1.0, math.exp(min(0.0, low))))
        return out
