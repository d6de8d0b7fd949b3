"""Live progress: one rich bar per arm with its running accuracy and mean tokens."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class _ArmCount:
    def __init__(self) -> None:
        self.ok = self.correct = self.tokens = self.failed = 0

    def add(self, record: dict) -> None:
        if record.get("status") == "ok":
            self.ok += 1
            self.correct += bool(record.get("correct"))
            self.tokens += int(record.get("generated_tokens") or 0)
        else:
            self.failed += 1

    def describe(self, arm: str) -> str:
        if not self.ok:
            text = f"{arm:<14} acc   -   tokens    -"
        else:
            acc, mean = self.correct / self.ok, self.tokens / self.ok
            text = f"{arm:<14} acc {acc:5.1%} tokens {mean:6.0f}"
        return text + (f" [red]failed {self.failed}[/]" if self.failed else "")


class Tracker:
    """Counts finished records per arm and shows them; a no-op display when disabled."""

    def __init__(self, arms: list[str], jobs: Iterable, done: Iterable[dict], enabled=True):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not enabled,
        )
        self.lock = threading.Lock()
        self.counts = {arm: _ArmCount() for arm in arms}
        totals = dict.fromkeys(arms, 0)
        for job in jobs:
            totals[job.arm] += 1
        finished = dict.fromkeys(arms, 0)
        for record in done:
            if record.get("arm") in self.counts and record.get("status") == "ok":
                self.counts[record["arm"]].add(record)
                finished[record["arm"]] += 1
        self.tasks = {
            arm: self.progress.add_task(
                self.counts[arm].describe(arm), total=totals[arm], completed=finished[arm]
            )
            for arm in arms
        }

    def __enter__(self) -> Tracker:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, record: dict) -> None:
        arm = record.get("arm")
        if arm not in self.counts:
            return
        with self.lock:
            self.counts[arm].add(record)
            self.progress.update(
                self.tasks[arm], advance=1, description=self.counts[arm].describe(arm)
            )

    def note(self, message: str) -> None:
        if not self.progress.disable:
            self.progress.console.print(f"[yellow]note:[/] {message}", highlight=False)
