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
model never merges it; its pairs are left to the earlier stages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

OPERATING_POINTS = ("prune", "stop")
GROUPS = ("opening", "later-numbers", "later-words")
# For a model trained before operating points were recorded: pruning merges at its trained
# threshold; stopping needs this much more confidence.
STOP_MERGE_FALLBACK = 0.95
MIN_MERGES = 30


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
        if p >= merge:
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


def merge_point(probs, labels, precision: float, min_merges: int = 20) -> float:
    """The lowest threshold whose merges (p ≥ t) reach `precision`, with at least
    `min_merges` of them; 1.0 (never merge) when no threshold does."""
    order = sorted(zip(probs, labels, strict=True), key=lambda t: -t[0])
    best, tp = 1.0, 0
    for k, (p, y) in enumerate(order, 1):
        tp += y
        last = k == len(order) or order[k][0] < p  # no tie left at p
        if last and k >= min_merges and tp / k >= precision:
            best = float(p)
    return best


def reject_point(probs, labels, precision: float) -> float:
    """The highest threshold below which (p < t) at least `precision` of pairs are not
    equivalent; 0.0 when none is."""
    order = sorted(zip(probs, labels, strict=True), key=lambda t: t[0])
    best, tn = 0.0, 0
    for k, (p, y) in enumerate(order, 1):
        tn += 1 - y
        nxt = order[k][0] if k < len(order) else 1.0
        if nxt > p and tn / k >= precision:
            best = float(nxt)
    return best


def _point(probs, labels, target: float, reject: float, min_merges: int) -> dict:
    merge = merge_point(probs, labels, target, min_merges)
    reject = min(reject_point(probs, labels, reject), merge)
    merged = [y for p, y in zip(probs, labels, strict=True) if p >= merge]
    return {
        "merge_at": merge,
        "reject_below": reject,
        "pairs": len(labels),
        "out_of_fold_precision": sum(merged) / len(merged) if merged else None,
        "out_of_fold_recall": sum(merged) / max(1, sum(labels)),
    }


def choose_points(
    probs: Sequence[float],
    labels: Sequence[int],
    groups: Sequence[str] | None = None,
    targets: dict[str, float] | None = None,
    reject_precision: float = 0.95,
    min_merges: int = MIN_MERGES,
) -> dict:
    """The operating points (default targets: prune 0.95, stop 0.98 precision), overall
    and for each group present in `groups`."""
    targets = targets or {"prune": 0.95, "stop": 0.98}
    out = {}
    for name, target in targets.items():
        point = _point(probs, labels, target, reject_precision, min_merges)
        point["target_precision"] = target
        if groups is not None:
            point["groups"] = {}
            for g in GROUPS:
                idx = [k for k, name_ in enumerate(groups) if name_ == g]
                if idx and len({labels[k] for k in idx}) == 2:
                    sub_p, sub_y = [probs[k] for k in idx], [labels[k] for k in idx]
                    point["groups"][g] = _point(sub_p, sub_y, target, reject_precision, min_merges)
        out[name] = point
    return out
