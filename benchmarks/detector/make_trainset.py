"""Build the training set of the shipped detector (see docs/detector-model-card.md).

    python benchmarks/detector/make_trainset.py REFERENCE_PAIRS.jsonl OUT.jsonl

Mixes the judge-labelled real sibling pairs of `REAL` (repeated 3x: they are the target
distribution) with a fixed random sample of reference-template pairs (1,200 level 4,
900 level 0, 400 level 1), shuffled with seed 0. `REAL`: 210 pairs of GSM8K train problems
0-14 (one judge), the pairs of problems 15-136 that two judges agreed on, and MathEquiv v2
(3,024 pairs of 38 MATH and 38 GSM8K train problems, two judges; `v2/README.md`).
The opening pairs that the first judges called equivalent were judged again under the
rubric's paragraph on opening steps and plans (`openers-v3/README.md`): each takes its new
label where both new judges agree, and is left out where they do not.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from judge_batches import apply_rejudged

HERE = Path(__file__).resolve().parent
SAMPLE = {4: 1200, 0: 900, 1: 400}
REAL = (
    "siblings-gsm8k-train-labelled.jsonl",
    "siblings-gsm8k-train-labelled-2.jsonl",
    "siblings-gsm8k-train-labelled-3.jsonl",
    "v2/train-labelled.jsonl",
)
REJUDGED = "openers-v3/judged"


def main(reference: str, out: str) -> None:
    rng = random.Random(0)
    real = [json.loads(x) for name in REAL for x in (HERE / name).open()]
    real = apply_rejudged(real, HERE / REJUDGED, "train-relabelled.jsonl")
    by_level: dict[int, list[dict]] = {}
    for line in Path(reference).open():
        row = json.loads(line)
        by_level.setdefault(row["level"], []).append(row)
    picked = [r for level, k in SAMPLE.items() for r in rng.sample(by_level[level], k)]
    rows = real * 3 + picked
    rng.shuffle(rows)
    Path(out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
