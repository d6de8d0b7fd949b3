"""Adaptive sibling width: sample in waves, group as samples arrive, stop when more samples
are unlikely to bring a new idea.

Rules (`SearchConfig.width_rule`; W = `width` stays the cap):

- `fixed`: W samples (the paper).
- `new-group`: stop after a wave that opened no new group, once `min_width` samples are in.
- `good-turing`: stop once the Good–Turing estimate of the probability that the next sample
  opens a new group, N1 / n (N1 = groups seen exactly once, n = samples; Good 1953, the
  "missing mass" estimate), is at most `unseen_mass`. More conservative than `new-group`:
  with one sample in each of two groups it keeps sampling.

At the answer level, `adaptive_stop` gives best-of-N the stopping rule of Adaptive-Consistency
(Aggarwal et al., EMNLP 2023, arXiv 2305.11860): with v1 votes for the leading answer and v2
for the runner-up, stop when P(p1 > p2) under Beta(v1 + 1, v2 + 1) reaches `stop_confidence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..equiv.base import Context, Detector, Grouping, Verdict

WidthRule = Literal["fixed", "new-group", "good-turing"]
WIDTH_RULES: tuple[str, ...] = ("fixed", "new-group", "good-turing")

CAP = "cap"  # the stop reason when W samples were taken


@dataclass
class IncrementalGrouping:
    """Complete-linkage grouping in generation order, built one step at a time.

    Adding step k sends only the new pairs (m, k), m < k, to the detector; the groups are
    the ones `equiv.base.group_steps` gives for all steps at once.
    """

    detector: Detector
    context: Context = field(default_factory=Context)
    steps: list[str] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    def add(self, texts: Sequence[str]) -> int:
        """Add steps in order; returns how many new groups they opened."""
        opened = 0
        for text in texts:
            k = len(self.steps)
            self.steps.append(text)
            pairs = [(m, k) for m in range(k)]
            verdicts = self.detector.compare(self.steps, pairs, self.context) if pairs else []
            self.verdicts.extend(verdicts)
            same = {v.i for v in verdicts if v.equivalent}
            home = next((g for g in self.groups if all(m in same for m in g)), None)
            if home is None:
                self.groups.append([k])
                opened += 1
            else:
                home.append(k)
        return opened

    def grouping(self) -> Grouping:
        return Grouping([list(g) for g in self.groups], list(self.verdicts))


def width_stop(
    rule: str,
    samples: int,
    cap: int,
    group_sizes: Sequence[int],
    opened: int,
    min_width: int = 2,
    unseen_mass: float = 0.25,
) -> str | None:
    """Why to stop sampling siblings now, or None to draw another wave.

    `group_sizes`: samples per group so far (byte-identical samples count in their group);
    `opened`: groups the last wave opened. Never stops before `min_width` samples or before
    any group exists; always stops at `cap`.
    """
    if samples >= cap:
        return CAP
    if rule == "fixed" or samples < min_width or not group_sizes:
        return None
    if rule == "new-group":
        return "no-new-group" if opened == 0 else None
    if rule == "good-turing":
        singletons = sum(1 for s in group_sizes if s == 1)
        return "good-turing" if singletons / samples <= unseen_mass else None
    raise ValueError(f"unknown width rule {rule!r}; use one of {', '.join(WIDTH_RULES)}")


def beta_leader_confidence(v1: int, v2: int) -> float:
    """P(X > 1/2) for X ~ Beta(v1 + 1, v2 + 1): the posterior probability that the leading
    answer is more likely than the runner-up (exact for integer counts, via the binomial
    identity I_x(a, b) = P(Binomial(a + b - 1, x) >= a))."""
    a, b = v1 + 1, v2 + 1
    n = a + b - 1
    below = sum(math.comb(n, j) for j in range(a))  # P(Bin(n, 1/2) <= a - 1) * 2^n
    return below / 2**n


def answer_stop(votes: Sequence[int], confidence: float) -> bool:
    """Adaptive-Consistency's Beta stopping criterion on the answer vote counts."""
    ranked = sorted((v for v in votes if v > 0), reverse=True)
    if not ranked:
        return False
    runner_up = ranked[1] if len(ranked) > 1 else 0
    return beta_leader_confidence(ranked[0], runner_up) >= confidence
