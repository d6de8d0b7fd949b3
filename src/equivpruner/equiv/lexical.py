"""Levenshtein-ratio detector on normalised text (the paper reference's gate, and more).

`ratio` is rapidfuzz's `fuzz.ratio / 100` (the InDel-based ratio `python-Levenshtein` calls
`ratio`, as in the reference) or, with `metric="levenshtein"`, the normalised Levenshtein
similarity. Two empty steps have ratio 1.0 (the reference divides by zero there).

Modes:

- plain: ratio ≥ `threshold` → equivalent, else not.
- gated: also `gate`: ratio ≤ gate → decisively not equivalent, between gate and threshold →
  None (a cascade hands those on; as a final answer None counts as "not equivalent").
- `LevenshteinDetector.bands(lo, hi)`: the same, named for the cascade; `lo=None` keeps only
  the upper band (never decisively "not equivalent").

`same_numbers=True` refuses "equivalent" when the steps mention different numbers (the
verdict becomes None in banded mode, False in plain mode): one changed number keeps the
ratio above 0.95 but changes the step. `same_operators=True` does the same when they use
different arithmetic operators (`a + b + c` against `a * b + c`, one character apart).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from .base import Context, Verdict
from .normalize import normalize, pair_keys

MAX_COMPARE_CHARS = 8_000  # ratios of longer steps are computed on their first 8,000 chars
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPERATOR = re.compile(r"[-+*/=^<>%]|\\(?:times|cdot|div|frac|sqrt)")


def ratio(a: str, b: str, metric: str = "ratio") -> float:
    """Similarity in [0, 1] of two (already normalised) strings."""
    a, b = a[:MAX_COMPARE_CHARS], b[:MAX_COMPARE_CHARS]
    if not a and not b:
        return 1.0
    if metric == "levenshtein":
        return float(Levenshtein.normalized_similarity(a, b))
    return fuzz.ratio(a, b) / 100.0


def _operators(key: str) -> Counter:
    return Counter(_OPERATOR.findall(key))


class LevenshteinDetector:
    """Lexical similarity of normalised steps; probability = ratio."""

    name = "levenshtein"

    def __init__(
        self,
        threshold: float = 0.95,
        gate: float | None = None,
        metric: str = "ratio",
        same_numbers: bool = False,
        normalized: bool = True,
        same_operators: bool = False,
    ):
        if metric not in ("ratio", "levenshtein"):
            raise ValueError(f"metric must be 'ratio' or 'levenshtein', not {metric!r}")
        if gate is not None and gate >= threshold:
            raise ValueError(f"gate ({gate}) must be below threshold ({threshold})")
        self.threshold = threshold
        self.gate = gate
        self.metric = metric
        self.same_numbers = same_numbers
        self.same_operators = same_operators
        self.normalized = normalized

    @classmethod
    def bands(cls, lo: float | None = 0.4, hi: float = 0.95, **opts) -> LevenshteinDetector:
        """Decisive bands: ratio ≥ hi → equivalent, ratio ≤ lo → not, else None."""
        return cls(threshold=hi, gate=-math.inf if lo is None else lo, **opts)

    def _key(self, text: str) -> str:
        return normalize(text) if self.normalized else text

    def decide(self, a: str, b: str) -> tuple[bool | None, float]:
        """(equivalent, ratio) for two keys (normalised text)."""
        r = ratio(a, b, self.metric)
        undecided = None if self.gate is not None else False
        if r >= self.threshold:
            if self.same_numbers and Counter(_NUMBER.findall(a)) != Counter(_NUMBER.findall(b)):
                return undecided, r
            if self.same_operators and _operators(a) != _operators(b):
                return undecided, r
            return True, r
        if self.gate is None or r <= self.gate:
            return False, r
        return None, r

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        keys = pair_keys(steps, pairs, self._key)
        out = []
        for i, j in pairs:
            equivalent, r = self.decide(keys[i], keys[j])
            out.append(Verdict(i, j, equivalent, r, self.name))
        return out
