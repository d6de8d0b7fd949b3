"""The detector seam: pairwise verdicts on sibling steps, and grouping them safely."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Context:
    """What the siblings share: the question and the steps before them."""

    question: str = ""
    prefix: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The decision on one pair of siblings `(i, j)`, `i < j`.

    `equivalent` is None when the detector could not decide (a cascade passes such pairs to
    its next stage; as a final answer, None counts as "not equivalent"). `probability` is
    P(equivalent); `stage` names the detector (or cascade stage) that decided.
    """

    i: int
    j: int
    equivalent: bool | None
    probability: float
    stage: str


@runtime_checkable
class Detector(Protocol):
    """Decides which pairs of sibling steps are equivalent (the MathEquiv sense: taking either
    step leads the solution to the same state)."""

    name: str

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        """One verdict per pair, in the order of `pairs` (batched where the detector can)."""
        ...


@dataclass
class Grouping:
    """Groups of sibling indices (each in generation order) and the verdicts behind them."""

    groups: list[list[int]]
    verdicts: list[Verdict] = field(default_factory=list)

    def verdict(self, i: int, j: int) -> Verdict | None:
        a, b = min(i, j), max(i, j)
        return next((v for v in self.verdicts if v.i == a and v.j == b), None)


def all_pairs(n: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(n), 2))


def group_steps(steps: Sequence[str], detector: Detector, context: Context = Context()) -> Grouping:
    """Group siblings by complete linkage in generation order.

    All pairs are scored in one call (so batched detectors batch). Then each step, in
    order, joins the first existing group whose *every* member it is equivalent to, else it
    opens a new group. Pairwise verdicts are not transitive: with A~B, B~C and A≁C, C does
    not join {A, B}. Complete linkage is the conservative choice: a false merge can discard
    the branch holding the right answer, while a missed merge only costs tokens.
    """
    pairs = all_pairs(len(steps))
    verdicts = detector.compare(steps, pairs, context) if pairs else []
    same = {(v.i, v.j) for v in verdicts if v.equivalent}
    groups: list[list[int]] = []
    for k in range(len(steps)):
        home = next((g for g in groups if all((m, k) in same for m in g)), None)
        if home is None:
            groups.append([k])
        else:
            home.append(k)
    return Grouping(groups, verdicts)
