"""Cascade: cheap detectors first, each pair stops at the first stage that decides.

Default stages: exact match → symbolic arithmetic → lexical bands (ratio ≥ 0.95 with the
same numbers and operators → equivalent, ratio ≤ `lo` → not) → `final`. The registry drops the lower
band (`lo=None`) in front of the features model: on its training pairs, 37 % of the sibling
pairs the band rejected were equivalent (openers and plans worded differently), and the
model gets those right more often. Every stage receives all pairs of the expansion still
undecided, in one call, so batched stages batch. Verdicts keep the deciding stage's name;
pairs the final stage leaves undecided become "not equivalent" with stage "undecided".

`final` is any Detector (a trained cross-encoder, the embedding detector, an LLM judge).
Without one the final stage is a conservative lexical rule: ratio ≥ 0.95 and the same
numbers in both steps, else not equivalent.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Context, Detector, Verdict
from .exact import ExactDetector
from .lexical import LevenshteinDetector
from .symbolic import SymbolicDetector


def conservative_lexical() -> LevenshteinDetector:
    """The fallback final stage: near-identical text with identical numbers."""
    return LevenshteinDetector(threshold=0.95, same_numbers=True, same_operators=True)


def default_stages(lo: float | None = 0.4, hi: float = 0.95) -> list[Detector]:
    return [
        ExactDetector(decisive_negative=False),
        SymbolicDetector(),
        LevenshteinDetector.bands(lo, hi, same_numbers=True, same_operators=True),
    ]


def _undecided(v: Verdict | None) -> bool:
    return v is None or v.equivalent is None


class CascadeDetector:
    """Runs `stages` then `final` over the pairs still undecided."""

    name = "cascade"

    def __init__(self, stages: Sequence[Detector] | None = None, final: Detector | None = None):
        self.stages = list(default_stages() if stages is None else stages)
        self.final = final if final is not None else conservative_lexical()

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        decided: list[Verdict | None] = [None] * len(pairs)
        pending = list(range(len(pairs)))
        for stage in [*self.stages, self.final]:
            if not pending:
                break
            verdicts = stage.compare(steps, [pairs[k] for k in pending], context)
            if len(verdicts) != len(pending):
                raise RuntimeError(f"stage {stage.name!r} returned {len(verdicts)} verdicts")
            for k, v in zip(pending, verdicts, strict=True):
                decided[k] = v
            pending = [k for k in pending if _undecided(decided[k])]
        for k in pending:
            last = decided[k]
            p = last.probability if last is not None else 0.0
            decided[k] = Verdict(pairs[k][0], pairs[k][1], False, p, "undecided")
        return [v for v in decided if v is not None]
