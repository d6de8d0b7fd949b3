"""The shipped cascade on the held-out sets, per set, per kind of pair and per stage.

    python benchmarks/detector/heldout_report.py [--json OUT] [--rejudged-openers]

Scores `cascade` (the prune point) and `cascade-strict` (the stop point) on the three
held-out sets of issue #23: `../shared/equiv/dev.jsonl`, the MCTS-test set and the MATH-500
test set (never trained on: training drops every row that shares a pair with them). Kinds
of pair: `opening` (no earlier step), `code` (either step holds a code block or program
lines), `later` (the rest). Per stage: how many pairs it decided and the precision of its
merges. Run it once per shipped model, after the model is chosen on training rows.
`--rejudged-openers` scores the MCTS-test and MATH-500 sets with their openers judged again
under the rubric's paragraph on plans (`openers-v3/heldout-judged`): a re-judged pair takes
the new label where both new judges agree and is left out where they do not.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from equivpruner.equiv.base import Context  # noqa: E402
from equivpruner.equiv.quantity import code_lines  # noqa: E402
from equivpruner.equiv.registry import make_detector  # noqa: E402
from equivpruner.mathequiv.evaluate import load_pairs, row_label  # noqa: E402

SETS = {
    "dev": "../shared/equiv/dev.jsonl",
    "mcts-test": "benchmarks/detector/siblings-gsm8k-test-mcts-labelled.jsonl",
    "math500-test": "benchmarks/detector/v2/heldout/math500-test-labelled.jsonl",
}
POINTS = {"prune": "cascade", "stop": "cascade-strict"}
REJUDGED = "benchmarks/detector/openers-v3/heldout-judged"


def kind_of(row: dict) -> str:
    if not row.get("prefix"):
        return "opening"
    if any("```" in s or code_lines(s) for s in (row["step_a"], row["step_b"])):
        return "code"
    return "later"


def metrics(cells: list[tuple[int, int]]) -> dict:
    """P / R / F1 of (predicted, label) pairs."""
    tp = sum(p and y for p, y in cells)
    fp = sum(p and not y for p, y in cells)
    fn = sum(y and not p for p, y in cells)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"pairs": len(cells), "equivalent": tp + fn, "merges": tp + fp,
            "precision": precision, "recall": recall, "f1": f1}  # fmt: skip


def score(rows: list[dict], detector) -> dict:
    by_kind, by_stage, cells = defaultdict(list), defaultdict(list), []
    for row in rows:
        context = Context(row.get("question") or "", tuple(row.get("prefix") or ()))
        v = detector.compare([row["step_a"], row["step_b"]], [(0, 1)], context)[0]
        cell = (bool(v.equivalent), bool(row_label(row)))
        cells.append(cell)
        by_kind[kind_of(row)].append(cell)
        by_stage[v.stage].append(cell)
    stages = {}
    for stage, found in by_stage.items():
        merges = [y for p, y in found if p]
        stages[stage] = {
            "pairs": len(found), "merges": len(merges),
            "merge_precision": sum(merges) / len(merges) if merges else None,
        }  # fmt: skip
    return {
        "all": metrics(cells),
        "kind": {k: metrics(v) for k, v in sorted(by_kind.items())},
        "stage": stages,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--rejudged-openers", action="store_true")
    args = ap.parse_args()
    sets = {s: load_pairs(path) for s, path in SETS.items()}
    if args.rejudged_openers:
        from judge_batches import apply_rejudged

        sets = {
            s: rows if s == "dev" else apply_rejudged(rows, REJUDGED, "relabelled.jsonl")
            for s, rows in sets.items()
        }
    out = {}
    for point, name in POINTS.items():
        detector = make_detector(name)
        out[point] = {s: score(rows, detector) for s, rows in sets.items()}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
