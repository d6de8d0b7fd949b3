"""Harvest the held-out MATH-500 evaluation pairs: sibling steps of MATH-500 *test* problems.

    python benchmarks/detector/harvest_math500_eval.py OUT.jsonl [--problems N] [--threads T]

The same sampling as `harvest_v2.py` (embedded Qwen policy, width 8, temperature 0.8, four
recorded depths alternating between two depth sets, one sample at the depths in between, at
most 30 pairs per problem), on a seeded shuffle of MATH-500 test problems. Rows carry split
"test", so `train-detector` refuses them: they are for evaluation only, never for training.
Resumable: problems already in OUT.jsonl (or in OUT.done) are skipped.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from equivpruner.data.problems import load_problems
from equivpruner.llm.loader import load_policy
from equivpruner.mathequiv.harvest import harvest_problem, problem_key
from equivpruner.mathequiv.pairs import cap_per_problem, dedup_pairs, write_pairs

DEPTH_SETS = ((0, 2, 4, 6), (1, 3, 5, 8))
WIDTH, CAP, TEMPERATURE, SEED = 8, 30, 0.8, 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    problems = load_problems("math500", split="test")
    random.Random(SEED).shuffle(problems)
    marks = args.out.with_suffix(".done")
    seen = set(marks.read_text().split()) if marks.is_file() else set()
    if args.out.is_file():
        seen |= {json.loads(x)["problem_id"] for x in args.out.open() if x.strip()}
    backend = load_policy("embedded:qwen2.5-coder-0.5b", n_threads=args.threads)
    for k, problem in enumerate(problems[: args.problems]):
        key = problem_key(problem, "test")
        if key in seen:
            continue
        rows = harvest_problem(
            problem, backend, WIDTH, DEPTH_SETS[k % 2], TEMPERATURE, SEED * 1000 + k, "test"
        )
        rows = cap_per_problem(dedup_pairs(rows), CAP, SEED + k)
        write_pairs(rows, args.out, append=True)
        with marks.open("a") as fh:
            fh.write(key + "\n")
        print(f"{k:3d} {key}: {len(rows)} pairs", flush=True)


if __name__ == "__main__":
    main()
