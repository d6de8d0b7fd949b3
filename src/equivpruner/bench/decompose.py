"""Where a tree search's tokens go: expansions × samples per expansion × tokens per sample.

Read from the records: `expansions`, `siblings_generated` (samples drawn, every wave and
gate draw included), `tokens` per phase (`expansion`: the step samples; `rollout` and
`value`: what value estimation generated) and `width_stops` (each expansion's stop reason;
"gate" when the branch gate kept it to its first sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..search.gate import GATE
from .metrics import _ok

TREE_SEARCHES = ("mcts", "beam", "chains")
STEP_PHASE = "expansion"


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def decompose(records: Sequence[dict]) -> dict:
    """One arm's token decomposition over its ok records; the product of the three factors
    is `step_tokens` (step-sample tokens per problem), `other` the rest per phase."""
    ok = _ok(records)
    n = len(ok)
    expansions = sum(r["expansions"] for r in ok)
    samples = sum(r["siblings_generated"] for r in ok)
    phases: dict[str, int] = {}
    for r in ok:
        spent = r.get("tokens") or {STEP_PHASE: r["generated_tokens"]}
        for phase, tokens in spent.items():
            phases[phase] = phases.get(phase, 0) + tokens
    step = phases.pop(STEP_PHASE, 0)
    gated = sum((r.get("width_stops") or {}).get(GATE, 0) for r in ok)
    return {
        "problems": n,
        "expansions_per_problem": _ratio(expansions, n),
        "samples_per_expansion": _ratio(samples, expansions),
        "tokens_per_sample": _ratio(step, samples),
        "step_tokens": _ratio(step, n),
        "other": {phase: _ratio(t, n) for phase, t in sorted(phases.items()) if t},
        "tokens": _ratio(sum(r["generated_tokens"] for r in ok), n),
        "gated": gated,
        "expansions": expansions,
        "gate_share": _ratio(gated, expansions),
    }


def tree_search_arms(config: dict, arms: Sequence[str]) -> list[str]:
    """The arms that search a tree (MCTS, beam), by each arm's own search setting."""
    search = {a["name"]: a.get("search", config.get("search")) for a in config.get("arms") or []}
    return [a for a in arms if search.get(a, config.get("search")) in TREE_SEARCHES]


def _f(v: float, fmt: str) -> str:
    return "—" if v is None or math.isnan(v) else format(v, fmt)


def decomposition_section(config: dict, by_arm: dict[str, list[dict]]) -> list[str]:
    """Markdown: the decomposition of every MCTS / beam arm."""
    arms = tree_search_arms(config, list(by_arm))
    if not arms:
        return []
    lines = [
        "## Token decomposition (tree-search arms)",
        "",
        "Step tokens per problem = expansions per problem × samples per expansion × tokens per "
        "sample (samples: every step sample drawn, the gate's first draw and every wave "
        "included). Other: tokens value estimation generated, per problem (self-evaluation "
        "that reads a verdict's probability generates none); prompt tokens are not counted. "
        f"Gate: expansions the branch gate kept to one sample (stop reason `{GATE}`).",
        "",
        "| arm | problems | expansions / problem | samples / expansion | tokens / sample "
        "| step tokens / problem | other / problem | tokens / problem | gate-kept expansions |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        d = decompose(by_arm[arm])
        other = ", ".join(f"{p} {v:.0f}" for p, v in d["other"].items()) or "0"
        gate = f"{d['gated']}/{d['expansions']} ({_f(d['gate_share'] * 100, '.1f')} %)"
        lines.append(
            f"| `{arm}` | {d['problems']} | {_f(d['expansions_per_problem'], '.2f')} "
            f"| {_f(d['samples_per_expansion'], '.2f')} | {_f(d['tokens_per_sample'], '.1f')} "
            f"| {_f(d['step_tokens'], '.0f')} | {other} | {_f(d['tokens'], '.0f')} | {gate} |"
        )
    return [*lines, ""]
