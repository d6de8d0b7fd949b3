"""`equivpruner bench`: vanilla vs pruned search side by side (registered by the main CLI)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..bench.config import BenchConfig, BenchError

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


WIDE = 120  # from this many columns on, the summary shows every column


def _diff(r: dict, short: bool) -> str:
    from ..bench.report import pct

    if math.isnan(r["acc_diff"]):
        return "—"
    if short:  # percentage points, no % signs, no trailing .0
        lo, mid, hi = (f"{round(100 * r[k], 1):+g}" for k in ("diff_lo", "acc_diff", "diff_hi"))
        return f"{mid} [{lo}, {hi}]"
    return f"{pct(r['acc_diff'], True)} [{pct(r['diff_lo'], True)}, {pct(r['diff_hi'], True)}]"


def _num(v: float, fmt: str) -> str:
    return "—" if v is None or math.isnan(v) else format(v, fmt)


def summary_table(rows: list[dict], cached: dict | None = None, width: int = WIDE) -> Table:
    """Accuracy, tokens and time per arm; `cached`: the share of each (dataset, arm)'s
    samples read from the generation cache. Below `WIDE` columns, `narrow_table`."""
    from ..bench.report import pct, share

    cached = cached or {}
    if width < WIDE:
        return narrow_table(rows, cached)
    table = Table(title="benchmark summary", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("dataset", "arm", "n", "failed", "accuracy", "Δ acc [95% CI]", "tokens",
                "reduction", "s/problem", "cached", "detector"):  # fmt: skip
        left = col in ("dataset", "arm")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    for r in rows:
        table.add_row(
            r["dataset"], r["arm"], str(r["problems"]), str(r["failed"]),
            pct(r["accuracy"]), _diff(r, False), _num(r["tokens_mean"], ",.0f"),
            pct(r["token_reduction"]), _num(r["wall_mean"], ".1f"),
            pct(cached.get((r["dataset"], r["arm"]), math.nan)), share(r["detector_share"]),
        )  # fmt: skip
    return table


def narrow_table(rows: list[dict], cached: dict) -> Table:
    """The summary in under 80 columns: a heading row per dataset (with its number of
    problems when every arm solved the same number), the accuracy difference in points,
    the token change beside the tokens, no detector share; cells wrap only between words."""
    from ..bench.report import pct

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    sizes = {(r["dataset"], r["problems"]) for r in rows}
    one_n = len(sizes) == len(datasets) and not any(r["failed"] for r in rows)
    count = {r["dataset"]: r["problems"] for r in rows}
    title = "benchmark summary"
    if one_n and len(datasets) == 1:
        title += f" ({count[datasets[0]]} problems)"
    table = Table(title=title, box=None, pad_edge=False)
    cols = ["arm", "n", "acc", "Δ acc [CI]", "tokens", "Δ tok", "s/prob", "cached"]
    for col in cols if not one_n else [c for c in cols if c != "n"]:
        table.add_column(col, justify="left" if col == "arm" else "right", no_wrap=col == "arm")
    heading = None
    for r in rows:
        if len(datasets) > 1 and r["dataset"] != heading:
            heading = r["dataset"]
            label = f"{heading} ({count[heading]} problems)" if one_n else heading
            table.add_row(Text(label, style="bold"))
        failed = f" +{r['failed']} failed" if r["failed"] else ""
        n = [] if one_n else [f"{r['problems']}{failed}"]
        table.add_row(
            r["arm"], *n, pct(r["accuracy"]), _diff(r, True), _num(r["tokens_mean"], ",.0f"),
            _num(-r["token_reduction"], "+.0%"), _num(r["wall_mean"], ".1f"),
            _num(cached.get((r["dataset"], r["arm"]), math.nan), ".0%"),
        )  # fmt: skip
    return table


CACHE_NOTE = (
    "cached: share of the samples read from the generation cache (filled by the arms run "
    "before, or an earlier run) instead of generated; s/problem counts only the time "
    "spent, so an arm served from the cache looks fast. --no-cache times every sample."
)


def cache_shares(out: Path) -> dict:
    """(dataset or "all", arm) -> share of cache hits among the run's sample lookups."""
    from ..bench.paired import width_and_cache
    from ..bench.store import RESULTS, read_results

    records = list(read_results(out / RESULTS).values())
    groups = {("all", r["arm"]) for r in records} | {(r["dataset"], r["arm"]) for r in records}
    return {
        (ds, arm): width_and_cache(
            [r for r in records if r["arm"] == arm and ds in ("all", r["dataset"])]
        )["hit_rate"]
        for ds, arm in groups
    }


def build_config(config: Path | None, overrides: dict) -> BenchConfig:
    """The YAML config (or defaults) with every CLI option that was given on top."""
    base = BenchConfig.from_yaml(config) if config else BenchConfig()
    data = base.to_dict()
    split = overrides.pop("split", None)
    limit = overrides.pop("limit", None)
    start = overrides.pop("start", None)
    dataset = overrides.pop("dataset", None)
    if dataset is not None:
        data["datasets"] = [
            {"name": n.strip(), "split": split or "test", "limit": limit, "start": start or 0}
            for n in dataset.split(",")
            if n.strip()
        ]
    elif split is not None or limit is not None or start is not None:
        for spec in data["datasets"]:
            spec["split"] = split or spec["split"]
            spec["limit"] = limit if limit is not None else spec["limit"]
            spec["start"] = start if start is not None else spec.get("start", 0)
    if overrides.get("pruners") is not None:
        data["arms"] = None  # --pruners replaces the config's arms
    data.update({k: v for k, v in overrides.items() if v is not None})
    return BenchConfig.from_dict(data)


_B = BenchConfig()


def _opt(help: str, default=None, **kwargs):
    """An option whose value, when not given, comes from --config or `BenchConfig`."""
    shown = ", ".join(map(str, default)) if isinstance(default, list) else default
    text = help if shown is None else f"{help}  [default: {shown}]"
    return typer.Option(help=text, show_default=False, **kwargs)


def bench(
    out: Annotated[Path, typer.Option(help="Output dir (rerun the same command to resume).")],
    dataset: Annotated[
        str | None,
        _opt("Dataset name(s), comma-separated; without --limit, the whole split.", "gsm8k"),
    ] = None,
    split: Annotated[str | None, _opt("Dataset split.", "test")] = None,
    limit: Annotated[
        int | None,
        _opt("Problems per dataset (default: 30 of gsm8k, or the whole split of --dataset)."),
    ] = None,
    start: Annotated[
        int | None, _opt("0-based index of each dataset's first problem (--limit counts on).", 0)
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML bench config; options given here override it.")
    ] = None,
    search: Annotated[
        str | None, _opt("mcts, beam, bon, chains, greedy, sampled.", _B.search)
    ] = None,
    width: Annotated[int | None, _opt("Siblings sampled per expansion.", _B.width)] = None,
    simulations: Annotated[int | None, _opt("MCTS simulations per step.", _B.simulations)] = None,
    beam_width: Annotated[int | None, _opt("Beams kept.", _B.beam_width)] = None,
    samples: Annotated[int | None, _opt("Best-of-N samples.", _B.n_samples)] = None,
    value: Annotated[str | None, _opt("Value spec (selfeval, rollout:K…).", _B.value)] = None,
    pruners: Annotated[
        str | None, _opt("Arms, comma-separated; `none` is vanilla.", _B.pruners)
    ] = None,
    seed: Annotated[int | None, _opt("Base seed (per problem, same per arm).", _B.seed)] = None,
    model: Annotated[
        str | None, _opt("Policy: embedded:NAME, a path, openai:URL#MODEL.", _B.model)
    ] = None,
    max_depth: Annotated[int | None, _opt("Most steps in a solution.", _B.max_depth)] = None,
    max_step_tokens: Annotated[
        int | None, _opt("Most tokens per step.", _B.max_step_tokens)
    ] = None,
    temperature: Annotated[float | None, _opt("Sampling temperature.", _B.temperature)] = None,
    concurrency: Annotated[
        int | None, _opt("Problems solved at once (HTTP backends).", _B.concurrency)
    ] = None,
    ray: Annotated[
        str | None, _opt("Ray cluster address, `auto` or `local` (default: no Ray).")
    ] = None,
    report_only: Annotated[bool, typer.Option(help="Only (re)write the report of --out.")] = False,
    cache: Annotated[
        Path | None,
        _opt("Generation cache file shared by arms and runs.", "the user cache dir"),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Generate every sample, cache nothing.")
    ] = False,
) -> None:
    """Run every pruner arm on the same problems and seeds; write a side-by-side report."""
    overrides = dict(
        dataset=dataset, split=split, limit=limit, start=start, search=search, width=width,
        simulations=simulations, beam_width=beam_width, n_samples=samples, value=value,
        pruners=pruners, seed=seed, model=model, max_depth=max_depth,
        max_step_tokens=max_step_tokens, temperature=temperature, concurrency=concurrency,
        ray_address=ray, out=str(out),
        cache="none" if no_cache else (str(cache) if cache else None),
    )  # fmt: skip
    run_and_report(out, config, overrides, report_only)


def run_and_report(out: Path, config: Path | None, overrides: dict, report_only: bool) -> None:
    """Run (unless `report_only`), write the report, print the summary; user errors exit 2."""
    from ..bench.report import write_report
    from ..bench.runner import run_bench
    from ..data.problems import DatasetError
    from ..llm.base import BackendError
    from .inputs import check_bench_outputs

    whole = overrides.get("dataset") and overrides.get("limit") is None
    try:
        if not report_only:
            cfg = build_config(config, overrides)
            check_bench_outputs(cfg)
            _announce(cfg, out, bool(whole))
            run_bench(cfg)
        rows = write_report(out)
        cached = cache_shares(out)
    except (BenchError, DatasetError, BackendError, OSError, ValueError) as err:
        from .common import describe, fail

        fail(describe(err))
    console.print(summary_table(rows, cached, console.width))
    if any(v > 0 for v in cached.values()):
        console.print(CACHE_NOTE, highlight=False)
    console.print(f"report: {out / 'report.md'}", highlight=False)


def _announce(cfg: BenchConfig, out: Path, whole: bool) -> None:
    """Say on stderr what a long run will do, and where to watch it without a terminal."""
    if whole:
        names = ", ".join(f"{d['name']} {d['split']}" for d in cfg.datasets)
        note(f"--dataset without --limit runs every problem of the split ({names}); "
             "add --limit N for the first N")  # fmt: skip
    if not console.is_terminal:
        note(f"progress bars need a terminal; each finished problem is appended to "
             f"{out / 'results.jsonl'} (watch it with tail -f)")  # fmt: skip


def note(message: str) -> None:
    err_console.print(f"note: {message}", highlight=False, soft_wrap=True, markup=False)
