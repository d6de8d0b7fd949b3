"""The features detector: symmetric features, training, the shipped model, tree pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from equivpruner.equiv import weights
from equivpruner.equiv.bands import Band, band_of, pair_group
from equivpruner.equiv.base import Context, all_pairs, group_steps
from equivpruner.equiv.features import FEATURE_NAMES, FeatureDetector, FeatureExtractor
from equivpruner.equiv.registry import make_detector
from equivpruner.mathequiv.bands import merge_point, reject_point
from equivpruner.mathequiv.pairs import PairRecord, read_pairs, write_pairs
from equivpruner.mathequiv.train import labelled_rows
from equivpruner.mathequiv.train_features import (
    FeatureTrainConfig,
    operating_points,
    pick_threshold,
    problem_folds,
    train_feature_model,
)
from equivpruner.mathequiv.tree_pairs import pairs_from_tree_files, sibling_texts, tree_pairs
from equivpruner.search.tree import MergeRecord, Tree

QUESTION = (
    "Walter bought 60 apples. He ate 2/5 of them and gave his sister 25% of the rest. "
    "How many apples are left?"
)
CTX = Context(QUESTION)
ATE = "Walter ate 2/5 of the 60 apples: 2/5 × 60 = 24 apples."
ATE_REWORDED = "First, find how many apples he ate. \\(\\frac{2}{5} \\times 60 = 24\\), so 24."
ATE_WRONG = "Walter ate 2/5 of the 60 apples: 2/5 × 60 = 48 apples."
LEFT = "He has 60 - 24 = 36 apples left after eating."
OPENER = "Let's break down the problem step by step:"
OPENER_REWORDED = "Let's break the problem down step-by-step."


def test_features_are_symmetric_and_complete():
    steps = [ATE, ATE_REWORDED, ATE_WRONG, LEFT, OPENER]
    pairs = all_pairs(len(steps))
    extractor = FeatureExtractor()
    forward = extractor.rows(steps, pairs, CTX)
    backward = extractor.rows(steps, [(j, i) for i, j in pairs], CTX)
    assert all(len(row) == len(FEATURE_NAMES) for row in forward)
    flat = [x for row in backward for x in row]
    assert [x for row in forward for x in row] == pytest.approx(flat)


def test_numbers_from_the_question_are_not_new():
    extractor = FeatureExtractor()
    (row,) = extractor.rows(["He bought 60 apples.", "There are 60 apples."], [(0, 1)], CTX)
    features = dict(zip(FEATURE_NAMES, row, strict=True))
    assert features["same_number_multiset"] == 1.0
    assert features["both_new_numbers"] == 0.0  # 60 is given by the question


def _features(a: str, b: str) -> dict[str, float]:
    (row,) = FeatureExtractor().rows([a, b], [(0, 1)], CTX)
    return dict(zip(FEATURE_NAMES, row, strict=True))


def test_a_stated_result_is_the_only_extra_number():
    def only_results(a: str, b: str) -> float:
        return _features(a, b)["extra_numbers_are_results"]

    left = "The apples he ate are \\( 2/5 \\times 60 \\)."
    assert only_results(left, "He ate 2/5 × 60 = 24 apples.") == 1.0
    assert only_results(left, "He ate 2/5 × 60 = 24 apples, 36 left.") == 0.0
    assert only_results(ATE, ATE_WRONG) == 1.0
    assert only_results(ATE, ATE) == 0.0  # no difference at all


def test_code_and_variable_features():
    code = "Let's compute it in Python.\n```python\napples = 60\neaten = 2 / 5 * apples\n```"
    features = _features(code, "Let's write the Python code:")
    assert features["code_steps"] == 1.0 and features["mentions_code"] == 2.0
    assert features["assignments_min"] == 0.0 and features["assignments_gap"] == 2.0
    features = _features("Let \\( x \\) be the apples left.", OPENER)
    assert features["defines_variable"] == 1.0 and features["code_steps"] == 0.0


def test_pick_threshold_prefers_precision():
    probs = [0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3]
    labels = [1, 1, 1, 0, 1, 0, 0]
    assert pick_threshold(probs, labels, beta=0.5) == 0.8
    assert pick_threshold(probs, labels, beta=4.0) == 0.6


def test_problem_folds_keep_a_problem_together():
    rows = [
        PairRecord("q", [], f"a{k}", f"b{k}", problem_id=f"p{k % 7}", label=k % 2)
        for k in range(40)
    ]
    folds = problem_folds(rows, 5, seed=0)
    by_problem = {}
    for row, fold in zip(rows, folds, strict=True):
        by_problem.setdefault(row.problem_id, set()).add(fold)
    assert all(len(f) == 1 for f in by_problem.values())
    assert len(set(folds)) == 5


def _training_rows() -> list[PairRecord]:
    rows = []
    for k in range(30):
        a, b = 3 + k, 4 + k
        q = f"Each box holds {a} pens. How many pens are in {b} boxes?"
        same = (f"{a} × {b} = {a * b} pens.", f"Multiply {b} by {a} to get {a * b} pens.")
        wrong = (f"{a} × {b} = {a * b} pens.", f"{a} × {b} = {a * b + 10} pens.")
        for (x, y), label in ((same, 1), (wrong, 0)):
            rows.append(PairRecord(q, [], x, y, problem_id=f"p{k}", label=label, split="train"))
    return rows


def test_train_writes_a_loadable_model(tmp_path):
    meta = train_feature_model(_training_rows(), tmp_path / "m", folds=3, rounds=30)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["features.json", "model.txt"]
    assert meta["feature_names"] == list(FEATURE_NAMES) and meta["data"]["rows"] == 60
    assert meta["out_of_fold"]["n"] == 60  # no policy siblings: calibrated on every row
    detector = FeatureDetector(tmp_path / "m")
    steps = ["7 × 8 = 56 pens.", "Multiply 8 by 7 to get 56 pens.", "7 × 8 = 66 pens."]
    verdicts = detector.compare(steps, [(0, 1), (0, 2)], Context("7 pens, 8 boxes?"))
    assert [v.equivalent for v in verdicts] == [True, False]
    assert verdicts[0].stage == "features"


def test_training_refuses_test_rows(tmp_path):
    rows = [*_training_rows()[:4], PairRecord("q", [], "a", "b", label=1, split="test")]
    with pytest.raises(ValueError, match="test split"):
        train_feature_model(rows, tmp_path / "m")


def test_model_trained_on_other_features_is_refused(tmp_path):
    train_feature_model(_training_rows(), tmp_path / "m", folds=2, rounds=5)
    meta = json.loads((tmp_path / "m" / "features.json").read_text())
    meta["feature_names"] = meta["feature_names"][:-1]
    (tmp_path / "m" / "features.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other features"):
        FeatureDetector(tmp_path / "m")


def test_cli_trains_and_evaluates_features(tmp_path):
    from equivpruner.cli.app import app

    write_pairs(_training_rows(), tmp_path / "train.jsonl")
    runner = CliRunner()
    res = runner.invoke(app, ["train-detector", str(tmp_path / "train.jsonl"),
                              "--kind", "features", "--out", str(tmp_path / "f")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "threshold" in res.output and (tmp_path / "f" / "model.txt").is_file()
    res = runner.invoke(app, ["eval-detector", str(tmp_path / "train.jsonl"), "--detectors",
                              f"{tmp_path / 'f'},levenshtein"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "features" in res.output and "levenshtein" in res.output
    res = runner.invoke(app, ["train-detector", str(tmp_path / "train.jsonl"), "--kind", "x"])
    assert res.exit_code == 2 and "unknown --kind" in res.output


def test_shipped_model_is_verified_and_ends_the_default_cascade(tmp_path):
    shipped = weights.default_features_model()
    assert shipped is not None, "the features model must ship with the package"
    assert (shipped / "model.txt").stat().st_size < 2 * 2**20
    cascade = make_detector("cascade")
    assert isinstance(cascade.final, FeatureDetector)
    # In front of the features model the lexical stage never rejects: that model decides.
    lexical = cascade.stages[-1]
    assert lexical.name == "levenshtein" and lexical.decide("abc", "xyz")[0] is None
    assert make_detector("cascade-ce").name == "cascade-ce"
    copy = tmp_path / "copy"
    weights.install_features(shipped, copy)
    (copy / "model.txt").write_text("tree\n")
    with pytest.raises(weights.WeightsError, match="corrupt"):
        weights.default_features_model(copy)


def test_operating_points_and_the_abstain_band(tmp_path):
    train_feature_model(_training_rows(), tmp_path / "m", folds=3, rounds=30)
    meta_path = tmp_path / "m" / "features.json"
    meta = json.loads(meta_path.read_text())
    meta["operating_points"] = {
        "prune": {"reject_below": 0.3, "merge_at": 0.6},
        "stop": {"reject_below": 0.3, "merge_at": 0.9},
    }
    meta_path.write_text(json.dumps(meta))
    prune = FeatureDetector(tmp_path / "m")
    assert [prune.decide(p) for p in (0.2, 0.3, 0.59, 0.6, 0.95)] == [False, None, None, True, True]
    stop = FeatureDetector(tmp_path / "m", operating_point="stop")
    assert [stop.decide(p) for p in (0.2, 0.6, 0.89, 0.9)] == [False, None, None, True]
    plain = FeatureDetector(tmp_path / "m", threshold=0.5)
    assert (plain.decide(0.49), plain.decide(0.5)) == (False, True)  # no band
    with pytest.raises(ValueError, match="operating point"):
        FeatureDetector(tmp_path / "m", operating_point="loose")
    # In the band the cascade abstains: not merged, reported as "undecided".
    cascade = make_detector("cascade", final=prune)
    prune.probabilities = lambda rows: [0.45] * len(rows)
    (v,) = cascade.compare(["x apples", "y pears"], [(0, 1)], Context("q"))
    assert (v.equivalent, v.stage, v.probability) == (False, "undecided", 0.45)


def test_operating_points_are_chosen_from_out_of_fold_probabilities():
    # 39 right merges at 0.95 and 1 false at 0.91; 12 right and 4 false at 0.8; 39
    # non-equivalent pairs at 0.2 and one equivalent at 0.1.
    probs = [0.95] * 39 + [0.91] + [0.8] * 16 + [0.2] * 39 + [0.1]
    labels = [1] * 39 + [0] + [1] * 12 + [0] * 4 + [0] * 39 + [1]
    assert merge_point(probs, labels, 0.95) == 0.91  # 39 / 40; with 0.8 it is 51 / 56
    assert merge_point(probs, labels, 0.99) == 0.95
    assert merge_point(probs, labels, 0.95, min_merges=100) == 1.0  # never merge
    assert reject_point(probs, labels, 0.95) == 0.8  # p < 0.8: 39 of 40 not equivalent
    assert reject_point(probs, labels, 1.0) == 0.0
    cfg = FeatureTrainConfig(prune_precision=0.95, stop_precision=0.98, reject_precision=0.95)
    points = operating_points(probs, labels, cfg)
    assert points["prune"]["merge_at"] == 0.91 and points["stop"]["merge_at"] == 0.95
    assert points["prune"]["reject_below"] == points["stop"]["reject_below"] == 0.8
    assert points["prune"]["out_of_fold_precision"] == pytest.approx(39 / 40)


def test_bands_per_kind_of_pair(tmp_path):
    band = Band(0.2, 0.8, {"opening": (0.1, 0.6), "later-words": (0.2, 1.0)})
    assert band.decide(0.7, "opening") is True
    assert band.decide(0.7, "later-numbers") is None  # no band of its own: the overall one
    assert band.decide(0.999, "later-words") is None  # never merged by the model
    assert band.decide(0.1, "later-words") is False
    assert [pair_group(True, True), pair_group(False, False), pair_group(False, True)] == [
        "opening", "later-numbers", "later-words",
    ]  # fmt: skip
    assert band_of({"threshold": 0.7}, "stop").merge_at == 0.95  # a model without points
    train_feature_model(_training_rows(), tmp_path / "m", folds=3, rounds=30)
    meta_path = tmp_path / "m" / "features.json"
    meta = json.loads(meta_path.read_text())
    meta["operating_points"]["prune"] = {
        "reject_below": 0.2, "merge_at": 0.5, "groups": {"later-words": {
            "reject_below": 0.2, "merge_at": 1.0}},
    }  # fmt: skip
    meta_path.write_text(json.dumps(meta))
    detector = FeatureDetector(tmp_path / "m")
    detector.probabilities = lambda rows: [0.99] * len(rows)
    later = Context("How many pens?", ("Each box holds 7 pens.",))
    words = ["Multiply the boxes by the pens.", "Take pens times boxes."]
    with_numbers = ["7 × 8 = 56 pens.", "Multiply 8 by 7 to get 56 pens."]
    assert verdict_of(detector, words, later) is None  # later step, no numbers: abstain
    assert verdict_of(detector, with_numbers, later) is True
    assert verdict_of(detector, words, Context("How many pens?")) is True  # an opening step


def verdict_of(detector, steps, context):
    return detector.compare(steps, [(0, 1)], context)[0].equivalent


def test_cascade_strict_merges_on_more_confidence():
    prune, strict = make_detector("cascade"), make_detector("cascade-strict")
    assert strict.name == "cascade-strict"
    stop = make_detector("cascade", operating_point="stop")
    assert stop.final.threshold == strict.final.threshold
    assert strict.final.threshold > prune.final.threshold
    assert strict.final.reject_below <= prune.final.reject_below
    with pytest.raises(ValueError, match="features model"):
        make_detector("cascade-ce", operating_point="stop")


def test_shipped_model_on_hand_written_siblings():
    detector = make_detector("features")
    steps = [ATE, ATE_REWORDED, ATE_WRONG, LEFT, OPENER, OPENER_REWORDED]
    verdict = {(v.i, v.j): v.equivalent for v in detector.compare(steps, all_pairs(6), CTX)}
    assert verdict[(4, 5)] is True  # the same opener, reworded
    assert verdict[(0, 2)] is False  # one number changed
    assert verdict[(0, 3)] is False  # a different quantity
    assert verdict[(3, 4)] is False
    groups = group_steps(steps, make_detector("cascade"), CTX).groups
    assert [4, 5] in groups and not any({0, 2} <= set(g) for g in groups)


def _tree() -> Tree:
    tree = Tree("Q?", meta={"model": "m"})
    root = tree.root
    first = tree.add_child(root, "2 + 3 = 5")
    first.merged.append(MergeRecord(text="3 + 2 = 5", stage="symbolic", probability=1.0))
    tree.add_child(root, "2 * 3 = 6")
    tree.add_child(first, "C")
    tree.add_child(first, "C")  # byte-identical siblings give no pair
    return tree


def test_tree_pairs_include_pruned_siblings(tmp_path):
    tree = _tree()
    a, b, c = sibling_texts(tree, tree.root)
    assert (a, b, c) == ("2 + 3 = 5", "3 + 2 = 5", "2 * 3 = 6")
    rows = tree_pairs(tree, "gsm8k-3", "test", "gsm8k")
    assert {(r.step_a, r.step_b) for r in rows} == {(a, b), (a, c), (b, c)}
    assert all(r.split == "test" and r.problem_id == "test:gsm8k-3" for r in rows)
    tree.save(tmp_path / "gsm8k-3.json")
    again = pairs_from_tree_files([tmp_path / "gsm8k-3.json"] * 2, "test")
    assert len(again) == 3 and again[0].source == "gsm8k"
    write_pairs(again, tmp_path / "p.jsonl")
    labelled = [PairRecord(**{**r.to_dict(), "label": 1}) for r in read_pairs(tmp_path / "p.jsonl")]
    with pytest.raises(ValueError, match="test split"):
        labelled_rows(labelled, (), (3, 4))


def test_cli_harvest_trees(tmp_path):
    from equivpruner.cli.app import app

    (tmp_path / "trees" / "none").mkdir(parents=True)
    _tree().save(tmp_path / "trees" / "none" / "gsm8k-3.json")
    _tree().save(tmp_path / "trees" / "gsm8k-4.json")
    out = tmp_path / "pairs.jsonl"
    res = CliRunner().invoke(app, ["harvest-trees", str(tmp_path / "trees"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_pairs(out)
    assert len(rows) == 6 and {r.problem_id for r in rows} == {"test:gsm8k-3", "test:gsm8k-4"}
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["harvest-trees", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "no tree files" in res.output
    res = CliRunner().invoke(app, ["harvest-trees", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "cannot read tree" in res.output


def test_cascade_falls_back_to_the_shipped_cross_encoder(monkeypatch):
    pytest.importorskip("peft")
    from equivpruner.equiv import registry
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector

    monkeypatch.setattr(registry, "shipped_features", lambda: None)
    assert isinstance(make_detector("cascade").final, CrossEncoderDetector)
    assert make_detector("cascade").stages[-1].decide("abc", "xyz")[0] is False
    monkeypatch.setattr(registry, "shipped_checkpoint", lambda: None)
    assert make_detector("cascade").final.name == "levenshtein"  # the conservative rule
    with pytest.raises(ValueError, match="no features model"):
        make_detector("features")


def test_math_key_reads_displayed_maths_and_code_not_words():
    from equivpruner.equiv.features import math_key

    a = r"The total is \[ \text{Total} = 27 + 216 = 243 \] deliveries."
    b = r"Adding them, \( 27 + 216 = 243 \), we get the meals."
    assert math_key(a) == "=27+216=243"  # the label goes, its `=` stays
    assert math_key(b) == "27+216=243"
    assert math_key("No maths here.") == ""
    assert math_key(r"An unclosed \[ x = 1") == ""  # nothing read past an unclosed opener
    assert math_key("x", frozenset({"v=v*2"})) == "v=v*2"


def test_features_see_other_maths_other_labels_and_other_programs():
    trig = r"Substituting, \[ \sin x + \cos x + \frac{\sin x}{\cos x} = 7. \]"
    other = r"Substituting, \[ \sin x + \cos x + \sec x = 7. \]"
    same = _features(trig, trig.replace("Substituting", "After substituting"))
    apart = _features(trig, other)
    assert same["math_ratio"] == 1.0 and apart["math_ratio"] < 0.8
    assert _features("Plain words.", trig)["math_ratio"] == -1.0
    fee = _features(
        r"\[ \text{Processing Fee} = 50 - 10 = 40 \]", r"\[ \text{Taxable Amount} = 50 - 10 = 40 \]"
    )
    assert fee["labels_apart"] == 1.0
    end = "print(total_cost)\n```"
    programs = _features(
        "total_cost = unit_price * count\n" + end, "total_cost = unit_price * count / 2\n" + end
    )
    assert programs["code_apart"] == 1.0
    renamed = _features(
        "total_cost = unit_price * count\n" + end, "cost_all = price_each * n\n" + end
    )
    assert renamed["code_apart"] == 0.0


def test_an_environment_variable_names_the_features_model_the_cascade_ends_with(
    tmp_path, monkeypatch
):
    train_feature_model(_training_rows(), tmp_path / "m", folds=2, rounds=5)
    monkeypatch.setenv("EQUIVPRUNER_FEATURES_MODEL", str(tmp_path / "m"))
    for name in ("cascade", "cascade-strict", "features"):
        final = make_detector(name)
        final = getattr(final, "final", final)
        assert Path(final.model_dir) == tmp_path / "m"
    monkeypatch.setenv("EQUIVPRUNER_FEATURES_MODEL", str(tmp_path))
    with pytest.raises(ValueError, match="not a features model"):
        make_detector("cascade")
    monkeypatch.delenv("EQUIVPRUNER_FEATURES_MODEL")
    assert Path(make_detector("cascade").final.model_dir) == weights.default_features_model()
