"""Does the features model get better with more judged problems? A learning curve, out of
fold, on the training rows only.

    python benchmarks/detector/learning_curve.py TRAIN.jsonl [--fractions 0.25,0.5,0.75,1]
        [--draw-seed 0]

The folds are `cv_detector.py`'s (5, grouped by problem and dealt by source, 3 fold
seeds). For each fraction, every fold's model trains on that share of the other folds'
problems (drawn per source with `--draw-seed`, the same draw growing with the fraction;
template pairs go with their problems) and predicts the held fold; the held folds, and so
the rows scored, are the same at every fraction. Reported on the real rows the earlier
stages leave to the model, per kind of pair: average precision, and the recall of the prune
point (precision 0.95, `mathequiv.bands.merge_point`) chosen on those out-of-fold
probabilities (at least `MIN_MERGES` merges, as the recipe chooses it). Each fold
early-stops on its held fold, as the recipe's cross-validation does, which flatters small
shares a little. A curve still rising at 1 says more judged problems would help; a flat one
says the features are the limit.
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
from cv_detector import average_precision, left_to_model, load

from equivpruner.equiv.bands import GROUPS
from equivpruner.mathequiv.bands import MIN_MERGES, merge_point
from equivpruner.mathequiv.train_features import (
    FeatureTrainConfig,
    _fit,
    row_source,
    source_folds,
)


def problem_draw(rows, seed: int) -> dict[str, float]:
    """Each problem's rank in its source's shuffled order, scaled to [0, 1): a fraction f
    keeps the problems ranked below f, so a larger fraction keeps a superset."""
    by_source: dict[str, list[str]] = {}
    for r in rows:
        by_source.setdefault(row_source(r), []).append(r.problem_id or r.question)
    rank = {}
    for keys in by_source.values():
        keys = sorted(set(keys))
        random.Random(seed).shuffle(keys)
        rank.update({key: k / len(keys) for k, key in enumerate(keys)})
    return rank


def curve_probs(d, fraction: float, cfg: FeatureTrainConfig, draw_seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities, averaged over the fold seeds, with each fold's model
    trained on `fraction` of the other folds' problems (NaN where a fold's share holds one
    class only)."""
    y = np.asarray(d.y)
    rank = problem_draw(d.rows, draw_seed)
    kept = np.array([rank[r.problem_id or r.question] < fraction for r in d.rows])
    runs = []
    for k in range(cfg.fold_seeds):
        folds = np.asarray(source_folds(d.rows, cfg.folds, cfg.seed + k))
        probs = np.full(len(y), np.nan)
        for f in sorted(set(folds)):
            held, train = folds == f, (folds != f) & kept
            if len(set(y[train])) < 2:
                continue
            model = _fit(cfg, d.x[train], y[train], cfg.rounds, (d.x[held], y[held]))
            best = model.best_iteration or model.current_iteration()
            probs[held] = model.predict(d.x[held], num_iteration=best)
        runs.append(probs)
    return np.mean(runs, axis=0)


def summary(d, probs, precision: float = 0.95) -> dict:
    final = left_to_model(d)
    out = {}
    for kind in ("all", *GROUPS):
        rows = [k for k in final if kind == "all" or d.kinds[k] == kind]
        rows = [k for k in rows if not np.isnan(probs[k])]
        p, y = [float(probs[k]) for k in rows], [d.y[k] for k in rows]
        point = merge_point(p, y, precision, MIN_MERGES)
        merged = sum(1 for a, b in zip(p, y, strict=True) if a >= point and b)
        out[kind] = {
            "rows": len(rows),
            "average_precision": round(average_precision(p, y), 4),
            "prune_point": round(point, 4),
            "prune_recall": round(merged / max(1, sum(y)), 4),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("--fractions", default="0.25,0.5,0.75,1")
    ap.add_argument("--draw-seed", type=int, default=0, help="which problems a share keeps")
    args = ap.parse_args()
    d = load(args.train, "none", None)
    cfg = FeatureTrainConfig()
    out = {}
    for fraction in (float(f) for f in args.fractions.split(",")):
        out[str(fraction)] = summary(d, curve_probs(d, fraction, cfg, args.draw_seed))
        print(json.dumps({str(fraction): out[str(fraction)]}), flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
