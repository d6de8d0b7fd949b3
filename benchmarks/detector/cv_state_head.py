"""A trained head on the policy's hidden states, scored out of fold on the training rows.

    python benchmarks/detector/cv_state_head.py TRAIN.jsonl STATES.npz [--out OOF.jsonl]
    python benchmarks/detector/cv_state_head.py TRAIN.jsonl STATES.npz --stack [--head]

The states are those `policy_state_probe.py --states-only` saved (per step: the hidden
state at its last token, the mean over its tokens, the prefix's last state). Per pair, the
head reads the element-wise product and absolute difference of the two steps' unit-length
last and mean states (4 x 896 columns for Qwen2.5-0.5B) and fits a logistic regression,
5 folds grouped by problem and dealt by source (`train_features.source_folds`, as
`cv_detector.py` does). It writes each row's out-of-fold probability under the row's pair
key, the file `cv_detector.py --semantic state-head --cache OOF.jsonl` adds as a column,
and prints the head's own average precision per kind of pair.

With `--stack`, the question is whether the state adds to the features detector: the
features model's out-of-fold probability (`cv_detector.py`'s folds, trained on every
training row) is scored against a logistic stack of that probability's logit with the two
state cosines (last and mean states), out of fold by problem, on the rows whose steps
have states (the states may cover part of the training rows), on all of them and on the
rows the cascade leaves to the model. With `--head` the stack reads the head's own
out-of-fold logit (the head regularised by `--c`, same folds) instead of the two cosines;
with a sentence encoder's states (`encoder_states.py`) this is a frozen-encoder pair head.
The stack is not nested: the logits it trains on come from models that saw the fold it
then scores (small with two columns, and it can only flatter the stack).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cv_cross_encoder import key_of  # noqa: E402
from cv_detector import average_precision, load, training_rows  # noqa: E402
from policy_state_probe import load_states, state_cosines, step_key  # noqa: E402

from equivpruner.mathequiv.train_features import (  # noqa: E402
    FeatureTrainConfig,
    fold_runs,
    source_folds,
)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def pair_matrix(rows, found: dict[str, np.ndarray]) -> np.ndarray:
    """Per row: product and absolute difference of the unit last and mean states."""
    out = []
    for r in rows:
        a = found[step_key(r.question, list(r.prefix or []), r.step_a)]
        b = found[step_key(r.question, list(r.prefix or []), r.step_b)]
        cols = []
        for k in (0, 1):
            u, v = _unit(a[k]), _unit(b[k])
            cols += [u * v, np.abs(u - v)]
        out.append(np.concatenate(cols))
    return np.asarray(out, dtype=np.float32)


def out_of_fold(x: np.ndarray, y: np.ndarray, folds: list[int], c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probs = np.zeros(len(y))
    for f in sorted(set(folds)):
        test = np.array([k == f for k in folds])
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        model.fit(x[~test], y[~test])
        probs[test] = model.predict_proba(x[test])[:, 1]
    return probs


def _has_states(r, found) -> bool:
    prefix = list(r.prefix or [])
    return all(step_key(r.question, prefix, t) in found for t in (r.step_a, r.step_b))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _report(name: str, rows, y, probs, idx) -> None:
    for kind, keep in (("all", lambda r: True), ("opening", lambda r: not r.prefix),
                       ("later", lambda r: bool(r.prefix))):  # fmt: skip
        js = [k for k in idx if keep(rows[k])]
        ap = average_precision([probs[k] for k in js], [int(y[k]) for k in js])
        print(f"{name:34s} {kind:8s} rows {len(js):5d} ({int(sum(y[k] for k in js)):4d} eq.)"
              f"  AP {ap:.3f}")  # fmt: skip


def stack(train: str, found: dict, seed: int, head: bool = False, c: float = 0.01) -> None:
    """The features model's out-of-fold probability against it stacked with the state's
    cosines (or, with `head`, with the head's own out-of-fold logit)."""
    d = load(train, "none", None)
    runs = fold_runs(FeatureTrainConfig(), d.rows, d.x, d.y, source_folds)
    feat = np.mean([p for _, p, _ in runs], axis=0)
    idx = [k for k in d.prefix if _has_states(d.rows[k], found)]
    rows = [d.rows[k] for k in idx]
    y = np.array([d.y[k] for k in idx])
    model_p = feat[idx]
    folds = source_folds(rows, 5, seed)
    if head:  # the head's own out-of-fold logit: the stack weighs two columns, not hundreds
        state = _logit(out_of_fold(pair_matrix(rows, found), y, folds, c))[:, None]
    else:
        state = state_cosines(rows, found)[:, :2]
    stacked = out_of_fold(np.column_stack([_logit(model_p), state]), y, folds, 1.0)
    final = [j for j, k in enumerate(idx) if d.prefix[k][0] is None]
    added = "features + state head" if head else "features + state cosines"
    for name, probs in (("features model", model_p), (added, stacked)):
        _report(name, rows, y, probs, range(len(rows)))
        _report(name + " (left to the model)", rows, y, probs, final)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("states")
    ap.add_argument("--out", help="where to write the head's out-of-fold probabilities")
    ap.add_argument("--c", type=float, default=0.01, help="inverse L2 strength")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stack", action="store_true", help="stack on the features model")
    ap.add_argument(
        "--head", action="store_true", help="stack the head's out-of-fold logit, not the cosines"
    )
    args = ap.parse_args()
    found = load_states(args.states)
    if args.stack:
        stack(args.train, found, args.seed, args.head, args.c)
        return
    rows = training_rows(args.train)
    rows = [r for r in rows if r.provenance.get("origin") == "policy-siblings"]
    rows = [r for r in rows if _has_states(r, found)]
    x, y = pair_matrix(rows, found), np.array([r.label for r in rows])
    probs = out_of_fold(x, y, source_folds(rows, 5, args.seed), args.c)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for r, p in zip(rows, probs, strict=True):
                fh.write(json.dumps({"key": key_of(r), "probability": float(p)}) + "\n")
    _report("state head", rows, y, probs, range(len(rows)))


if __name__ == "__main__":
    main()
