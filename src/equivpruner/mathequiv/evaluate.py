"""Scoring a detector on labelled step pairs (accuracy, precision, recall, F1, by level)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..equiv.base import Context, Detector

POSITIVE_LEVELS = (3, 4)


def load_pairs(path: str | Path) -> list[dict]:
    """Rows of a JSONL file of pairs (`step_a`, `step_b`, `label` or `level`, optional
    `question` and `prefix`); a bad row raises ValueError as `FILE:LINE: what`."""
    from .pairs import check_prefix, json_lines

    rows = []
    for n, row in json_lines(path):
        for name in ("step_a", "step_b"):
            if not isinstance(row.get(name), str):
                raise ValueError(f"{path}:{n}: missing text field {name!r}")
        if row.get("question") is not None and not isinstance(row["question"], str):
            raise ValueError(f"{path}:{n}: 'question' must be text")
        try:
            check_prefix(row.get("prefix"))
        except ValueError as err:
            raise ValueError(f"{path}:{n}: {err}") from None
        rows.append(row)
    return rows


def row_label(row: dict, where: str = "row") -> int:
    """1 = equivalent: `label` (0/1) if given, else `level` 0-4 with {3, 4} → 1."""
    label = row.get("label")
    if label is not None:
        if label not in (0, 1):
            raise ValueError(f"{where}: label must be 0 or 1, got {label!r}")
        return int(label)
    level = row.get("level")
    if level is None:
        raise ValueError(f"{where}: needs a 'label' (0/1) or a 'level' (0-4)")
    if level not in range(5):
        raise ValueError(f"{where}: level must be 0-4, got {level!r}")
    return int(level in POSITIVE_LEVELS)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _share(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


@dataclass
class Report:
    """Binary confusion counts, per-level predictions and the deciding stages."""

    detector: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    by_level: dict[int, Counter] = field(default_factory=dict)
    stages: Counter = field(default_factory=Counter)
    by_stage: dict[str, Counter] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.n)

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, label: int, predicted: bool, level: int | None, stage: str) -> None:
        if label:
            self.tp, self.fn = self.tp + predicted, self.fn + (not predicted)
        else:
            self.fp, self.tn = self.fp + predicted, self.tn + (not predicted)
        if level is not None:
            self.by_level.setdefault(level, Counter())["equivalent" if predicted else "not"] += 1
        self.stages[stage] += 1
        cell = ("tp" if predicted else "fn") if label else ("fp" if predicted else "tn")
        self.by_stage.setdefault(stage, Counter())[cell] += 1

    def stage_precision(self) -> list[dict]:
        """Per deciding stage: pairs decided, merges and their precision, rejects and theirs."""
        out = []
        for stage, _ in self.stages.most_common():
            c = self.by_stage.get(stage, Counter())
            merges, rejects = c["tp"] + c["fp"], c["tn"] + c["fn"]
            out.append(
                {
                    "stage": stage,
                    "pairs": merges + rejects,
                    "merges": merges,
                    "merge_precision": _ratio(c["tp"], merges) if merges else None,
                    "rejects": rejects,
                    "reject_precision": _ratio(c["tn"], rejects) if rejects else None,
                    **{k: c[k] for k in ("tp", "fp", "fn", "tn")},
                }
            )
        return out

    def summary(self) -> dict:
        keys = ("n", "accuracy", "precision", "recall", "f1", "tp", "fp", "fn", "tn")
        return {"detector": self.detector, **{k: getattr(self, k) for k in keys}}

    def format(self) -> str:
        """Markdown tables: metrics, confusion matrix, per level, deciding stages."""
        lines = [
            "| detector | n | accuracy | precision | recall | F1 | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| {self.detector} | {self.n} | {self.accuracy:.3f} | {self.precision:.3f} "
            f"| {self.recall:.3f} | {self.f1:.3f} | {self.seconds:.2f} |",
            "",
            "| labelled \\ predicted | equivalent | not |",
            "|---|---:|---:|",
            f"| equivalent | {self.tp} | {self.fn} |",
            f"| not | {self.fp} | {self.tn} |",
        ]
        if self.by_level:
            lines += [
                "",
                "| level | n | predicted equivalent | predicted not |",
                "|---|---:|---:|---:|",
            ]
            for level in sorted(self.by_level):
                c = self.by_level[level]
                lines.append(f"| {level} | {sum(c.values())} | {c['equivalent']} | {c['not']} |")
        lines += [
            "",
            "| deciding stage | pairs | merges | merge precision | rejects | reject precision |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in self.stage_precision():
            lines.append(
                f"| {row['stage']} | {row['pairs']} | {row['merges']} "
                f"| {_share(row['merge_precision'])} | {row['rejects']} "
                f"| {_share(row['reject_precision'])} |"
            )
        return "\n".join(lines)


def _groups(rows: Sequence[dict]) -> dict[tuple, list[int]]:
    """Row indices by shared context (question + prefix), so each group is one batch."""
    groups: dict[tuple, list[int]] = {}
    for k, row in enumerate(rows):
        key = (row.get("question") or "", tuple(row.get("prefix") or ()))
        groups.setdefault(key, []).append(k)
    return groups


def score_pairs(rows: Iterable[dict], detector: Detector) -> Report:
    """Run `detector` on labelled pairs; rows sharing a context are scored in one call."""
    rows = list(rows)
    labels = [row_label(row, f"row {k + 1}") for k, row in enumerate(rows)]
    report = Report(getattr(detector, "name", type(detector).__name__))
    start = time.perf_counter()
    for (question, prefix), members in _groups(rows).items():
        steps = [rows[k][name] for k in members for name in ("step_a", "step_b")]
        pairs = [(2 * n, 2 * n + 1) for n in range(len(members))]
        verdicts = detector.compare(steps, pairs, Context(question, prefix))
        for k, v in zip(members, verdicts, strict=True):
            level = rows[k].get("level")
            report.add(labels[k], v.equivalent is True, level, v.stage)
    report.seconds = time.perf_counter() - start
    return report
