"""Exact match after normalisation: the cheapest detector and the cascade's first stage."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Context, Verdict
from .normalize import normalize, pair_keys


class ExactDetector:
    """Equal normalised text → equivalent (probability 1.0, stage "exact").

    Unequal text is decisively "not equivalent" when `decisive_negative` (standalone use);
    inside a cascade pass `decisive_negative=False` so such pairs go on to the next stage.
    """

    name = "exact"

    def __init__(self, decisive_negative: bool = True):
        self.decisive_negative = decisive_negative

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        keys = pair_keys(steps, pairs, normalize)
        out = []
        for i, j in pairs:
            if keys[i] == keys[j]:
                out.append(Verdict(i, j, True, 1.0, self.name))
            else:
                out.append(Verdict(i, j, False if self.decisive_negative else None, 0.0, self.name))
        return out
