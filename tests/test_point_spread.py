"""`benchmarks/detector/point_spread.py`: the prune point chosen again on problems resampled
with replacement; clean evidence gives one point, a kind that never reaches the precision
never merges."""

from __future__ import annotations

import numpy as np

from equivpruner.mathequiv.pairs import PairRecord

from .bench_scripts import load_script

point_spread = load_script("detector/point_spread.py")
Data = load_script("detector/cv_detector.py").Data


def _data():
    rows, probs, labels, kinds = [], [], [], []
    for problem in range(30):
        for j in range(6):
            rows.append(PairRecord("q", [], f"a{j}", f"b{j}", problem_id=f"p{problem}"))
            # later steps with numbers: equivalent pairs at p 0.9, the rest at 0.2
            labels.append(int(j < 3))
            probs.append(0.9 if j < 3 else 0.2)
            kinds.append("later-numbers")
        rows.append(PairRecord("q", [], "o1", "o2", problem_id=f"p{problem}"))
        labels.append(0)  # openings: every confident pair is wrong
        probs.append(0.99)
        kinds.append("opening")
    prefix = {k: (None, None) for k in range(len(rows))}
    return Data(rows, None, labels, kinds, ["gsm8k"] * len(rows), prefix), np.array(probs)


def test_clean_evidence_gives_one_point_and_a_hopeless_kind_never_merges():
    d, probs = _data()
    out = point_spread.spread(d, probs, reps=20)
    later = out["later-numbers"]
    assert later["problems"] == 30 and later["point"] == 0.9
    assert later["percentiles_5_25_50_75_95"] == [0.9] * 5 and later["never_share"] == 0.0
    assert out["opening"]["point"] == 1.0 and out["opening"]["never_share"] == 1.0
    assert out["later-words"]["problems"] == 0
