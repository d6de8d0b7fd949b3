"""The nested best-of-N curve: N = 1..K read from the saved trees of one fixed-K arm.

Best-of-N draws its solutions at one state (the question) with state-keyed seeds: solution
i of a K-sample run is sample index i at that prompt, the same draw as solution i of an
N-sample run (`GenerationParams.index`). So the first N solutions of a bon-K tree are a
bon-N run, and one arm pays for the whole curve. Each point votes like best-of-N
(`vote_choice`), checks the answer like the runner (`answers_match`), and counts the
tokens of its N solutions only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .metrics import VANILLA, paired_bootstrap, wilson

CURVE_CSV = "best_of_n_curve.csv"
CURVE_COLUMNS = (
    "arm", "n", "problems", "correct", "accuracy", "acc_lo", "acc_hi", "tokens_mean",
    "paired", "token_ratio", "acc_diff", "diff_lo", "diff_hi", "vote_acc_diff",
    "vote_diff_lo", "vote_diff_hi",
)  # fmt: skip


@dataclass(frozen=True)
class Prefixes:
    """One problem's best-of-N outcome for N = 1..K: correct and tokens per N."""

    id: str
    correct: list[bool]
    tokens: list[int]


def fixed_bon_arms(config: dict) -> list[tuple[str, int]]:
    """(name, K) of every fixed-N best-of-N arm, most samples first; arms with
    `adaptive_stop` are not fixed-N (they stop early) and never give the curve."""
    found = []
    for arm in config.get("arms") or []:
        if arm.get("search", config.get("search")) != "bon" or arm.get("adaptive_stop"):
            continue
        found.append((arm["name"], int(arm.get("n_samples", config.get("n_samples", 8)))))
    return sorted(found, key=lambda t: -t[1])


def fixed_bon_arm(config: dict, records: Sequence[dict] = ()) -> tuple[str, int] | None:
    """(name, K) of the best-of-N arm that gives the curve: the one with the most samples
    among those that finished every problem the vanilla arm finished (a bon-10 arm still
    running does not replace a finished bon-5 one), else the one with the most samples.
    None without one."""
    arms = fixed_bon_arms(config)
    done: dict[str, set] = {}
    for r in records:
        if r.get("status") == "ok":
            done.setdefault(r["arm"], set()).add(r["id"])
    needed = done.get(VANILLA, set())
    complete = [a for a in arms if needed and needed <= done.get(a[0], set())]
    return (complete or arms or [None])[0]


def solutions(tree) -> list:
    """A best-of-N tree's solutions in generation order: its terminal nodes by id (each
    sample becomes a chain of new nodes, appended in the order the samples came)."""
    return [node for node in tree.nodes if node.terminal]


def prefix_outcomes(tree, gold: str, k: int, problem_id: str = "") -> Prefixes:
    """Best-of-N for N = 1..k from the first N solutions of `tree` (a tree with fewer
    solutions, cut by a token budget, repeats its last point)."""
    from ..answers import answers_match
    from ..search.best_of_n import vote_choice
    from ..steps import StepProtocol

    final_answer = StepProtocol().final_answer
    leaves = solutions(tree)
    answers = [final_answer(tree.steps_to(leaf)) for leaf in leaves]
    weighted = bool((tree.meta.get("search") or {}).get("weighted_vote"))
    weights = [leaf.value or 0.0 for leaf in leaves] if weighted else None
    correct, tokens = [], []
    for n in range(1, k + 1):
        m = min(n, len(leaves))
        chosen = vote_choice(answers[:m], weights[:m] if weights else None) if m else None
        correct.append(chosen is not None and answers_match(answers[chosen], gold))
        tokens.append(sum(leaf.tokens for leaf in leaves[:m]))
    return Prefixes(problem_id, correct, tokens)


def arm_prefixes(
    out: Path, records: Sequence[dict], arm: str, k: int, known: dict | None = None
) -> list[Prefixes]:
    """Per ok problem of `arm` with a saved tree, its best-of-N outcomes for N = 1..k
    (`known`: outcomes already read, by (arm, k, problem); filled with those read here)."""
    from ..search import Tree

    known = {} if known is None else known
    found = []
    for r in records:
        if r["arm"] != arm or r.get("status") != "ok" or not r.get("tree"):
            continue
        key, path = (arm, k, r["id"]), out / r["tree"]
        if key not in known and path.is_file():
            known[key] = prefix_outcomes(Tree.load(path), r["gold"], k, r["id"])
        if key in known:
            found.append(known[key])
    return found


def curve_rows(arm: str, prefixes: Sequence[Prefixes], vanilla: Sequence[dict]) -> list[dict]:
    """One row per N: accuracy (Wilson 95 %), mean tokens, and on the problems the vanilla
    arm also solved: Σ tokens / Σ vanilla tokens and the paired accuracy differences to
    vanilla's path answer and to its tree vote (bootstrap 95 %)."""
    base = {r["id"]: r for r in vanilla if r.get("status") == "ok"}
    paired = [p for p in prefixes if p.id in base]
    k = min((len(p.correct) for p in prefixes), default=0)
    rows = []
    for n in range(1, k + 1):
        hits = sum(p.correct[n - 1] for p in prefixes)
        lo, hi = wilson(hits, len(prefixes))
        diff = paired_bootstrap([p.correct[n - 1] - bool(base[p.id]["correct"]) for p in paired])
        voted = [p for p in paired if base[p.id].get("vote_correct") is not None]
        vote = paired_bootstrap(
            [p.correct[n - 1] - bool(base[p.id]["vote_correct"]) for p in voted]
        )
        spent = sum(base[p.id]["generated_tokens"] for p in paired)
        rows.append({
            "arm": arm, "n": n, "problems": len(prefixes), "correct": hits,
            "accuracy": hits / len(prefixes), "acc_lo": lo, "acc_hi": hi,
            "tokens_mean": statistics.fmean(p.tokens[n - 1] for p in prefixes),
            "paired": len(paired),
            "token_ratio": sum(p.tokens[n - 1] for p in paired) / spent if spent else math.nan,
            "acc_diff": diff[0], "diff_lo": diff[1], "diff_hi": diff[2],
            "vote_acc_diff": vote[0], "vote_diff_lo": vote[1], "vote_diff_hi": vote[2],
        })  # fmt: skip
    return rows


def best_of_n_curve(
    out: Path, records: Sequence[dict], config: dict, known: dict | None = None
) -> list[dict]:
    """The curve's rows (empty without a fixed-N best-of-N arm that has saved trees);
    `known` as in `arm_prefixes`, so that a run's trees are read once."""
    found = fixed_bon_arm(config, records)
    if found is None:
        return []
    arm, k = found
    prefixes = arm_prefixes(out, records, arm, k, known)
    if not prefixes:
        return []
    rows = curve_rows(arm, prefixes, [r for r in records if r["arm"] == VANILLA])
    rows[-1].update(reproduced(prefixes, [r for r in records if r["arm"] == arm]))
    return rows


def reproduced(prefixes: Sequence[Prefixes], records: Sequence[dict]) -> dict:
    """How many problems the curve's N = K point gives the arm's own recorded correctness
    and tokens (all of them, unless the trees and records disagree)."""
    by_id = {r["id"]: r for r in records}
    same = [(p.correct[-1] == bool(by_id[p.id]["correct"]),
             p.tokens[-1] == by_id[p.id]["generated_tokens"]) for p in prefixes]  # fmt: skip
    return {"same_correct": sum(c for c, _ in same), "same_tokens": sum(t for _, t in same)}


def write_curve_csv(rows: Sequence[dict], path: Path) -> None:
    from .report import write_csv  # report imports this module

    write_csv(rows, path, CURVE_COLUMNS)


def _f(v: float, fmt: str) -> str:
    return "—" if v is None or math.isnan(v) else format(v, fmt)


def at_budget(rows: Sequence[dict], token_ratio: float) -> dict | None:
    """The curve's largest N that spends no more than `token_ratio` × vanilla's tokens."""
    within = [r for r in rows if not math.isnan(token_ratio) and r["token_ratio"] <= token_ratio]
    return within[-1] if within else None


def curve_section(rows: Sequence[dict], summary: Sequence[dict]) -> list[str]:
    """Markdown: the curve table, then where every other arm stands against it."""
    from .report import diff_cell  # report imports this module

    if not rows:
        return []
    arm, k = rows[0]["arm"], rows[-1]["n"]
    lines = [
        f"## Best-of-N curve (nested, from `{arm}`)",
        "",
        f"Best-of-N for N = 1..{k} from the `{arm}` trees: the first N solutions in generation "
        f"order (solution i of a best-of-{k} run is the same draw as solution i of a best-of-N "
        "run: seeds are keyed by the prompt and the sample index), their majority vote with "
        "best-of-N's tie rule, and the tokens of those N solutions only. tokens × vanilla: "
        f"Σ tokens / Σ `{VANILLA}` tokens on the problems both solved; Δ: paired difference to "
        f"`{VANILLA}`'s path answer and to its tree vote (bootstrap 95 %). Also in {CURVE_CSV}.",
        "",
        "| N | correct | accuracy [95 % CI] | tokens mean | tokens × vanilla "
        f"| Δ vs `{VANILLA}` path | Δ vs `{VANILLA}` vote |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['correct']}/{r['problems']} | {r['accuracy']:.1%} "
            f"[{r['acc_lo']:.1%}, {r['acc_hi']:.1%}] | {r['tokens_mean']:.0f} "
            f"| {_f(r['token_ratio'], '.3f')} | {diff_cell(r)} | {diff_cell(r, 'vote_')} |"
        )
    last = rows[-1]
    if "same_correct" in last:
        lines += [
            "",
            f"Check: N = {k} gives `{arm}`'s recorded correctness on {last['same_correct']}/"
            f"{last['problems']} problems and its recorded tokens on {last['same_tokens']}/"
            f"{last['problems']}.",
        ]
    lines += ["", *_against_curve(rows, summary, arm)]
    return lines


def _against_curve(rows: Sequence[dict], summary: Sequence[dict], arm: str) -> list[str]:
    """Each arm's accuracy (path and vote) next to the curve's at the arm's token ratio."""
    table = _gap_table(rows, summary, arm)
    if not table:
        return []
    return [
        "Every arm against the curve at its own token budget: the curve's largest N whose "
        "tokens × vanilla is at most the arm's (1 − reduction), and accuracy minus the "
        "curve's there (points; the arm's path answer and its tree vote).",
        "",
        *table,
        "",
    ]


def _gap_table(rows: Sequence[dict], summary: Sequence[dict], arm: str) -> list[str]:
    others = [s for s in summary if s["arm"] not in (arm, VANILLA)]
    if not others:
        return []
    lines = [
        "| arm | tokens × vanilla | curve N | curve accuracy | path − curve | vote − curve |",
        "|---|---|---|---|---|---|",
    ]
    for s in others:
        ratio = 1 - s["token_reduction"]
        point = at_budget(rows, ratio)
        if point is None:
            lines.append(f"| `{s['arm']}` | {_f(ratio, '.3f')} | below N = 1 | — | — | — |")
            continue
        gap = (s["accuracy"] - point["accuracy"]) * 100
        vote_gap = (s["vote_accuracy"] - point["accuracy"]) * 100
        lines.append(
            f"| `{s['arm']}` | {ratio:.3f} | {point['n']} | {point['accuracy']:.1%} "
            f"| {gap:+.1f} | {_f(vote_gap, '+.1f')} |"
        )
    return lines


def by_dataset_section(
    out: Path,
    records: Sequence[dict],
    config: dict,
    summary: Sequence[dict],
    known: dict | None = None,
) -> list[str]:
    """The arms against the curve within each dataset (a run of more than one): the curve
    drawn from that dataset's problems, the arms' ratios and accuracies from its summary
    (`known`: the curve's outcomes already read for the whole run)."""
    names = list(dict.fromkeys(r["dataset"] for r in records))
    if len(names) < 2:
        return []
    lines = ["## Against the curve, by dataset", ""]
    for name in names:
        curve = best_of_n_curve(out, [r for r in records if r["dataset"] == name], config, known)
        table = _gap_table(curve, [s for s in summary if s["dataset"] == name],
                           curve[0]["arm"]) if curve else []  # fmt: skip
        if not table:
            continue
        points = ", ".join(f"N = {r['n']} {r['correct']}/{r['problems']} at "
                           f"{_f(r['token_ratio'], '.3f')} ×" for r in curve)  # fmt: skip
        lines += [f"**{name}**: the curve {points}.", "", *table, ""]
    return lines if len(lines) > 2 else []
