"""Operating points that hold on unseen problems: folds grouped by problem and source, kinds
of pair the model may not merge, and which stage decides a training pair."""

from __future__ import annotations

import pytest

from equivpruner.equiv.bands import GROUPS, band_of
from equivpruner.mathequiv.bands import choose_points
from equivpruner.mathequiv.pairs import PairRecord
from equivpruner.mathequiv.train_features import (
    FeatureTrainConfig,
    feature_matrix,
    fold_runs,
    prefix_stages,
    prefix_verdicts,
    problem_folds,
    row_source,
    source_folds,
)

QUESTION = "Walter bought 60 apples. He ate 2/5 of them. How many apples are left?"


def _row(k: int, source: str, problem: str, label: int = 1) -> PairRecord:
    a, b = f"{k} × 3 = {3 * k} pens.", f"Multiply {k} by 3: {3 * k + 1 - label} pens."
    return PairRecord("q", [], a, b, source=source, problem_id=problem, label=label)


def _mixed_rows() -> list[PairRecord]:
    gsm = [_row(k, "gsm8k", f"train:gsm8k-{k % 12}", k % 2) for k in range(48)]
    math = [_row(k, "math", f"train:math-{k % 7}", k % 2) for k in range(48, 76)]
    return gsm + math


def test_the_source_of_a_row_comes_from_its_fields():
    assert row_source(_row(0, "MATH", "p1")) == "math"
    assert row_source(_row(0, "", "train:math-12")) == "math"
    assert row_source(_row(0, "", "train:gsm8k-3")) == "gsm8k"
    assert row_source(_row(0, "", "")) == "gsm8k"  # round 1: GSM8K only


def test_source_folds_keep_problems_together_and_hold_both_sources():
    rows = _mixed_rows()
    folds = source_folds(rows, 5, seed=1)
    fold_of_problem: dict[str, set[int]] = {}
    for row, fold in zip(rows, folds, strict=True):
        fold_of_problem.setdefault(row.problem_id, set()).add(fold)
    assert all(len(f) == 1 for f in fold_of_problem.values())
    for fold in range(5):
        held = {r.source for r, f in zip(rows, folds, strict=True) if f == fold}
        assert held == {"gsm8k", "math"}
    problems = [len({r.problem_id for r, f in zip(rows, folds, strict=True) if f == fold})
                for fold in range(5)]  # fmt: skip
    assert max(problems) - min(problems) <= 1  # 19 problems dealt round 5 folds


def test_source_folds_of_one_source_are_problem_folds():
    rows = [_row(k, "gsm8k", f"p{k % 9}") for k in range(40)]
    for seed in range(3):
        assert source_folds(rows, 5, seed) == problem_folds(rows, 5, seed)


def test_fold_runs_use_the_given_split():
    rows = _mixed_rows()
    x, y = feature_matrix(rows), [r.label for r in rows]
    cfg = FeatureTrainConfig(folds=3, fold_seeds=2, rounds=5, min_child_samples=2)
    runs = fold_runs(cfg, rows, x, y, source_folds)
    assert [folds for folds, _, _ in runs] == [source_folds(rows, 3, s) for s in (0, 1)]
    assert all(len(probs) == len(rows) for _, probs, _ in runs)


def _band_rows():
    """60 opening pairs the model ranks well, 60 later pairs it cannot (half equivalent at
    every probability), 40 later pairs in words that are all not equivalent."""
    probs, labels, groups = [], [], []
    for k in range(60):
        probs.append(0.5 + k / 150), labels.append(int(k >= 20)), groups.append("opening")
        probs.append(0.5 + k / 150), labels.append(k % 2), groups.append("later-numbers")
    for k in range(40):
        probs.append(0.6 + k / 120), labels.append(0), groups.append("later-words")
    return probs, labels, groups


@pytest.mark.parametrize("name", ["prune", "stop"])
def test_a_kind_below_its_precision_is_never_merged_by_the_model(name):
    probs, labels, groups = _band_rows()
    points = choose_points(probs, labels, groups, min_merges=20)
    assert set(points[name]["groups"]) == set(GROUPS)
    band = band_of({"operating_points": points}, name)
    assert band.decide(0.95, "opening") is True  # reaches its target: merged
    for kind in ("later-numbers", "later-words"):
        assert points[name]["groups"][kind]["merge_at"] == 1.0
        assert not any(band.decide(p, kind) for p in [*probs, 0.999999, 1.0])
    only_openings = choose_points(probs[:120:2], labels[:120:2], groups[:120:2], min_merges=20)
    absent = band_of({"operating_points": only_openings}, name)
    assert not any(absent.decide(p, "later-words") for p in [*probs, 1.0])  # no pairs seen


def test_prefix_stages_name_the_deciding_stage():
    pairs = [
        ("He ate 2/5 × 60 = 24 apples.", "He ate 2/5 × 60 = 24 apples."),
        ("Walter ate 2/5 of the 60 apples: 2/5 × 60 = 24 apples.", "He ate 60 × 2/5 = 24 apples."),
        ("He ate 2/5 of the 60: 2/5 × 60 = 24 apples.", "He ate 2/5 of the 60: 2/5 × 60 = 48."),
        ("Let us think.", "First compute what he ate."),
    ]  # fmt: skip
    rows = [PairRecord(QUESTION, ["Start."], a, b) for a, b in pairs]
    stages = prefix_stages(rows)
    assert stages == [(True, "exact"), (True, "symbolic"), (False, "symbolic"), (None, None)]
    assert prefix_verdicts(rows) == [verdict for verdict, _ in stages]
