"""`benchmarks/detector/learning_curve.py`: nested problem draws per source, and at the full
fraction the same out-of-fold probabilities as the recipe's cross-validation."""

from __future__ import annotations

import numpy as np

from equivpruner.mathequiv.pairs import PairRecord
from equivpruner.mathequiv.train_features import (
    FeatureTrainConfig,
    cross_validate,
    source_folds,
)

from .bench_scripts import load_script

learning_curve = load_script("detector/learning_curve.py")
Data = load_script("detector/cv_detector.py").Data


def _data(problems: int = 40, per_problem: int = 8) -> Data:
    rng = np.random.default_rng(0)
    rows, x, y = [], [], []
    for p in range(problems):
        source = "math" if p % 2 else "gsm8k"
        for j in range(per_problem):
            label = int(j % 2 == 0)
            rows.append(PairRecord("q", ["s"], f"a{j}", f"b{j}", source=source,
                                   problem_id=f"{source}-{p}"))  # fmt: skip
            x.append([label + rng.normal(0, 0.7), rng.normal(), rng.normal()])
            y.append(label)
    prefix = {k: (None, None) for k in range(len(rows))}
    kinds = ["later-numbers"] * len(rows)
    return Data(rows, np.asarray(x), y, kinds, [r.source for r in rows], prefix)


def test_draws_are_nested_and_dealt_per_source():
    d = _data()
    rank = learning_curve.problem_draw(d.rows, seed=0)
    kept = {f: {k for k, r in rank.items() if r < f} for f in (0.25, 0.5, 1.0)}
    assert kept[0.25] <= kept[0.5] <= kept[1.0] and len(kept[1.0]) == 40
    for source in ("gsm8k", "math"):
        assert sum(k.startswith(source) for k in kept[0.5]) == 10


def test_full_fraction_is_the_recipes_cross_validation():
    d = _data()
    cfg = FeatureTrainConfig(rounds=30, min_child_samples=5)
    full = learning_curve.curve_probs(d, 1.0, cfg)
    runs = [
        cross_validate(cfg, d.x, d.y, source_folds(d.rows, cfg.folds, cfg.seed + k))[0]
        for k in range(cfg.fold_seeds)
    ]
    assert np.allclose(full, np.mean(runs, axis=0))
    fewer = learning_curve.curve_probs(d, 0.25, cfg)
    assert not np.allclose(full, fewer)  # a quarter of the problems is another model
    stats = learning_curve.summary(d, full)
    assert stats["all"]["rows"] == len(d.rows) and stats["all"]["average_precision"] > 0.7
