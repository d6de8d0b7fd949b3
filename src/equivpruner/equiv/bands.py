"""Operating points of a probabilistic final stage: merge, abstain or reject.

A band is (reject_below, merge_at): p ≥ merge_at → equivalent; p < reject_below → not;
in between the stage abstains (None, which the cascade turns into "undecided": never a
merge). Two points are offered: "prune", and the stricter "stop" for adaptive-width
stopping. Both are chosen on out-of-fold probabilities of training pairs, separately for
each kind of pair (`GROUPS`), because one threshold is not equally precise on all of them:

- "opening": the first step of a solution (no earlier steps): openers and plans;
- "later-numbers": a later step where at least one of the two mentions a number;
- "later-words": a later step where neither does (variable names, code, plans in words).

A group whose out-of-fold merges never reach the target precision gets merge_at 1.0 (the
model never merges it; its pairs are left to the earlier stages). How the points are chosen
is part of the MathEquiv loop: `mathequiv.bands`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPERATING_POINTS = ("prune", "stop")
GROUPS = ("opening", "later-numbers", "later-words")
# For a model trained before operating points were recorded: pruning merges at its trained
# threshold; stopping needs this much more confidence.
STOP_MERGE_FALLBACK = 0.95


def pair_group(opening: bool, no_numbers: bool) -> str:
    """The kind of pair (see `GROUPS`)."""
    if opening:
        return "opening"
    return "later-words" if no_numbers else "later-numbers"


@dataclass(frozen=True)
class Band:
    """One operating point: an overall band and, optionally, one per group."""

    reject_below: float
    merge_at: float
    groups: dict[str, tuple[float, float]] = field(default_factory=dict)

    def decide(self, p: float, group: str | None = None) -> bool | None:
        reject, merge = self.groups.get(group, (self.reject_below, self.merge_at))
        if p >= merge and merge < 1.0:  # merge_at 1.0: never, even at p == 1.0
            return True
        return False if p < reject else None


def band_of(meta: dict, name: str = "prune") -> Band:
    """The band `name` recorded in a features model's metadata (or a fallback)."""
    if name not in OPERATING_POINTS:
        raise ValueError(f"operating point must be one of {', '.join(OPERATING_POINTS)}")
    point = (meta.get("operating_points") or {}).get(name)
    if point:
        groups = {
            g: (float(b["reject_below"]), float(b["merge_at"]))
            for g, b in (point.get("groups") or {}).items()
        }
        return Band(float(point["reject_below"]), float(point["merge_at"]), groups)
    merge = float(meta["threshold"])
    if name == "stop":
        merge = max(merge, STOP_MERGE_FALLBACK)
    return Band(float(meta["threshold"]), merge)
