"""Small deterministic detectors for tests of the pruning hook."""

from __future__ import annotations

from equivpruner.equiv.base import Verdict


class PairTableDetector:
    """Equivalent exactly for the listed unordered text pairs (probability 0.9)."""

    name = "table"

    def __init__(self, same: set[frozenset[str]], stage: str = "table"):
        self.same = same
        self.stage = stage
        self.calls = 0

    def compare(self, steps, pairs, context):
        self.calls += 1
        out = []
        for i, j in pairs:
            eq = frozenset((steps[i], steps[j])) in self.same
            out.append(Verdict(i, j, eq, 0.9 if eq else 0.1, self.stage))
        return out


class NeverDetector:
    name = "never"

    def compare(self, steps, pairs, context):
        return [Verdict(i, j, False, 0.0, "never") for i, j in pairs]
