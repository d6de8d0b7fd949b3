"""Ablation: the MiniLM cosine of the two steps as one more feature of the features model.

    python benchmarks/detector/semantic_ablation.py TRAIN.jsonl [--cache EMB.npz] [--json OUT]

Both arms follow the shipped recipe on the training rows only: out-of-fold probabilities
(3 fold splits) give the "prune" and "stop" operating points, then a model is trained on
every row. Only then is each arm scored once on the two held-out sets, through the
cascade's earlier stages (exact → symbolic → lexical band) and its model at each point
(with its bands per kind of pair).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cv_detector import HELD_OUT  # noqa: E402
from semantic_features import minilm_cosines  # noqa: E402

from equivpruner.equiv.bands import Band, band_of  # noqa: E402
from equivpruner.mathequiv.evaluate import row_label  # noqa: E402
from equivpruner.mathequiv.pairs import read_pairs  # noqa: E402
from equivpruner.mathequiv.train import labelled_rows  # noqa: E402
from equivpruner.mathequiv.train_features import (  # noqa: E402
    FeatureTrainConfig,
    _fit,
    feature_matrix,
    operating_points,
    out_of_fold,
    prefix_verdicts,
    row_groups,
)


def _columns(rows, semantic: bool, cache: str | None):
    import numpy as np

    x = feature_matrix(rows)
    return np.column_stack([x, minilm_cosines(rows, cache)]) if semantic else x


def _scores(verdicts, probs, labels, band: Band, kinds) -> dict:
    tp = fp = fn = 0
    for v, p, y, g in zip(verdicts, probs, labels, kinds, strict=True):
        merged = bool(v if v is not None else band.decide(float(p), g) is True)
        tp, fp, fn = tp + (merged and y), fp + (merged and not y), fn + (not merged and y)
    prec, rec = tp / max(1, tp + fp), tp / max(1, tp + fn)
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def arm(train, held_sets, semantic: bool, cache: str | None) -> dict:
    cfg = FeatureTrainConfig()
    x, y = _columns(train, semantic, cache), [r.label for r in train]
    probs, rounds = out_of_fold(cfg, train, x, y)
    real = [k for k, r in enumerate(train) if r.provenance.get("origin") == "policy-siblings"]
    verdicts = prefix_verdicts([train[k] for k in real])
    final = [k for k, v in zip(real, verdicts, strict=True) if v is None]
    kinds = row_groups(train, x)
    points = operating_points(
        [float(probs[k]) for k in final], [y[k] for k in final], cfg, [kinds[k] for k in final]
    )
    model = _fit(cfg, x, y, rounds)
    out = {"operating_points": points, "held_out": {}}
    for name, rows in held_sets.items():
        hx = _columns(rows, semantic, cache)
        p, g = model.predict(hx), row_groups(rows, hx)
        v, labels = prefix_verdicts(rows), [row_label(r.to_dict()) for r in rows]
        out["held_out"][name] = {
            k: _scores(v, p, labels, band_of({"operating_points": points}, k), g) for k in points
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    held_sets = {Path(p).stem: read_pairs(p) for p in HELD_OUT if os.path.exists(p)}
    held = [r for rows in held_sets.values() for r in rows]
    train = labelled_rows(read_pairs(args.train), held, (3, 4))
    report = {
        name: arm(train, held_sets, semantic, args.cache)
        for name, semantic in (("features", False), ("features + MiniLM cosine", True))
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
