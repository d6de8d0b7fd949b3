"""`equivpruner equiv`: one verdict on two steps, or a scored labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def equiv(
    step_a: Annotated[str | None, typer.Argument(help="First step.")] = None,
    step_b: Annotated[str | None, typer.Argument(help="Second step.")] = None,
    question: Annotated[str, typer.Option(help="The problem, as context.")] = "",
    prefix: Annotated[list[str] | None, typer.Option(help="An earlier step (repeatable).")] = None,
    detector: Annotated[str, typer.Option(help="Detector name (see --help of solve).")] = "cascade",
    pairs: Annotated[Path | None, typer.Option(help="Score a labelled JSONL file.")] = None,
) -> None:
    """Are two steps equivalent? Prints verdict, probability and the deciding stage."""
    from .base import Context
    from .metrics import load_pairs, score_pairs
    from .registry import make_detector

    try:
        det = make_detector(detector)
        if pairs is not None:
            console.print(score_pairs(load_pairs(pairs), det).format(), markup=False)
            return
        if step_a is None or step_b is None:
            _fail("give two steps, or --pairs FILE.jsonl")
        context = Context(question, tuple(prefix or ()))
        (v,) = det.compare([step_a, step_b], [(0, 1)], context)
    except (ValueError, OSError, RuntimeError) as err:
        _fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
    verdict = {True: "equivalent", False: "not equivalent", None: "undecided"}[v.equivalent]
    console.print(f"{verdict}  p={v.probability:.3f}  stage={v.stage}", highlight=False)
