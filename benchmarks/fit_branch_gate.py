"""Fit the confidence gate of branching (`search.gate`) on logged trees of TRAIN problems.

Every expansion that drew at least two samples gives one row: the first sample's confidence
(mean / min token log-prob, entropy), the depth and the kind of step, labelled 1 when the
second sample opened a new group (under the run's detector: its stop detector when it had
one). Expansions the gate already kept at one sample give no label and are skipped.

The threshold is declared by `--threshold`, or chosen as the highest one that keeps branching
on at least `--recall` of the train expansions whose second sample did open a new group.
Runs whose config names a split other than train are refused (the gate is declared before
the dev set is run).

    python benchmarks/fit_branch_gate.py benchmarks/runs/gate-train --arm cascade \
        --out benchmarks/configs/branch-gate.json --recall 0.9
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from equivpruner.search import Tree
from equivpruner.search.gate import FEATURES, BranchGate, fit_gate, sample_features


def tree_files(run: Path, arm: str | None) -> list[Path]:
    """The tree JSONs of a bench run dir (`trees/<arm>/*.json`) or of a plain directory."""
    root = run / "trees" if (run / "trees").is_dir() else run
    if arm is not None:
        root = root / arm
    return sorted(p for p in root.rglob("*.json") if p.is_file())


def check_train_only(run: Path) -> None:
    config = run / "config.yaml"
    if not config.is_file():
        return
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    splits = {str(d.get("split", "test")) for d in data.get("datasets") or []}
    if splits - {"train"}:
        sys.exit(f"error: {run} ran on split(s) {sorted(splits)}; fit on train problems only")


def rows_of(tree: Tree) -> tuple[list[dict], list[int]]:
    """(features of the first sample, whether the second opened a new group) per expansion."""
    rows, labels = [], []
    for node in tree.nodes:
        log = node.expansion or {}
        opened = log.get("opened") or []
        if len(opened) < 2:
            continue
        confidence = {
            "mean_logprob": (log.get("mean_logprobs") or [None])[0],
            "min_logprob": (log.get("min_logprobs") or [None])[0],
            "entropy": (log.get("entropies") or [None])[0],
        }
        kind = (log.get("kinds") or ["prose"])[0]
        rows.append(sample_features(confidence, node.depth + 1, kind))
        labels.append(int(opened[1]))
    return rows, labels


def recall_threshold(gate: BranchGate, rows: list[dict], labels: list[int], recall: float):
    """The highest threshold that keeps branching on ≥ `recall` of the positive rows."""
    positives = sorted(
        p for r, y in zip(rows, labels, strict=True)
        if y and (p := gate.probability(r)) is not None
    )  # fmt: skip
    if not positives:
        return 0.0
    drop = int((1.0 - recall) * len(positives) + 1e-9)  # positives allowed below it
    return positives[drop]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="bench run dirs (or dirs of trees)")
    ap.add_argument("--out", type=Path, required=True, help="the gate JSON to write")
    ap.add_argument("--arm", help="use this arm's trees only")
    ap.add_argument("--features", default=",".join(FEATURES),
                    help=f"comma-separated, from {', '.join(FEATURES)}")  # fmt: skip
    ap.add_argument("--threshold", type=float, help="declare the threshold")
    ap.add_argument("--recall", type=float, default=0.9,
                    help="else: keep branching on this share of new-group expansions")  # fmt: skip
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args(argv)
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    rows, labels, files = [], [], 0
    for run in args.runs:
        check_train_only(run)
        for path in tree_files(run, args.arm):
            try:
                tree = Tree.load(path)
            except (ValueError, KeyError, TypeError):
                continue  # not a tree (e.g. another JSON beside them)
            r, y = rows_of(tree)
            rows += r
            labels += y
            files += 1
    try:
        gate = fit_gate(rows, labels, features, threshold=0.5, l2=args.l2)
    except ValueError as err:
        sys.exit(f"error: {err} ({len(rows)} rows from {files} trees)")
    usable = [(r, y) for r, y in zip(rows, labels, strict=True) if gate.probability(r) is not None]
    gate.threshold = (
        args.threshold
        if args.threshold is not None
        else recall_threshold(gate, [r for r, _ in usable], [y for _, y in usable], args.recall)
    )
    closed = sum(gate.closes(r) for r, _ in usable)
    gate.fitted_on.update(
        trees=files,
        sources=[str(r) for r in args.runs],
        arm=args.arm,
        recall_target=None if args.threshold is not None else args.recall,
        closed_share=closed / len(usable) if usable else 0.0,
        new_group_share=sum(y for _, y in usable) / len(usable) if usable else 0.0,
    )
    gate.save(args.out)
    print(json.dumps({"out": str(args.out), "threshold": gate.threshold, **gate.fitted_on}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
