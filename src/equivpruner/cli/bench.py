"""`equivpruner bench`: vanilla vs pruned search side by side (registered by the main CLI)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..bench.config import BenchConfig, BenchError

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def summary_table(rows: list[dict]) -> Table:
    from ..bench.report import pct, share  # numpy: only when a table is printed

    table = Table(title="benchmark summary")
    cols = (
        "dataset",
        "arm",
        "n",
        "failed",
        "accuracy",
        "Δ acc [95% CI]",
        "tokens",
        "reduction",
        "s/problem",
        "detector",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("dataset", "arm") else "right")

    for r in rows:
        diff = (
            "—"
            if math.isnan(r["acc_diff"])
            else (
                f"{pct(r['acc_diff'], True)} [{pct(r['diff_lo'], True)}, {pct(r['diff_hi'], True)}]"
            )
        )
        table.add_row(
            r["dataset"],
            r["arm"],
            str(r["problems"]),
            str(r["failed"]),
            pct(r["accuracy"]),
            diff,
            "—" if math.isnan(r["tokens_mean"]) else f"{r['tokens_mean']:.0f}",
            pct(r["token_reduction"]),
            "—" if math.isnan(r["wall_mean"]) else f"{r['wall_mean']:.1f}",
            share(r["detector_share"]),
        )
    return table


def build_config(config: Path | None, overrides: dict) -> BenchConfig:
    """The YAML config (or defaults) with every CLI option that was given on top."""
    base = BenchConfig.from_yaml(config) if config else BenchConfig()
    data = base.to_dict()
    split = overrides.pop("split", None)
    limit = overrides.pop("limit", None)
    dataset = overrides.pop("dataset", None)
    if dataset is not None:
        data["datasets"] = [
            {"name": n.strip(), "split": split or "test", "limit": limit}
            for n in dataset.split(",")
            if n.strip()
        ]
    elif split is not None or limit is not None:
        for spec in data["datasets"]:
            spec["split"] = split or spec["split"]
            spec["limit"] = limit if limit is not None else spec["limit"]
    if overrides.get("pruners") is not None:
        data["arms"] = None  # --pruners replaces the config's arms
    data.update({k: v for k, v in overrides.items() if v is not None})
    return BenchConfig.from_dict(data)


def bench(
    out: Annotated[Path, typer.Option(help="Output dir (rerun the same command to resume).")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name(s), comma-separated (default gsm8k).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Dataset split (default test).")] = None,
    limit: Annotated[int | None, typer.Option(help="Problems per dataset.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML bench config; options given here override it.")
    ] = None,
    search: Annotated[str | None, typer.Option(help="mcts, beam, bon, greedy, sampled.")] = None,
    width: Annotated[int | None, typer.Option(help="Siblings sampled per expansion.")] = None,
    simulations: Annotated[int | None, typer.Option(help="MCTS simulations per step.")] = None,
    beam_width: Annotated[int | None, typer.Option(help="Beams kept.")] = None,
    samples: Annotated[int | None, typer.Option(help="Best-of-N samples.")] = None,
    value: Annotated[str | None, typer.Option(help="Value spec (selfeval, rollout:K…).")] = None,
    pruners: Annotated[
        str | None, typer.Option(help="Arms, comma-separated; `none` is vanilla.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed (per problem, same per arm).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Policy: embedded:NAME, a path, openai:URL#MODEL.")
    ] = None,
    max_depth: Annotated[int | None, typer.Option(help="Most steps in a solution.")] = None,
    max_step_tokens: Annotated[int | None, typer.Option(help="Most tokens per step.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Problems solved at once (HTTP backends).")
    ] = None,
    ray: Annotated[str | None, typer.Option(help="Ray cluster address, `auto` or `local`.")] = None,
    report_only: Annotated[bool, typer.Option(help="Only (re)write the report of --out.")] = False,
    cache: Annotated[
        Path | None,
        typer.Option(help="Generation cache file shared by arms and runs (default: user cache)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Generate every sample, cache nothing.")
    ] = False,
) -> None:
    """Run every pruner arm on the same problems and seeds; write a side-by-side report."""
    overrides = dict(
        dataset=dataset, split=split, limit=limit, search=search, width=width,
        simulations=simulations, beam_width=beam_width, n_samples=samples, value=value,
        pruners=pruners, seed=seed, model=model, max_depth=max_depth,
        max_step_tokens=max_step_tokens, temperature=temperature, concurrency=concurrency,
        ray_address=ray, out=str(out),
        cache="none" if no_cache else (str(cache) if cache else None),
    )  # fmt: skip
    run_and_report(out, config, overrides, report_only)


def run_and_report(out: Path, config: Path | None, overrides: dict, report_only: bool) -> None:
    """Run (unless `report_only`), write the report, print the summary; user errors exit 2."""
    from ..data.problems import DatasetError
    from ..llm.base import BackendError
    from ..bench.report import write_report
    from ..bench.runner import run_bench

    try:
        if not report_only:
            run_bench(build_config(config, overrides))
        rows = write_report(out)
    except (BenchError, DatasetError, BackendError, FileNotFoundError, ValueError) as err:
        _fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    console.print(summary_table(rows))
    console.print(f"report: {out / 'report.md'}", highlight=False)
