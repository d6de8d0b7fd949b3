"""Harvest the second round of real sibling pairs (MathEquiv v2) from TRAIN problems only.

    python benchmarks/detector/harvest_v2.py OUT_DIR [--problems N] [--threads T] [--source S]

Alternates MATH train problems (a seeded shuffle of all subjects and levels) with GSM8K train
problems 137 onwards (0-136 fed the first round). Each problem is searched without pruning
by the embedded Qwen policy (width 8, temperature 0.8); pairs are recorded at four depths,
alternating between two depth sets so that depths 0-8 are all covered, and the depths in
between draw one sample only. At most 36 pairs per problem are kept, spread over depths
(24 for the first four problems; `--cap` raises it: the 112 candidate pairs of four recorded
depths cost the same samples whatever the cap, so a higher cap buys more pairs per minute).

Resumable: rows go to OUT_DIR/math.jsonl and OUT_DIR/gsm8k.jsonl as each problem finishes;
a problem already present (or listed in OUT_DIR/done.txt, for problems with no pairs) is
skipped on a rerun. `--source math` and `--source gsm8k` split the work between two
processes (each takes its own problems of the same interleaved order).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from equivpruner.data.problems import load_problems
from equivpruner.llm.loader import load_policy
from equivpruner.mathequiv.harvest import iter_harvest, problem_key
from equivpruner.mathequiv.pairs import write_pairs

DEPTH_SETS = {"math": ((0, 2, 4, 6), (1, 3, 5, 8)), "gsm8k": ((0, 3, 5, 7), (2, 4, 6, 8))}
GSM8K_FIRST = 137  # GSM8K train 0-136 fed the first round of labelled pairs
WIDTH, CAP, TEMPERATURE, SEED = 8, 36, 0.8, 2


def problem_order(limit: int) -> list[tuple[str, object]]:
    """MATH and GSM8K train problems, interleaved one by one."""
    math = load_problems("math", split="train")
    random.Random(SEED).shuffle(math)
    gsm = load_problems("gsm8k", split="train")[GSM8K_FIRST:]
    order = []
    for m, g in zip(math, gsm, strict=False):
        order += [("math", m), ("gsm8k", g)]
    return order[:limit]


def done_keys(out: Path) -> set[str]:
    keys = set()
    for name in ("math.jsonl", "gsm8k.jsonl"):
        path = out / name
        if path.is_file():
            keys |= {json.loads(line)["problem_id"] for line in path.open() if line.strip()}
    marks = out / "done.txt"
    if marks.is_file():
        keys |= set(marks.read_text().split())
    return keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--problems", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--source", choices=("both", "math", "gsm8k"), default="both")
    ap.add_argument("--cap", type=int, default=CAP, help="pairs kept per problem")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    backend = load_policy("embedded:qwen2.5-coder-0.5b", n_threads=args.threads)
    seen = done_keys(args.out)
    for k, (source, problem) in enumerate(problem_order(args.problems)):
        key = problem_key(problem, "train")
        if key in seen or args.source not in ("both", source):
            continue
        depths = DEPTH_SETS[source][k // 2 % 2]
        batches = iter_harvest(
            [problem], backend, width=WIDTH, depths=depths, per_problem_cap=args.cap,
            seed=SEED * 1000 + k, temperature=TEMPERATURE, split="train",
        )  # fmt: skip
        rows = next(batches)
        write_pairs(rows, args.out / f"{source}.jsonl", append=True)
        with (args.out / "done.txt").open("a") as fh:
            fh.write(key + "\n")
        print(f"{k:4d} {key}: {len(rows)} pairs, depths {depths}", flush=True)


if __name__ == "__main__":
    main()
