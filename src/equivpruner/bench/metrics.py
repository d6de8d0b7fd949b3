"""Per-arm summary numbers: accuracy with Wilson intervals, paired bootstrap differences."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np

VANILLA = "none"
Z95 = 1.959963984540054
BOOTSTRAP_REPS = 2000
BOOTSTRAP_SEED = 0


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n ((0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_bootstrap(
    diffs: Sequence[float], reps: int = BOOTSTRAP_REPS, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float, float]:
    """Mean of per-problem differences and its percentile 95 % CI (problems resampled)."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(reps, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def _ok(records: Sequence[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "ok"]


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def arm_summary(records: Sequence[dict]) -> dict:
    """One arm's numbers over its ok records (failed ones are counted, not scored)."""
    ok = _ok(records)
    n, k = len(ok), sum(bool(r["correct"]) for r in ok)
    lo, hi = wilson(k, n)
    tokens = [r["generated_tokens"] for r in ok]
    wall = sum(r["wall_seconds"] for r in ok)
    return {
        "problems": n,
        "failed": len(records) - n,
        "correct": k,
        "accuracy": _ratio(k, n),
        "acc_lo": lo,
        "acc_hi": hi,
        "tokens_mean": statistics.fmean(tokens) if tokens else math.nan,
        "tokens_median": statistics.median(tokens) if tokens else math.nan,
        "tokens_sd": statistics.stdev(tokens) if len(tokens) > 1 else 0.0,
        "wall_mean": _ratio(wall, n),
        "wall_total": wall,
        "detector_share": _ratio(sum(r["detector_seconds"] for r in ok), wall),
        "kept_per_expansion": _ratio(
            sum(r["siblings_kept"] for r in ok), sum(r["expansions"] for r in ok)
        ),
        "value_calls_mean": _ratio(sum(r["value_calls"] for r in ok), n),
        **vote_summary(ok),
    }


def vote_summary(ok: Sequence[dict]) -> dict:
    """Accuracy under the tree-vote answer rule, over the records that have it
    (`vote_correct`, added by the report from the saved trees)."""
    voted = [r for r in ok if r.get("vote_correct") is not None]
    k = sum(bool(r["vote_correct"]) for r in voted)
    return {"vote_problems": len(voted), "vote_correct": k, "vote_accuracy": _ratio(k, len(voted))}


def paired_vs_vanilla(arm: Sequence[dict], vanilla: Sequence[dict]) -> dict:
    """Accuracy difference (arm − vanilla, bootstrap CI) and token reduction on the problems
    both arms solved without failure."""
    base = {r["id"]: r for r in _ok(vanilla)}
    pairs = [(r, base[r["id"]]) for r in _ok(arm) if r["id"] in base]
    diffs = [int(bool(a["correct"])) - int(bool(b["correct"])) for a, b in pairs]
    mean, lo, hi = paired_bootstrap(diffs)
    voted = [
        (a, b) for a, b in pairs
        if a.get("vote_correct") is not None and b.get("vote_correct") is not None
    ]  # fmt: skip
    vote_mean, vote_lo, vote_hi = paired_bootstrap(
        [int(bool(a["vote_correct"])) - int(bool(b["vote_correct"])) for a, b in voted]
    )
    arm_tokens = sum(a["generated_tokens"] for a, _ in pairs)
    base_tokens = sum(b["generated_tokens"] for _, b in pairs)
    return {
        "paired": len(pairs),
        "acc_diff": mean,
        "diff_lo": lo,
        "diff_hi": hi,
        "vote_acc_diff": vote_mean,
        "vote_diff_lo": vote_lo,
        "vote_diff_hi": vote_hi,
        "token_reduction": 1 - arm_tokens / base_tokens if base_tokens else math.nan,
    }


def token_ratios(arm: Sequence[dict], vanilla: Sequence[dict]) -> dict[str, float]:
    """Per problem: arm tokens / vanilla tokens (both ok, vanilla spent tokens)."""
    base = {r["id"]: r["generated_tokens"] for r in _ok(vanilla)}
    return {r["id"]: r["generated_tokens"] / base[r["id"]] for r in _ok(arm) if base.get(r["id"])}


def summarize(records: Sequence[dict], arms: Sequence[str]) -> list[dict]:
    """One row per arm; paired columns are NaN for the vanilla arm or without one."""
    by_arm = {arm: [r for r in records if r["arm"] == arm] for arm in arms}
    rows = []
    for arm in arms:
        row = {"arm": arm, **arm_summary(by_arm[arm])}
        if VANILLA in by_arm and arm != VANILLA:
            row.update(paired_vs_vanilla(by_arm[arm], by_arm[VANILLA]))
        else:
            row.update(
                paired=0,
                acc_diff=math.nan,
                diff_lo=math.nan,
                diff_hi=math.nan,
                vote_acc_diff=math.nan,
                vote_diff_lo=math.nan,
                vote_diff_hi=math.nan,
                token_reduction=math.nan,
            )
        rows.append(row)
    return rows
