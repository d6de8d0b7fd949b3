"""How far each kind of pair's merge point moves when the training problems are resampled.

    python benchmarks/detector/cv_detector.py TRAIN.jsonl --save-probs oof.npy
    python benchmarks/detector/point_spread.py TRAIN.jsonl oof.npy [--reps 200]

Reads the averaged out-of-fold probabilities that `cv_detector.py` saved, keeps the real
rows left to the final stage, and for each kind of pair (opening, later with numbers, later
in words) resamples its problems with replacement and chooses the prune point again (the
lowest p whose merges reach precision 0.95, `mathequiv.bands.merge_point`). A wide spread
means the point rests on a few pairs near the precision target: held-out precision there
can fall far from the out-of-fold figure. Training rows only.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from cv_detector import left_to_model, load

from equivpruner.equiv.bands import GROUPS
from equivpruner.mathequiv.bands import merge_point


def spread(d, probs, reps: int, precision: float = 0.95) -> dict:
    rng = np.random.default_rng(0)
    final = left_to_model(d)

    def point(rows: list[int]) -> float:
        return merge_point([float(probs[k]) for k in rows], [d.y[k] for k in rows], precision)

    out = {}
    for kind in GROUPS:
        by_problem: dict[str, list[int]] = {}
        for k in final:
            if d.kinds[k] == kind:
                by_problem.setdefault(d.rows[k].problem_id, []).append(k)
        groups = list(by_problem.values())
        picks = (rng.integers(0, len(groups), len(groups)) for _ in range(reps))
        points = [point([k for i in pick for k in groups[i]]) for pick in picks]
        out[kind] = {
            "problems": len(groups),
            "point": point([k for g in groups for k in g]),
            "percentiles_5_25_50_75_95": [
                float(x) for x in np.percentile(points, [5, 25, 50, 75, 95])
            ],
            "never_share": float(np.mean([p >= 1.0 for p in points])),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("probs")
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    print(
        json.dumps(spread(load(args.train, "none", None), np.load(args.probs), args.reps), indent=1)
    )


if __name__ == "__main__":
    main()
