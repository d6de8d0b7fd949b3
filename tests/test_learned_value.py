"""The learned step value: its features, a fit on Monte Carlo labels of train trees, the
model dir round trip, and the `learned:DIR` spec in the registry and bench arms."""

from __future__ import annotations

import json

import pytest
import yaml

from equivpruner.bench.config import BenchConfig, BenchError
from equivpruner.search import Tree
from equivpruner.search.stats import SearchStats
from equivpruner.value.learned import FEATURES, LearnedValue, step_features
from equivpruner.value.registry import make_value

from .bench_scripts import load_script
from .helpers import NeverDetector

Q = "Tom has 16 apples and buys 4 more bags of 3 apples. How many apples does he have?"


def features(prefix, step):
    return dict(zip(FEATURES, step_features(Q, prefix, step), strict=True))


def test_features_read_arithmetic_operands_and_answers():
    good = features([], "4 * 3 = 12 apples in the bags.")
    assert good["false_arithmetic"] == 0 and good["unexplained_numbers"] == 0
    assert good["question_numbers_used"] == pytest.approx(2 / 3)  # 4 and 3 of 16, 4, 3
    assert features([], "4 * 3 = 13 apples.")["false_arithmetic"] == 1
    assert features([], "He has 16 + 45 = 61 apples.")["unexplained_numbers"] == 1  # 45
    answer = features(["4 * 3 = 12", "16 + 12 = 28"], "So \\boxed{28}")
    assert (answer["answer"], answer["answer_whole"], answer["answer_computed"]) == (1, 1, 1)
    stray = features(["4 * 3 = 12"], "So \\boxed{2.5}")
    assert (stray["answer_whole"], stray["answer_computed"]) == (0, 0)
    assert features(["4 * 3 = 12"], "4 * 3 = 12")["repeats"] == 1
    assert features(["4 * 3 = 13"], "16 + 13 = 29")["false_before"] == 1


def tree_with(right: str, wrong: str) -> Tree:
    """The question; a right and a wrong opener, each leading to one boxed answer."""
    tree = Tree(Q)
    a = tree.add_child(tree.root, right)
    b = tree.add_child(tree.root, wrong)
    tree.add_child(a, "16 + 12 = 28, so \\boxed{28}", terminal=True)
    tree.add_child(b, "16 + 13 = 29, so \\boxed{29}", terminal=True)
    return tree


def write_run(root, split="train", problems=30):
    root.mkdir()
    (root / "trees").mkdir()
    (root / "config.yaml").write_text(
        yaml.safe_dump({"datasets": [{"name": "gsm8k", "split": split}]})
    )
    lines = []
    for k in range(problems):
        tree = tree_with(f"4 * 3 = 12 apples ({k})", f"4 * 3 = 13 apples ({k})")
        tree.save(root / "trees" / f"p{k}.json")
        record = {"arm": "none", "id": f"p{k}", "status": "ok", "gold": "28"}
        lines.append(json.dumps({**record, "tree": f"trees/p{k}.json"}))
    (root / "results.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_fit_on_train_trees_ranks_the_right_step_first(tmp_path):
    fit = load_script("fit_step_value.py")
    run = write_run(tmp_path / "train")
    out = tmp_path / "model"
    assert fit.main([str(run), "--out", str(out), "--rounds", "30"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["rows"] == 30 * 4 and meta["trees"] == 30
    value = make_value(f"learned:{out}", backend=None)
    assert isinstance(value, LearnedValue)
    stats = SearchStats()
    right, wrong = value.score(Q, [], ["4 * 3 = 12 apples.", "4 * 3 = 13 apples."], stats)
    assert 0.0 <= wrong < right <= 1.0
    assert stats.phases["value"].calls == 1 and stats.generated_tokens == 0


def test_a_ranking_fit_orders_siblings_and_maps_scores_into_the_unit_interval(tmp_path):
    fit = load_script("fit_step_value.py")
    run = write_run(tmp_path / "train")
    out = tmp_path / "model"
    assert fit.main([str(run), "--out", str(out), "--rounds", "30", "--objective", "rank"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["objective"], meta["output"]) == ("rank", "sigmoid")
    value = LearnedValue.load(out)
    right, wrong = value.score(Q, [], ["4 * 3 = 12 apples.", "4 * 3 = 13 apples."], SearchStats())
    assert 0.0 < wrong < right < 1.0


def test_fit_refuses_test_problems(tmp_path):
    fit = load_script("fit_step_value.py")
    run = write_run(tmp_path / "test", split="test", problems=2)
    with pytest.raises(SystemExit, match="train problems only"):
        fit.main([str(run), "--out", str(tmp_path / "model")])


def test_a_dir_without_a_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a learned step value"):
        LearnedValue.load(tmp_path)


def test_bench_arms_may_name_their_own_value():
    cfg = BenchConfig.from_dict(
        {"value": "selfeval", "arms": [{"name": "none"}, {"name": "v", "value": "learned:m"}]}
    )
    assert cfg.arm_value("none") == "selfeval" and cfg.arm_value("v") == "learned:m"
    with pytest.raises(BenchError, match="not a value spec"):
        BenchConfig.from_dict({"arms": [{"name": "v", "value": "learned"}]})


def test_confidence_features_are_read_from_the_samples(tmp_path):
    row = step_features(Q, [], "4 * 3 = 12", (-0.2, -1.5, 0.3))
    named = dict(zip(FEATURES, row, strict=True))
    assert (named["mean_logprob"], named["min_logprob"], named["entropy"]) == (-0.2, -1.5, 0.3)
    assert all(x != x for x in step_features(Q, [], "4 * 3 = 12")[-3:])  # NaN: unknown


class RecordingValue:
    """A value that reads the samples' confidence, recording what the expansion passed."""

    name = "recording"

    def __init__(self):
        self.seen = []

    def score(self, question, prefix, candidates, stats):
        raise AssertionError("a value with score_samples is asked through it")

    def score_samples(self, question, prefix, samples, stats):
        self.seen += [(s.text, s.logprob) for s in samples]
        return [0.5] * len(samples)


def test_expansion_hands_a_confidence_reading_value_the_samples():
    from equivpruner.llm.base import Completion
    from equivpruner.llm.scripted import ScriptedBackend
    from equivpruner.search import SearchConfig, SearchEnv
    from equivpruner.search.expand import Expander

    class Confident(ScriptedBackend):
        def _complete(self, text, prompt, params):
            c = super()._complete(text, prompt, params)
            return Completion(c.text, c.tokens, c.prompt_tokens, c.finish_reason, -0.25, -2.0, 0.1)

    value = RecordingValue()
    env = SearchEnv(
        question=Q, backend=Confident({"": ["4 * 3 = 12", "16 + 12 = 28"]}),
        detector=NeverDetector(), value=value, config=SearchConfig(width=2),
    )  # fmt: skip
    Expander(env).expand(env.tree.root)
    assert value.seen == [("4 * 3 = 12", -0.25), ("16 + 12 = 28", -0.25)]


def test_confidence_value_is_the_least_likely_tokens_probability():
    from types import SimpleNamespace

    value = make_value("confidence", backend=None)
    samples = [SimpleNamespace(min_logprob=-0.1), SimpleNamespace(min_logprob=-3.0),
               SimpleNamespace(min_logprob=None)]  # fmt: skip
    sure, unsure, unknown = value.score_samples(Q, [], samples, SearchStats())
    assert sure == pytest.approx(0.905, abs=1e-3) and unsure == pytest.approx(0.0498, abs=1e-3)
    assert unknown == 0.5 and value.score(Q, [], ["a", "b"], SearchStats()) == [0.5, 0.5]
    with pytest.raises(BenchError, match="not a value spec"):
        BenchConfig.from_dict({"value": "confidence:2"})
