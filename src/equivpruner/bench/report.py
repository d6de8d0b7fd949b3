"""`write_report(out_dir)`: report.md, summary.csv, PNG plots and per-problem tree pages."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import yaml

from .config import BenchError
from .coverage import found_section
from .curve import CURVE_CSV, best_of_n_curve, by_dataset_section, curve_section, write_curve_csv
from .decompose import decomposition_section
from .metrics import BOOTSTRAP_REPS, BOOTSTRAP_SEED, VANILLA, summarize, token_ratios
from .paired import paired_section
from .store import RESULTS, read_results

CSV_COLUMNS = (
    "dataset",
    "arm",
    "problems",
    "failed",
    "correct",
    "accuracy",
    "acc_lo",
    "acc_hi",
    "vote_correct",
    "vote_accuracy",
    "paired",
    "acc_diff",
    "diff_lo",
    "diff_hi",
    "vote_acc_diff",
    "vote_diff_lo",
    "vote_diff_hi",
    "tokens_mean",
    "tokens_median",
    "token_reduction",
    "wall_mean",
    "wall_total",
    "detector_share",
    "kept_per_expansion",
    "value_calls_mean",
)


def _load_config(out: Path) -> dict:
    path = out / "config.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _arms(config: dict, records: Sequence[dict]) -> list[str]:
    arms = list(config.get("pruners") or [])
    for r in records:
        if r["arm"] not in arms:
            arms.append(r["arm"])
    return arms


def summary_rows(records: Sequence[dict], arms: Sequence[str]) -> list[dict]:
    """Rows for all problems ("all"), then per dataset when there are several."""
    datasets = sorted({r["dataset"] for r in records})
    groups = [("all", list(records))]
    if len(datasets) > 1:
        groups += [(d, [r for r in records if r["dataset"] == d]) for d in datasets]
    return [{"dataset": name, **row} for name, group in groups for row in summarize(group, arms)]


def write_csv(rows: Sequence[dict], path: Path, columns: Sequence[str] = CSV_COLUMNS) -> None:
    """`rows` as CSV with `columns` (floats rounded, NaN left empty)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in columns})


def _csv_value(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else round(v, 6)
    return v


def pct(v: float, signed: bool = False) -> str:
    """A fraction as a percentage ("—" when undefined)."""
    if v is None or math.isnan(v):
        return "—"
    return f"{v:+.1%}" if signed else f"{v:.1%}"


def share(v: float) -> str:
    """A small fraction readably: 0.0023 % rather than 0.0 %."""
    if v is None or math.isnan(v):
        return "—"
    return f"{v * 100:.2g}%" if 0 < v < 0.001 else f"{v:.1%}"


def _num(v: float, fmt: str = ".0f") -> str:
    return "—" if v is None or math.isnan(v) else format(v, fmt)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def diff_cell(r: dict, prefix: str = "") -> str:
    """A paired accuracy difference with its interval (`acc_diff`, `diff_lo`, `diff_hi`)."""
    if math.isnan(r[f"{prefix}acc_diff"]):
        return "—"
    lo, hi = pct(r[f"{prefix}diff_lo"], True), pct(r[f"{prefix}diff_hi"], True)
    return f"{pct(r[f'{prefix}acc_diff'], True)} [{lo}, {hi}]"


def add_tree_outcomes(out: Path, records: Sequence[dict]) -> None:
    """Read each ok record's saved tree and set `vote_correct` (whether the vote over its
    complete solutions matches the gold answer: the tree's recorded vote, else a `groups`
    vote, one vote per sample a solution stands for), `solutions` (its complete solutions)
    and `solution_found` (whether one of them is right); None without a tree."""
    from ..answers import answers_match
    from ..search import Tree
    from ..search.vote import tree_vote
    from ..steps import StepProtocol
    from ..value.labels import subtree_outcomes

    final_answer = StepProtocol().final_answer
    for r in records:
        path = out / r["tree"] if r.get("status") == "ok" and r.get("tree") else None
        if path is None or not path.is_file():
            r["vote_correct"] = r["solutions"] = r["solution_found"] = None
            continue
        tree = Tree.load(path)
        vote = tree.meta.get("vote") or tree_vote(tree, final_answer, "groups").to_dict()
        r["vote_correct"] = answers_match(vote.get("answer"), r["gold"])
        root = subtree_outcomes(tree, r["gold"]).get(tree.root.id)
        r["solutions"] = root.total if root else 0
        r["solution_found"] = bool(root and root.right)


def _summary_md(rows: Sequence[dict]) -> list[str]:
    header = (
        "arm",
        "problems",
        "failed",
        "accuracy [95 % CI]",
        f"Δ acc vs {VANILLA} [95 % CI]",
        "vote accuracy",
        f"Δ vote vs {VANILLA} [95 % CI]",
        "tokens mean",
        "median",
        "reduction",
        "wall s/problem",
        "detector share",
        "kept/expansion",
        "value calls/problem",
    )
    cells = [
        (
            f"`{r['arm']}`",
            str(r["problems"]),
            str(r["failed"]),
            f"{pct(r['accuracy'])} [{pct(r['acc_lo'])}, {pct(r['acc_hi'])}]",
            diff_cell(r),
            pct(r["vote_accuracy"]),
            diff_cell(r, "vote_"),
            _num(r["tokens_mean"]),
            _num(r["tokens_median"]),
            pct(r["token_reduction"]),
            _num(r["wall_mean"], ".2f"),
            share(r["detector_share"]),
            _num(r["kept_per_expansion"], ".2f"),
            _num(r["value_calls_mean"], ".1f"),
        )
        for r in rows
    ]
    return _md_table(header, cells)


def render_tree_pages(out: Path, records: Sequence[dict]) -> dict[tuple[str, str], str]:
    """Write `trees/<arm>/<id>.html` beside each saved tree; returns the link per record."""
    try:
        from ..search import Tree
        from ..viz import write_tree_html
    except ImportError:  # the viewer is optional: link the JSON instead
        write_tree_html = None
    links = {}
    for r in records:
        if r.get("status") != "ok" or not r.get("tree") or not (out / r["tree"]).is_file():
            continue
        src = out / r["tree"]
        link = r["tree"]
        if write_tree_html is not None:
            html = src.with_suffix(".html")
            if not html.is_file() or html.stat().st_mtime < src.stat().st_mtime:
                write_tree_html(Tree.load(src), html)
            link = Path(r["tree"]).with_suffix(".html").as_posix()
        links[(r["arm"], r["id"])] = link
    return links


def _cell(r: dict | None, vanilla: dict | None, link: str | None) -> str:
    if r is None:
        return "·"
    if r["status"] != "ok":
        return "failed"
    text = "✓" if r["correct"] else "✗"
    if r["arm"] == VANILLA or vanilla is None or vanilla.get("status") != "ok":
        text += f" {r['generated_tokens']} tok"
    elif vanilla["generated_tokens"]:
        text += f" {r['generated_tokens'] / vanilla['generated_tokens']:.2f}×"
    return f"{text} [tree]({link})" if link else text


def _per_problem_md(records: Sequence[dict], arms: Sequence[str], links: dict) -> list[str]:
    by_key = {(r["arm"], r["id"]): r for r in records}
    order: dict[str, int] = {}
    for r in records:
        order[r["id"]] = min(order.get(r["id"], r.get("index", 0)), r.get("index", 0))
    ids = sorted(order, key=order.get)
    rows = []
    for pid in ids:
        vanilla = by_key.get((VANILLA, pid))
        first = next(r for r in records if r["id"] == pid)
        rows.append(
            [pid, first["dataset"], f"`{_escape(first['gold'])}`"]
            + [_cell(by_key.get((arm, pid)), vanilla, links.get((arm, pid))) for arm in arms]
        )
    header = ["problem", "dataset", "gold", *[f"`{a}`" for a in arms]]
    return _md_table(header, rows)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# The settings each search reads (the others in the config do not change its results).
SEARCH_SETTINGS = {
    "mcts": (("width", "width"), ("simulations", "simulations"), ("value", "value")),
    "beam": (("width", "width"), ("beam_width", "beam"), ("value", "value")),
    "bon": (("n_samples", "samples"),),
    "chains": (("n_samples", "chains"), ("width", "draws per node")),
    "sampled": (),
    "greedy": (),
}


def dataset_label(d: dict) -> str:
    """`gsm8k/test (20)`, or with a slice `gsm8k/test (20: problems 20–39)`."""
    start, limit = d.get("start") or 0, d.get("limit")
    if not start:
        return f"{d['name']}/{d['split']} ({limit or 'all'})"
    span = f"problems {start}–{start + limit - 1}" if limit else f"problems {start}–end"
    return f"{d['name']}/{d['split']} ({limit or 'all'}: {span})"


def _intro(config: dict) -> list[str]:
    sets = ", ".join(map(dataset_label, config.get("datasets", [])))
    search = config.get("search", "?")
    used = ", ".join(f"{label} {config.get(key)}" for key, label in SEARCH_SETTINGS.get(search, ()))
    return [
        "# EquivPruner benchmark: vanilla vs pruned search",
        "",
        f"Model `{config.get('model', '?')}`, search `{search}`"
        + (f" ({used})" if used else "")
        + f", temperature {config.get('temperature')}, seed {config.get('seed')}, "
        f"at most {config.get('max_depth')} steps of {config.get('max_step_tokens')} tokens. "
        f"Datasets: {sets or '?'}.",
        "",
        "Accuracy: Wilson 95 % interval. Δ acc: paired difference to the vanilla arm "
        f"(`{VANILLA}`) over the problems both arms finished, with a bootstrap 95 % CI "
        f"({BOOTSTRAP_REPS} resamples of problems, seed {BOOTSTRAP_SEED}). Reduction: "
        "1 − mean tokens(arm) / mean tokens(vanilla) on those problems. Tokens are generated "
        "tokens of every phase. Failed problems (backend errors) are counted apart, not as "
        "wrong. Vote: the answer of a vote over each tree's complete solutions (the weights "
        "the arm's config names; for trees saved before the vote was recorded, one vote per "
        "sample a solution stands for), at no extra token; its Δ is against the vanilla "
        "arm's vote.",
        "",
    ]


def finished_arms(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """The summary rows of arms that finished as many problems as the most complete arm, and
    `arm (k/n)` for the others (a mean over fewer problems is not on the same axis)."""
    most = max((r["problems"] for r in rows), default=0)
    done = [r for r in rows if r["problems"] == most]
    return done, [f"`{r['arm']}` ({r['problems']}/{most})" for r in rows if r["problems"] < most]


def write_report(out_dir: str | Path) -> list[dict]:
    """Write report.md, summary.csv and the plots into `out_dir`; returns the summary rows."""
    out = Path(out_dir)
    records = list(read_results(out / RESULTS).values())
    if not records:
        raise BenchError(f"{out} has no results yet ({RESULTS} is missing or empty)")
    config = _load_config(out)
    arms = _arms(config, records)
    add_tree_outcomes(out, records)
    rows = summary_rows(records, arms)
    write_csv(rows, out / "summary.csv")
    known: dict = {}  # the curve arm's outcomes, read once for the run and each dataset
    curve = best_of_n_curve(out, records, config, known)
    if curve:
        write_curve_csv(curve, out / CURVE_CSV)
    from .plots import token_ratio_strip, tokens_vs_accuracy  # matplotlib: only when plotting

    by_arm = {a: [r for r in records if r["arm"] == a] for a in arms}
    ratios = (
        {a: token_ratios(by_arm[a], by_arm[VANILLA]) for a in arms if a != VANILLA}
        if VANILLA in by_arm
        else {}
    )
    plotted, unfinished = finished_arms([r for r in rows if r["dataset"] == "all"])
    plots = [
        tokens_vs_accuracy(plotted, out / "tokens_vs_accuracy.png", curve),
        token_ratio_strip(ratios, out / "token_ratio.png"),
    ]
    lines = _intro(config)
    for name in dict.fromkeys(r["dataset"] for r in rows):
        lines += [f"## Summary ({name})", ""]
        lines += _summary_md([r for r in rows if r["dataset"] == name]) + [""]
    lines += [f"![{p.stem}]({p.name})" for p in plots if p is not None] + [""]
    if unfinished:
        lines += ["Not in the tokens–accuracy plot (fewer problems than the others, so their "
                  "means are not comparable): " + ", ".join(unfinished) + ".", ""]  # fmt: skip
    lines += curve_section(curve, [r for r in rows if r["dataset"] == "all"])
    lines += by_dataset_section(out, records, config, rows, known)
    lines += decomposition_section(config, by_arm)
    lines += found_section(by_arm)
    lines += paired_section(by_arm)
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["## Failed problems", ""]
        lines += _md_table(
            ("arm", "problem", "error"),
            [(r["arm"], r["id"], _escape(r.get("error") or "")) for r in failed],
        ) + [""]
    lines += ["## Per problem", "", "✓/✗ correctness; × tokens relative to the vanilla arm.", ""]
    lines += _per_problem_md(records, arms, render_tree_pages(out, records)) + [""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return rows
