"""Training the features detector: LightGBM on `features.FEATURE_NAMES` of labelled pairs.

Validation is k-fold over whole problems (`folds`, default 5): each fold's model predicts
the problems it did not see, which gives the number of boosting rounds (early stopping,
median over folds) and out-of-fold probabilities for every row (averaged over
`fold_seeds` splits). The plain threshold maximises F-beta on those probabilities (beta =
0.5: precision counts more than recall, since a false merge can discard the right branch
and a miss only costs tokens), computed on the rows whose provenance origin is
`calibrate_on` when there are any (default: real policy siblings, not template pairs).
The operating points are chosen on the real rows that reach the cascade's final stage:
"prune" merges at the lowest probability whose out-of-fold merges reach `prune_precision`,
"stop" at `stop_precision`; below the highest probability under which `reject_precision`
of the pairs are not equivalent the model rejects, in between it abstains. The final model
is trained on every row. The output dir holds `model.txt` and `features.json` (threshold,
operating points, data hashes, recipe, out-of-fold metrics), which `FeatureDetector`
loads. A run takes under a minute on one core.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..equiv.bands import pair_group
from ..equiv.base import Context
from ..equiv.features import FEATURE_NAMES, META_FILE, MODEL_FILE, FeatureExtractor
from .bands import choose_points
from .pairs import PairRecord, rows_sha256
from .train import labelled_rows
from .train_loop import binary_metrics

FEATURES_FORMAT = "equivpruner.features/1"
SOURCES = ("gsm8k", "math")


@dataclass
class FeatureTrainConfig:
    """The recipe (LightGBM settings, folds, threshold rule)."""

    rounds: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 10
    early_stopping: int = 50
    folds: int = 5
    beta: float = 0.5
    calibrate_on: str | None = "policy-siblings"
    balance: bool = True
    seed: int = 0
    positive_levels: tuple[int, ...] = (3, 4)
    fold_seeds: int = 3
    prune_precision: float = 0.95
    stop_precision: float = 0.98
    reject_precision: float = 0.95


def feature_matrix(rows: Sequence[PairRecord], extractor: FeatureExtractor | None = None):
    """Features of each labelled row (one expansion of two steps per row)."""
    import numpy as np

    extractor = extractor or FeatureExtractor()
    out = [
        extractor.rows([r.step_a, r.step_b], [(0, 1)], Context(r.question, tuple(r.prefix)))[0]
        for r in rows
    ]
    return np.asarray(out, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def pick_threshold(probs: Sequence[float], labels: Sequence[int], beta: float = 0.5) -> float:
    """The threshold maximising F-beta on (probs, labels); ties go to the higher threshold."""
    best, best_t = -1.0, 0.5
    for t in sorted({float(p) for p in probs}, reverse=True):
        m = binary_metrics([int(p >= t) for p in probs], labels)
        p, r = m["precision"], m["recall"]
        score = (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0
        if score > best:
            best, best_t = score, t
    return best_t


def problem_folds(rows: Sequence[PairRecord], folds: int, seed: int) -> list[int]:
    """A fold number per row; all rows of one problem share a fold."""
    keys = sorted({r.problem_id or r.question for r in rows})
    random.Random(seed).shuffle(keys)
    fold_of = {key: k % folds for k, key in enumerate(keys)}
    return [fold_of[r.problem_id or r.question] for r in rows]


def row_source(row: PairRecord) -> str:
    """The benchmark a pair's problem comes from: its `source` field, else a known name in
    its `problem_id`, else "gsm8k" (the first round of pairs was GSM8K only)."""
    if row.source:
        return row.source.lower()
    problem = (row.problem_id or "").lower()
    return next((name for name in SOURCES if name in problem), SOURCES[0])


def source_folds(rows: Sequence[PairRecord], folds: int, seed: int) -> list[int]:
    """A fold number per row, grouped by problem and stratified by source: each source's
    problems (shuffled) are dealt round the folds in turn, continuing where the previous
    source stopped, so every fold holds each source that has at least `folds` problems.
    With one source this is `problem_folds`."""
    by_source: dict[str, set[str]] = {}
    for r in rows:
        by_source.setdefault(row_source(r), set()).add(r.problem_id or r.question)
    fold_of, dealt = {}, 0
    for source in sorted(by_source):
        keys = sorted(by_source[source])
        random.Random(seed).shuffle(keys)
        fold_of.update({(source, key): (dealt + k) % folds for k, key in enumerate(keys)})
        dealt += len(keys)
    return [fold_of[row_source(r), r.problem_id or r.question] for r in rows]


def _weights(labels, balance: bool):
    import numpy as np

    labels = np.asarray(labels)
    if not balance or labels.min() == labels.max():
        return np.ones(len(labels))
    pos = labels.mean()
    return np.where(labels == 1, 0.5 / pos, 0.5 / (1 - pos))


def _fit(cfg: FeatureTrainConfig, x, y, rounds: int, valid=None):
    import lightgbm

    params = {
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples,
        "seed": cfg.seed,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    names = list(FEATURE_NAMES) if x.shape[1] == len(FEATURE_NAMES) else "auto"  # ablations
    data = lightgbm.Dataset(x, y, weight=_weights(y, cfg.balance), feature_name=names)
    sets, callbacks = [], []
    if valid is not None:
        sets = [data.create_valid(*valid)]
        callbacks = [lightgbm.early_stopping(cfg.early_stopping, verbose=False)]
    return lightgbm.train(params, data, rounds, valid_sets=sets, callbacks=callbacks)


def cross_validate(cfg: FeatureTrainConfig, x, y, folds: list[int]):
    """(out-of-fold probabilities, median best round count) over problem folds."""
    import numpy as np

    y = np.asarray(y)
    probs, rounds = np.full(len(y), np.nan), []
    for f in sorted(set(folds)):
        held = np.asarray(folds) == f
        if held.all() or len(set(y[~held])) < 2:
            continue
        model = _fit(cfg, x[~held], y[~held], cfg.rounds, (x[held], y[held]))
        rounds.append(model.best_iteration or model.current_iteration())
        probs[held] = model.predict(x[held], num_iteration=rounds[-1])
    return probs, int(statistics.median(rounds)) if rounds else cfg.rounds


def _calibration_mask(rows: Sequence[PairRecord], probs, origin: str | None):
    import numpy as np

    seen = ~np.isnan(probs)
    if origin:
        mine = np.asarray([r.provenance.get("origin") == origin for r in rows])
        if (mine & seen).any():
            return mine & seen
    return seen


def operating_points(probs, labels, cfg: FeatureTrainConfig, groups=None) -> dict:
    """The "prune" and stricter "stop" bands (overall and per group, `bands.GROUPS`)."""
    targets = {"prune": cfg.prune_precision, "stop": cfg.stop_precision}
    return choose_points(probs, labels, groups, targets, cfg.reject_precision)


def row_groups(rows: Sequence[PairRecord], x) -> list[str]:
    """The kind of each pair (`bands.pair_group`), as the detector sees it."""
    no_numbers = FEATURE_NAMES.index("no_numbers")
    return [pair_group(not r.prefix, x[k, no_numbers] == 1.0) for k, r in enumerate(rows)]


def prefix_stages(rows: Sequence[PairRecord]) -> list[tuple[bool | None, str | None]]:
    """Per row, (verdict, name of the deciding stage) of the default cascade's stages
    before its final one (exact → symbolic → lexical upper band); (None, None) where they
    leave the pair to the final stage."""
    from ..equiv.cascade import default_stages

    stages = default_stages(lo=None)
    out: list[tuple[bool | None, str | None]] = []
    for r in rows:
        context, decided = Context(r.question, tuple(r.prefix)), (None, None)
        for stage in stages:
            verdict = stage.compare([r.step_a, r.step_b], [(0, 1)], context)[0].equivalent
            if verdict is not None:
                decided = (verdict, stage.name)
                break
        out.append(decided)
    return out


def prefix_verdicts(rows: Sequence[PairRecord]) -> list[bool | None]:
    """Per row, the verdict of the stages before the final one (`prefix_stages`); None
    where they leave the pair to the final stage."""
    return [verdict for verdict, _ in prefix_stages(rows)]


def reaches_final(rows: Sequence[PairRecord]):
    """Per row: is the pair left to the cascade's final stage? Operating points are chosen
    on those pairs only."""
    import numpy as np

    return np.asarray([v is None for v in prefix_verdicts(rows)], dtype=bool)


def fold_runs(cfg: FeatureTrainConfig, rows: Sequence[PairRecord], x, y, split=problem_folds):
    """One (fold per row, out-of-fold probabilities, median best round count) per fold
    split (`cfg.fold_seeds` of them); `split` assigns the folds (`problem_folds`,
    `source_folds`)."""
    runs = []
    for k in range(max(1, cfg.fold_seeds)):
        folds = split(rows, max(2, cfg.folds), cfg.seed + k)
        probs, rounds = cross_validate(cfg, x, y, folds)
        runs.append((folds, probs, rounds))
    return runs


def out_of_fold(cfg: FeatureTrainConfig, rows: Sequence[PairRecord], x, y, split=problem_folds):
    """(out-of-fold probabilities averaged over `cfg.fold_seeds` fold splits, the median
    best round count of the first split)."""
    import numpy as np

    runs = fold_runs(cfg, rows, x, y, split)
    return np.mean([probs for _, probs, _ in runs], axis=0), runs[0][2]


def train_feature_model(
    rows: Sequence[PairRecord],
    out_dir: str | Path,
    exclude: Sequence[PairRecord] = (),
    **options,
) -> dict:
    """Cross-validate (folds grouped by problem and stratified by source), pick the
    threshold and operating points, train on all rows, write the model dir.

    Rows whose pair also appears in `exclude` are dropped; rows from a test split are
    refused. Returns the metadata written to `features.json`.
    """
    cfg = FeatureTrainConfig(**options)
    rows = labelled_rows(rows, exclude, cfg.positive_levels)
    if len(rows) < 4 or len({r.label for r in rows}) < 2:
        raise ValueError("training needs at least 4 labelled pairs of both classes")
    x, y = feature_matrix(rows), [r.label for r in rows]
    probs, rounds = out_of_fold(cfg, rows, x, y, source_folds)  # grouped by problem and source
    mask = _calibration_mask(rows, probs, cfg.calibrate_on)
    cal_probs, cal_y = probs[mask].tolist(), [v for v, m in zip(y, mask, strict=True) if m]
    threshold = pick_threshold(cal_probs, cal_y, cfg.beta) if len(set(cal_y)) == 2 else 0.5
    final = mask & reaches_final(rows)
    fin_probs, fin_y = probs[final].tolist(), [v for v, m in zip(y, final, strict=True) if m]
    groups = [g for g, m in zip(row_groups(rows, x), final, strict=True) if m]
    points = operating_points(fin_probs, fin_y, cfg, groups) if len(set(fin_y)) == 2 else {}
    booster = _fit(cfg, x, y, rounds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out / MODEL_FILE))
    meta = {
        "format": FEATURES_FORMAT,
        "feature_names": list(FEATURE_NAMES),
        "threshold": threshold,
        "operating_points": points,
        "rounds": rounds,
        "out_of_fold": binary_metrics([int(p >= threshold) for p in cal_probs], cal_y),
        "data": {
            "rows": len(rows),
            "equivalent": sum(y),
            "calibration_rows": len(cal_y),
            "final_stage_rows": len(fin_y),
            "sha256": rows_sha256(rows),
            "label_sources": sorted({r.label_source for r in rows}),
        },
        "recipe": {
            **asdict(cfg),
            "positive_levels": list(cfg.positive_levels),
            "folds": "source_folds: grouped by problem, each source dealt round the folds",
        },
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    return meta
