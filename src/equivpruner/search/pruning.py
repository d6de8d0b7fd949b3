"""The pruning hook: group equivalent siblings, keep one per group, fold in the rest."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..equiv.base import Context, Detector, Grouping, group_steps
from .stats import SearchStats
from .tree import MergeRecord

KeepRule = Literal["first", "prior", "value", "medoid"]
ValueRule = Literal["keep", "mean", "max"]


@dataclass
class Candidate:
    """A sampled sibling before it becomes a node."""

    text: str
    tokens: int
    finish_reason: str
    terminal: bool = False
    prior: float = 0.0
    value: float | None = None
    logprob: float | None = None
    min_logprob: float | None = None
    entropy: float | None = None
    merged: list[MergeRecord] = field(default_factory=list)

    def absorb(self, other: Candidate, stage: str, probability: float) -> None:
        """Fold `other` into this survivor: priors add, the survivor's terminal flag stays."""
        self.prior += other.prior
        self.merged.append(
            MergeRecord(
                text=other.text,
                stage=stage,
                probability=probability,
                tokens=other.tokens,
                prior=other.prior,
                value=other.value,
                terminal=other.terminal,
            )
        )
        self.merged.extend(other.merged)


@dataclass(frozen=True)
class MergePolicy:
    """How a group of equivalent siblings becomes one node.

    keep: which member survives — "first" generated (the paper), highest "prior", highest
      "value", or the "medoid" (highest mean equivalence probability to the others).
    value: the survivor's value — "keep" its own (the paper discards the pruned values),
      "mean" or "max" over the members that were scored.
    Priors always add up; the survivor's terminal flag is never taken from a pruned member.
    """

    keep: KeepRule = "first"
    value: ValueRule = "keep"


def _pair_probability(grouping: Grouping, a: int, b: int) -> tuple[float, str]:
    v = grouping.verdict(a, b)
    return (v.probability, v.stage) if v else (1.0, "unknown")


def _survivor(group: list[int], cands: Sequence[Candidate], grouping: Grouping, rule: KeepRule):
    if rule == "first" or len(group) == 1:
        return group[0]
    if rule == "prior":
        return max(group, key=lambda i: (cands[i].prior, -i))
    if rule == "value":
        return max(
            group, key=lambda i: (-math.inf if cands[i].value is None else cands[i].value, -i)
        )
    if rule == "medoid":

        def centrality(i: int) -> float:
            return sum(_pair_probability(grouping, i, j)[0] for j in group if j != i)

        return max(group, key=lambda i: (centrality(i), -i))
    raise ValueError(f"unknown keep rule {rule!r}; use first, prior, value or medoid")


def _combined_value(members: Sequence[Candidate], own: float | None, rule: ValueRule):
    scored = [m.value for m in members if m.value is not None]
    if rule == "keep" or not scored:
        return own
    if rule == "mean":
        return sum(scored) / len(scored)
    if rule == "max":
        return max(scored)
    raise ValueError(f"unknown value rule {rule!r}; use keep, mean or max")


def merge_groups(
    cands: Sequence[Candidate], grouping: Grouping, policy: MergePolicy
) -> tuple[list[Candidate], Counter]:
    """One survivor per group, in the order of the groups' first members, and how many
    siblings each deciding stage folded away."""
    survivors, by_stage = [], Counter()
    for group in grouping.groups:
        keep = _survivor(group, cands, grouping, policy.keep)
        head = cands[keep]
        members = [cands[i] for i in group]
        value = _combined_value(members, head.value, policy.value)
        for i in group:
            if i != keep:
                prob, stage = _pair_probability(grouping, keep, i)
                head.absorb(cands[i], stage, prob)
                by_stage[stage] += 1
        head.value = value
        survivors.append(head)
    return survivors, by_stage


def prune(
    cands: Sequence[Candidate],
    detector: Detector,
    context: Context,
    policy: MergePolicy,
    stats: SearchStats,
) -> list[Candidate]:
    """Run the detector over the siblings of one expansion and merge equivalent ones."""
    if len(cands) < 2:
        return list(cands)
    with stats.timed("detector"):
        grouping = group_steps([c.text for c in cands], detector, context)
    stats.phases["detector"].calls += 1
    return merge_and_record(cands, grouping, policy, stats)


def merge_and_record(
    cands: Sequence[Candidate], grouping: Grouping, policy: MergePolicy, stats: SearchStats
) -> list[Candidate]:
    """`merge_groups`, with the pairs scored and the merges per stage added to `stats`."""
    stats.detector_pairs += len(grouping.verdicts)
    survivors, by_stage = merge_groups(cands, grouping, policy)
    for stage, count in by_stage.items():
        stats.merged_by_stage[stage] = stats.merged_by_stage.get(stage, 0) + count
    return survivors
