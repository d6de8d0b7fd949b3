"""Out-of-fold probabilities of a fine-tuned cross-encoder on the training rows: one
candidate of the semantic-stage ablation (issue #23).

    python benchmarks/detector/cv_cross_encoder.py TRAIN.jsonl --out DIR [--folds 5]
        [--epochs 2] [--max-length 192] [--threads 1]
        [--base PATH --full --lr 2e-5 --batch-size 32 --device cuda]

The folds are those of the features model's first split (`train_features.source_folds`,
grouped by problem and stratified by source), so a row's probability always comes from a
model that never saw its problem. For each fold, a LoRA cross-encoder on MiniLM (`--base`
another encoder; `--full` fine-tunes it whole, e.g. a base-size one on a GPU with
`--device cuda`; `mathequiv.train.train_cross_encoder`, its own validation split held out
by problem) is trained on the other folds, then scores the fold's rows, both orders
averaged. Rows go to DIR/oof.jsonl (`{"key": ..., "probability": ...}`), one fold at a
time: a rerun resumes after the last finished fold. `cv_detector.py --semantic
cross-encoder --cache DIR/oof.jsonl` reads them as one more feature column (stacking) and
reports the cascade out of fold.
Held-out pairs only drop training rows that share a pair; none is scored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cv_detector import held_out_rows  # noqa: E402  (sets the offline environment first)

from equivpruner.mathequiv.pairs import read_pairs, row_key  # noqa: E402
from equivpruner.mathequiv.train import (  # noqa: E402
    labelled_rows,
    train_cross_encoder,
    trained_detector,
)
from equivpruner.mathequiv.train_features import FeatureTrainConfig, source_folds  # noqa: E402


def key_of(row) -> str:
    """The row's pair identity (question, prefix, the two steps) as one string."""
    return json.dumps(row_key(row)[1:], ensure_ascii=False)


def finished_folds(out: Path) -> set[int]:
    path = out / "oof.jsonl"
    if not path.is_file():
        return set()
    return {json.loads(line)["fold"] for line in path.open() if line.strip()}


def score_fold(model_dir: Path, rows, device: str = "cpu") -> list[float]:
    """P(equivalent) per row, both orders averaged; rows of one question scored together."""
    detector = trained_detector(model_dir, device)
    by_question: dict[str, list[int]] = {}
    for k, row in enumerate(rows):
        by_question.setdefault(row.question, []).append(k)
    probs = [0.0] * len(rows)
    for question, ks in by_question.items():
        found = detector.scores([(rows[k].step_a, rows[k].step_b) for k in ks], question)
        for k, p in zip(ks, found, strict=True):
            probs[k] = p
    return probs


def run_fold(k: int, rows, folds, out: Path, args) -> None:
    train = [r for r, f in zip(rows, folds, strict=True) if f != k]
    held = [r for r, f in zip(rows, folds, strict=True) if f == k]
    model_dir = out / f"fold-{k}"
    start = time.perf_counter()
    train_cross_encoder(
        train, base=args.base, out_dir=model_dir, progress=False, epochs=args.epochs,
        max_length=args.max_length, threads=args.threads, time_limit_minutes=None,
        lora=not args.full, lr=args.lr, batch_size=args.batch_size, device=args.device,
    )  # fmt: skip
    trained = time.perf_counter() - start
    probs = score_fold(model_dir, held, args.device)
    with (out / "oof.jsonl").open("a", encoding="utf-8") as f:
        for row, p in zip(held, probs, strict=True):
            f.write(json.dumps({"fold": k, "key": key_of(row), "probability": p}) + "\n")
    took = time.perf_counter() - start
    print(f"fold {k}: {len(train)} train, {len(held)} scored; "
          f"trained in {trained:.0f} s, {took:.0f} s in all", file=sys.stderr)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--folds", type=int, default=FeatureTrainConfig().folds)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=192)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--base", default="embedded:minilm", help="encoder dir (a hub id needs HF_HUB_OFFLINE=0)"
    )
    ap.add_argument("--full", action="store_true", help="fine-tune the whole encoder, not LoRA")
    ap.add_argument("--lr", type=float, default=5e-4, help="2e-5 or so with --full")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rows = labelled_rows(read_pairs(args.train), held_out_rows(), (3, 4))
    folds = source_folds(rows, args.folds, FeatureTrainConfig().seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = finished_folds(out)
    for k in range(args.folds):
        if k not in done:
            run_fold(k, rows, folds, out, args)


if __name__ == "__main__":
    main()
