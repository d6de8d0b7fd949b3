"""How `solve` runs and reports: the progress line, `--verbose`, JSON lines, batches."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..search import SearchConfig, SearchResult
from ..steps import StepProtocol
from .common import describe, err_console, user_errors
from .options import SIBLING_SEARCHES

console = Console()


def short(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def merges_text(total: int, by_stage: dict[str, int]) -> str:
    """`7 merges (6 identical, 1 exact)`: every folded sibling, split by deciding stage."""
    split = ", ".join(f"{n} {stage}" for stage, n in by_stage.items() if n)
    return plural(total, "merge") + (f" ({split})" if split else "")


class Display:
    """The progress line (a rich status on a TTY; with `--progress` and no TTY, one line per
    simulation or expansion) and the `--verbose` log of groups and merges, all on stderr."""

    def __init__(self, progress: bool | None, verbose: bool):
        tty = err_console.is_terminal
        self.live = bool(progress is not False and tty)
        self.lines = bool(progress and not tty)
        self.hint = progress is None and not tty  # say once how to get progress
        self.verbose = verbose
        self.label = ""
        self.status = None
        self._reset({})

    def _reset(self, data: dict) -> None:
        self.search = data.get("search", "")
        self.max_depth = data.get("max_depth", 0)
        self.depth = self.simulations = 0
        self.parent = None
        self.totals = {"tokens": 0, "merges": 0, "by_stage": {}}
        self.start = time.perf_counter()

    def __enter__(self) -> Display:
        if self.live:
            self.status = err_console.status(f"{self.label}starting the search…")
            self.status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()

    def line(self) -> str:
        sims = f" · simulation {self.simulations}" if self.search == "mcts" else ""
        step = "committed depth" if self.search == "mcts" else "depth"
        return (
            f"{self.label}{step} {self.depth}/{self.max_depth}{sims} · "
            f"{self.totals['tokens']:,} tokens · "
            f"{merges_text(self.totals['merges'], self.totals.get('by_stage') or {})} · "
            f"{time.perf_counter() - self.start:.0f} s"
        )

    def __call__(self, kind: str, data: dict) -> None:
        if kind == "start":
            self._reset(data)
        elif self.hint and kind in ("node", "simulation"):  # under way, and may take minutes
            self.hint = False
            self._print(f"{self.label}working; off a terminal add --progress to see each step")
        self.totals = data
        new_expansion = kind == "node" and data["parent"] != self.parent
        if kind == "node":
            self._node(data, new_expansion)
        elif kind == "simulation":
            if data["depth"] > self.depth and self.verbose:
                self._print(f"committed step {data['depth']}")
            self.depth, self.simulations = data["depth"], data["simulations"]
        if self.status is not None:
            self.status.update(self.line())
        if self.lines and (kind == "simulation" or (new_expansion and self.search != "mcts")):
            self._print(f"progress: {self.line()}")

    def _node(self, data: dict, new_expansion: bool) -> None:
        if self.search != "mcts":
            self.depth = max(self.depth, data["depth"])
        if not self.verbose:
            self.parent = data["parent"]
            return
        if new_expansion:
            self.parent = data["parent"]
            info = data.get("expansion") or {}
            what = ", ".join(plural(info[k], k[:-1]) for k in ("samples", "groups") if k in info)
            stop = f", stopped: {info['stop']}" if info.get("stop") else ""
            if info.get("rejected"):
                what += f", {info['rejected']} discarded by the arithmetic check"
            self._print(
                f"expansion of node {data['parent']} (depth {data['depth']}): {what}{stop}"
            )
        self._print(f"  node {data['node']}: {short(data['text'])}")
        for m in data["merged"]:
            how = f"{m['stage']}, p={m['probability']:.2f}"
            self._print(f"    + merged ({how}): {short(m['text'])}")

    @staticmethod
    def _print(text: str) -> None:
        err_console.print(text, markup=False, highlight=False, soft_wrap=True)


@dataclass
class Job:
    """One configured search, run on each question of a batch."""

    backend: object
    search: str
    pruner: object
    value: object
    config: SearchConfig
    protocol: StepProtocol
    merges: bool = False

    def run(self, question: str, gold: str | None, display: Display) -> SearchResult:
        from ..api import solve

        return solve(
            question, model=self.backend, search=self.search, pruner=self.pruner,
            value=self.value, config=self.config, protocol=self.protocol, gold=gold,
            on_event=display,
        )  # fmt: skip

    def record(self, result: SearchResult) -> dict:
        return result_json(result, self.protocol, self.merges)


def why_no_answer(result: SearchResult, protocol: StepProtocol) -> str | None:
    """Why the search ended without an answer, in the CLI's terms (None if it has one)."""
    if result.answer is not None:
        return None
    if result.budget_exhausted:
        return "the --token-budget ran out before an answer"
    tree, stats = result.tree, result.stats
    path = tree.chosen_path
    last = tree.nodes[path[-1]] if path else tree.root
    if not last.children and not last.terminal and len(path) < protocol.max_depth:
        which = "first step" if not path else f"step {len(path) + 1}"
        if stats.truncated_dropped:
            return (
                f"the model's {which} ran past --max-step-tokens {protocol.max_step_tokens} "
                "and was dropped; raise --max-step-tokens"
            )
        return f"the model wrote no {which} (its answer ended empty)"
    if len(path) >= protocol.max_depth:
        return f"no \\boxed{{}} answer within --max-depth {protocol.max_depth} steps"
    return "the solution ended without a \\boxed{} answer"


def merge_records(result: SearchResult) -> list[dict]:
    return [
        {"node": n.id, "depth": n.depth, "kept": n.text, "text": m.text, "stage": m.stage,
         "probability": m.probability}
        for n in result.tree.nodes for m in n.merged
    ]  # fmt: skip


def result_json(result: SearchResult, protocol: StepProtocol, merges: bool = False) -> dict:
    tree = result.tree
    out = {
        "question": tree.question,
        "steps": result.steps,
        "answer": result.answer,
        "reason": why_no_answer(result, protocol),
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
    if merges:
        out["merges"] = merge_records(result)
    return out


def write_json(record: dict) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def phase_table(result: SearchResult) -> Table:
    table = Table(title="tokens by phase")
    for col in ("phase", "generated", "prompt", "calls", "seconds"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    for name, ps in result.stats.phases.items():
        cells = (ps.generated_tokens, ps.prompt_tokens, ps.calls, f"{ps.seconds:.2f}")
        table.add_row(name, *map(str, cells))
    s = result.stats
    table.add_row(
        "total", str(s.generated_tokens), str(s.prompt_tokens), "", f"{s.wall_seconds:.2f}",
        style="bold",
    )  # fmt: skip
    return table


def print_result(result: SearchResult, search: str, protocol: StepProtocol) -> None:
    for k, step in enumerate(result.steps, 1):
        console.print(f"[bold cyan]step {k}[/]", highlight=False)
        console.print(step, markup=False, highlight=False)
    verdict = ""
    if result.tree.correct is not None:
        verdict = " [green](correct)[/]" if result.tree.correct else " [red](wrong)[/]"
    reason = why_no_answer(result, protocol)
    answer = escape(result.answer if result.answer is not None else f"none ({reason})")
    console.print(f"\n[bold]answer:[/] {answer}{verdict}", highlight=False)
    s = result.stats
    kept = ""
    if search in SIBLING_SEARCHES:
        kept = f"   siblings kept {s.siblings_kept}/{s.siblings_generated}"
    console.print(
        f"generated tokens: {s.generated_tokens}   wall time: {s.wall_seconds:.1f} s{kept}",
        highlight=False,
    )
    if s.merges:
        console.print(f"merged: {merges_text(s.merges, s.merges_by_stage())}", highlight=False)
    console.print(phase_table(result))


def run_batch(job: Job, items, display: Display) -> int:
    """One JSON line per question, in order; a question that fails gets an `error` line.
    Exit code 1 if any failed."""
    failed = 0
    with display:
        for k, item in enumerate(items, 1):
            display.label = f"question {k}/{len(items)} · "
            try:
                record = job.record(job.run(item.question, item.gold, display))
            except user_errors() as err:
                failed += 1
                record = {"question": item.question, "error": f"{item.where}: {describe(err)}"}
            write_json({"id": item.id, **record})
    return 1 if failed else 0
