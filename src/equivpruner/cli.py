"""`equivpruner` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .api import DEFAULT_MODEL, solve
from .search import SearchConfig, SearchResult, Tree
from .steps import StepProtocol

app = typer.Typer(
    help="Prune semantically equivalent reasoning steps in LLM tree search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """Print one clear line and exit (never a traceback for user errors)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors():
    """The exceptions that mean bad input or an unusable model/server, not a bug."""
    from .data.problems import DatasetError
    from .llm.base import BackendError

    return (ValueError, BackendError, DatasetError, FileNotFoundError, KeyError)


def phase_table(result: SearchResult) -> Table:
    table = Table(title="tokens by phase")
    for col in ("phase", "generated", "prompt", "calls", "seconds"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    for name, ps in result.stats.phases.items():
        table.add_row(
            name,
            str(ps.generated_tokens),
            str(ps.prompt_tokens),
            str(ps.calls),
            f"{ps.seconds:.2f}",
        )
    s = result.stats
    table.add_row(
        "total",
        str(s.generated_tokens),
        str(s.prompt_tokens),
        "",
        f"{s.wall_seconds:.2f}",
        style="bold",
    )
    return table


def result_json(result: SearchResult) -> dict:
    tree = result.tree
    return {
        "question": tree.question,
        "steps": result.steps,
        "answer": result.answer,
        "gold": tree.gold,
        "correct": tree.correct,
        "generated_tokens": result.stats.generated_tokens,
        "prompt_tokens": result.stats.prompt_tokens,
        "wall_seconds": round(result.stats.wall_seconds, 3),
        "budget_exhausted": result.budget_exhausted,
        "stats": result.stats.to_dict(),
        "search": tree.meta.get("search"),
        "model": tree.meta.get("model"),
    }


def print_result(result: SearchResult) -> None:
    for k, step in enumerate(result.steps, 1):
        console.print(f"[bold cyan]step {k}[/]", highlight=False)
        console.print(step, markup=False, highlight=False)
    verdict = ""
    if result.tree.correct is not None:
        verdict = " [green](correct)[/]" if result.tree.correct else " [red](wrong)[/]"
    console.print(f"\n[bold]answer:[/] {result.answer}{verdict}", highlight=False)
    s = result.stats
    console.print(
        f"generated tokens: {s.generated_tokens}   wall time: {s.wall_seconds:.1f} s   "
        f"siblings kept {s.siblings_kept}/{s.siblings_generated}"
    )
    console.print(phase_table(result))


@app.command("solve")
def solve_cmd(
    question: Annotated[str, typer.Argument(help="The problem text.")],
    model: Annotated[
        str, typer.Option(help="Policy: embedded:NAME, a path, an HF id, openai:URL#MODEL.")
    ] = DEFAULT_MODEL,
    search: Annotated[str, typer.Option(help="greedy, sampled, mcts, beam or bon.")] = "greedy",
    pruner: Annotated[str, typer.Option(help="Equivalence detector used to prune.")] = "none",
    value: Annotated[
        str, typer.Option(help="selfeval, rollout[:K], prm:MODEL, prm-http:URL, constant.")
    ] = "selfeval",
    width: Annotated[int, typer.Option(help="Siblings sampled per expansion.")] = 5,
    simulations: Annotated[int, typer.Option(help="MCTS simulations per step.")] = 3,
    beam_width: Annotated[int, typer.Option(help="Beams kept.")] = 2,
    samples: Annotated[int, typer.Option(help="Best-of-N samples.")] = 8,
    temperature: float = 0.7,
    max_depth: Annotated[int, typer.Option(help="Most steps in a solution.")] = 12,
    max_step_tokens: int = 256,
    prune_order: Annotated[str, typer.Option(help="after (paper) or before scoring.")] = "after",
    keep: Annotated[str, typer.Option(help="Survivor: first, prior, value, medoid.")] = "first",
    token_budget: Annotated[int | None, typer.Option(help="Stop sampling past this.")] = None,
    gold: Annotated[str | None, typer.Option(help="Reference answer to check against.")] = None,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    save_tree: Annotated[Path | None, typer.Option(help="Write the search tree JSON.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the tree as an HTML page.")] = None,
) -> None:
    """Solve one problem step by step, with or without tree search and pruning."""
    config = SearchConfig(
        algorithm=search,
        width=width,
        simulations=simulations,
        beam_width=beam_width,
        n_samples=samples,
        temperature=temperature,
        prune_order=prune_order,
        keep=keep,
        token_budget=token_budget,
        seed=seed,
    )
    protocol = StepProtocol(max_depth=max_depth, max_step_tokens=max_step_tokens)
    try:
        result = solve(
            question,
            model=model,
            search=search,
            pruner=pruner,
            value=value,
            config=config,
            protocol=protocol,
            gold=gold,
            seed=seed,
        )
    except user_errors() as err:
        fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    if save_tree:
        result.tree.save(save_tree)
    if html:
        from .viz import write_tree_html

        write_tree_html(result.tree, html)
    if as_json:
        sys.stdout.write(json.dumps(result_json(result), ensure_ascii=False) + "\n")
    else:
        print_result(result)


@app.command("view")
def view_cmd(
    tree_file: Annotated[Path, typer.Argument(help="A tree saved with --save-tree.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file to write.")] = Path(
        "tree.html"
    ),
) -> None:
    """Render a saved search tree as a self-contained HTML page."""
    from .viz import write_tree_html

    try:
        tree = Tree.load(tree_file)
    except ValueError as err:
        fail(str(err))
    write_tree_html(tree, out)
    console.print(f"wrote {out}")


def _register() -> None:
    """Commands that live beside the code they drive."""
    from .bench.cli import bench
    from .data.cli import eval_detector, harvest, harvest_trees, label, train_detector
    from .equiv.cli import equiv

    app.command("equiv")(equiv)
    app.command("bench")(bench)
    app.command("harvest")(harvest)
    app.command("harvest-trees")(harvest_trees)
    app.command("label")(label)
    app.command("train-detector")(train_detector)
    app.command("eval-detector")(eval_detector)


_register()


def main() -> None:  # pragma: no cover - console entry
    app()
