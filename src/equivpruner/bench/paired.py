"""Paired token ratios with bootstrap intervals, adaptive-width figures and cache use per arm."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .metrics import BOOTSTRAP_REPS, BOOTSTRAP_SEED, VANILLA, _ok


def paired_token_ratio(
    arm: Sequence[dict], vanilla: Sequence[dict], reps: int = BOOTSTRAP_REPS
) -> dict:
    """Σ arm tokens / Σ vanilla tokens over the problems both solved, its percentile 95 %
    bootstrap interval (problems resampled), and the median and IQR of per-problem ratios."""
    base = {r["id"]: r for r in _ok(vanilla)}
    pairs = [(a["generated_tokens"], base[a["id"]]["generated_tokens"]) for a in _ok(arm)
             if a["id"] in base and base[a["id"]]["generated_tokens"]]
    if not pairs:
        return {"paired": 0, "ratio": math.nan, "lo": math.nan, "hi": math.nan,
                "median": math.nan, "q1": math.nan, "q3": math.nan}
    a, v = (np.asarray(x, dtype=float) for x in zip(*pairs, strict=True))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, len(a), size=(reps, len(a)))
    boot = a[idx].sum(axis=1) / v[idx].sum(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    per = a / v
    q1, med, q3 = np.percentile(per, [25, 50, 75])
    return {"paired": len(a), "ratio": float(a.sum() / v.sum()), "lo": float(lo),
            "hi": float(hi), "median": float(med), "q1": float(q1), "q3": float(q3)}


def width_and_cache(records: Sequence[dict]) -> dict:
    """Samples per expansion, stop reasons, cache hit rate and generation seconds (spent, and
    what the arm would have spent without the cache)."""
    ok = _ok(records)
    stops: Counter = Counter()
    for r in ok:
        stops.update(r.get("width_stops") or {})
    hits = sum(r.get("cache_hits", 0) for r in ok)
    lookups = hits + sum(r.get("cache_misses", 0) for r in ok)
    spent = sum(r.get("generation_seconds", 0.0) for r in ok)
    expansions = sum(r["expansions"] for r in ok)
    return {
        "samples_per_expansion": sum(r["siblings_generated"] for r in ok) / expansions
        if expansions else math.nan,
        "stops": dict(stops),
        "single_group_commits": sum(r.get("single_group_commits", 0) for r in ok),
        "hit_rate": hits / lookups if lookups else math.nan,
        "generation_seconds": spent,
        "would_have_spent": spent + sum(r.get("cache_saved_seconds", 0.0) for r in ok),
        "worker_seconds": sum(r.get("wall_seconds", 0.0) for r in ok),
    }


def _f(v: float, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def paired_section(by_arm: dict[str, list[dict]]) -> list[str]:
    """Markdown: per arm, the paired token ratio to vanilla and the width/cache figures."""
    lines = [
        "## Paired tokens, sibling width and the generation cache",
        "",
        "ratio: Σ arm tokens / Σ vanilla tokens on the problems both solved, with its 95 % "
        "bootstrap interval; median [IQR] of the per-problem ratios. Tokens count every "
        "sample as generated, cache hit or not; seconds: generation and value time spent, "
        "and what it would have been without the cache.",
        "",
        "| arm | paired | token ratio [95 % CI] | per-problem median [IQR] | samples / expansion "
        "| stops | single-group commits | cache hits | gen. s spent | gen. s without cache "
        "| worker s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    vanilla = by_arm.get(VANILLA, [])
    figures = {arm: width_and_cache(records) for arm, records in by_arm.items()}
    for arm, records in by_arm.items():
        p = paired_token_ratio(records, vanilla) if vanilla and arm != VANILLA else None
        w = figures[arm]
        ratio = "—" if p is None else (
            f"{_f(p['ratio'], '.3f')} [{_f(p['lo'], '.3f')}, {_f(p['hi'], '.3f')}]")
        spread = "—" if p is None else (
            f"{_f(p['median'], '.2f')} [{_f(p['q1'], '.2f')}, {_f(p['q3'], '.2f')}]")
        stops = ", ".join(f"{k} {v}" for k, v in sorted(w["stops"].items())) or "—"
        lines.append(
            f"| {arm} | {p['paired'] if p else '—'} | {ratio} | {spread} "
            f"| {_f(w['samples_per_expansion'], '.2f')} | {stops} | {w['single_group_commits']} "
            f"| {_f(w['hit_rate'] * 100 if not math.isnan(w['hit_rate']) else math.nan, '.0f')} % "
            f"| {w['generation_seconds']:.0f} | {w['would_have_spent']:.0f} "
            f"| {w['worker_seconds']:.0f} |"
        )
    lines.append("")
    total = sum(w["worker_seconds"] for w in figures.values())
    w = figures.get(VANILLA) if vanilla else None
    # vanilla alone, run cold: its worker time plus the generation time its hits saved
    alone = w["worker_seconds"] + w["would_have_spent"] - w["generation_seconds"] if w else 0.0
    if alone > 0 and len(by_arm) > 1:
        lines.append(
            f"All {len(by_arm)} arms took {total:.0f} worker-seconds, {total / alone:.2f}× "
            f"the vanilla arm alone without a cache ({alone:.0f} s): arms reuse each other's "
            "cached generations."
        )
        lines.append("")
    return lines
