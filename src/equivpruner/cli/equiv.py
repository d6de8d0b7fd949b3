"""`equivpruner equiv`: one verdict on two steps, or a scored labelled file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..equiv.registry import DETECTORS
from .common import describe, fail, user_errors

console = Console()
DetectorName = Enum("DetectorName", {n.replace("-", "_"): n for n in DETECTORS}, type=str)
CASCADE = DetectorName("cascade")


def read_labelled_pairs(path: Path) -> list[dict]:
    """Labelled pairs of a JSONL file; a bad or unlabelled line raises `FILE:LINE: what`."""
    from ..mathequiv.evaluate import load_pairs, row_label

    rows = load_pairs(path)
    if not rows:
        raise ValueError(f"{path}: holds no pairs")
    text = path.read_text(encoding="utf-8")  # the lines load_pairs read, numbered
    lines = [n for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    for n, row in zip(lines, rows, strict=True):
        row_label(row, f"{path}:{n}")
    return rows


def _steps(step_a: str | None, step_b: str | None) -> tuple[str, str]:
    if step_a is None or step_b is None:
        fail("give two steps, or --pairs FILE.jsonl")
    for name, step in (("first", step_a), ("second", step_b)):
        if not step.strip():
            fail(f"the {name} step is empty")
    return step_a, step_b


def _detector(name: str):
    from ..api import build_detector

    if name == "llm-judge":
        from ..llm.loader import load_policy

        return build_detector(name, load_policy())
    return build_detector(name)


def equiv(
    step_a: Annotated[str | None, typer.Argument(help="First step.")] = None,
    step_b: Annotated[str | None, typer.Argument(help="Second step.")] = None,
    question: Annotated[str, typer.Option(help="The problem, as context.")] = "",
    prefix: Annotated[list[str] | None, typer.Option(help="An earlier step (repeatable).")] = None,
    detector: Annotated[DetectorName, typer.Option(help="The detector.")] = CASCADE,
    pairs: Annotated[Path | None, typer.Option(help="Score a labelled JSONL file.")] = None,
) -> None:
    """Are two steps equivalent? Prints verdict, probability and the deciding stage."""
    from ..equiv.base import Context
    from ..mathequiv.evaluate import score_pairs

    if pairs is None:
        step_a, step_b = _steps(step_a, step_b)
    try:
        rows = read_labelled_pairs(pairs) if pairs is not None else None
        det = _detector(detector.value)
        if rows is not None:
            # soft_wrap: the markdown tables stay one line a row, on a terminal or piped
            console.print(score_pairs(rows, det).format(), markup=False, soft_wrap=True)
            return
        context = Context(question, tuple(prefix or ()))
        (v,) = det.compare([step_a, step_b], [(0, 1)], context)
    except typer.Exit:
        raise
    except (*user_errors(), RuntimeError) as err:
        fail(describe(err))
    verdict = {True: "equivalent", False: "not equivalent", None: "undecided"}[v.equivalent]
    console.print(f"{verdict}  p={v.probability:.3f}  stage={v.stage}", highlight=False)
