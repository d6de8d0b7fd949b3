"""Build the held-out evaluation pairs from saved MCTS trees of GSM8K *test* problems.

    python benchmarks/detector/make_evalset.py OUT.jsonl TREE.json [TREE.json ...]

Every expansion's distinct siblings (pruned ones included) give pairs; pairs that also
appear in ../shared/equiv/dev.jsonl are dropped; at most 60 pairs per problem are kept
(spread over depths, seed 0). Rows carry split "test", so training refuses them. The
shipped `siblings-gsm8k-test-mcts-labelled.jsonl` is this script's output on the trees of
runs/cpu-small (problems 0-4, all arms) and runs/mcts-exact-gsm8k20 (problems 0-3),
labelled with the MathEquiv 5-level rubric (see docs/detector-model-card.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from equivpruner.mathequiv.pairs import cap_per_problem, read_pairs, row_key, write_pairs
from equivpruner.mathequiv.tree_pairs import pairs_from_tree_files

DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "equiv" / "dev.jsonl"


def main(out: str, *trees: str) -> None:
    rows = pairs_from_tree_files(sorted(trees), "test")
    if DEV.is_file():
        banned = {row_key(r)[1:] for r in read_pairs(DEV)}
        rows = [r for r in rows if row_key(r)[1:] not in banned]
    rows = cap_per_problem(rows, 60, seed=0)
    write_pairs(rows, out)
    print(f"wrote {len(rows)} pairs to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
