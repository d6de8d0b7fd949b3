"""Choosing operating points: the merge and reject thresholds of each band, from
out-of-fold probabilities of training pairs (the runtime side is `equiv.bands`)."""

from __future__ import annotations

from collections.abc import Sequence

from ..equiv.bands import GROUPS

MIN_MERGES = 30


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
    and, when `groups` is given, for every group of `bands.GROUPS`: a group whose pairs
    never reach the target (none of them, one class only, too few merges) gets merge_at
    1.0, so the model merges none of its pairs at that point."""
    targets = targets or {"prune": 0.95, "stop": 0.98}
    out = {}
    for name, target in targets.items():
        point = _point(probs, labels, target, reject_precision, min_merges)
        point["target_precision"] = target
        if groups is not None:
            point["groups"] = {}
            for g in GROUPS:
                idx = [k for k, name_ in enumerate(groups) if name_ == g]
                sub_p, sub_y = [probs[k] for k in idx], [labels[k] for k in idx]
                point["groups"][g] = _point(sub_p, sub_y, target, reject_precision, min_merges)
        out[name] = point
    return out
