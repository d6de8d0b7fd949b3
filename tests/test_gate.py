"""Confidence-gated branching and the separate stop detector, on a scripted policy."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import equivpruner.search.gate as gate_module
from equivpruner.equiv.base import Verdict
from equivpruner.search import SearchConfig, SearchEnv, make_search
from equivpruner.search.gate import (
    GATE,
    BranchGate,
    fit_gate,
    load_gate,
    shipped_gates,
    step_kind,
)
from equivpruner.steps import StepProtocol
from equivpruner.value.base import ConstantValue

from .helpers import NeverDetector
from .test_confidence import ConfidentBackend

Q = "What is 2 + 3?"
ROOT = Path(__file__).resolve().parents[1]


class AlwaysDetector:
    name = "always"

    def compare(self, steps, pairs, context):
        return [Verdict(i, j, True, 1.0, "always") for i, j in pairs]


class CountingBackend(ConfidentBackend):
    """Counts the samples drawn at each prompt."""

    def __init__(self, script, logprob, rotate_by_seed=True):
        super().__init__(script, logprob, rotate_by_seed=rotate_by_seed)
        self.drawn: Counter = Counter()

    def generate(self, prompts, params):
        for p in prompts:
            self.drawn[p] += params.n
        return super().generate(prompts, params)


STEPS = {
    "": ["Sure step.", "Unsure step.", "Other step."],
    "Sure step.\n\n": ["Then 2 + 3 = 5.", "\\boxed{5}"],
    "Unsure step.\n\n": ["\\boxed{6}", "Maybe 7."],
    "Other step.\n\n": ["\\boxed{5}"],
}


def SCRIPT(prefix: str) -> list[str]:
    """Every state has a non-empty next step (a first sample the gate can read)."""
    return STEPS.get(prefix, ["So \\boxed{5}."])

CONFIDENCE = {"Sure step.": -0.1, "Unsure step.": -2.0, "Other step.": -1.0}


def confidence(text):
    return CONFIDENCE.get(text, -0.5)


def gate(threshold: float) -> BranchGate:
    """P(new group) = sigmoid(-mean_logprob): a confident first sample closes it first."""
    return BranchGate(["mean_logprob"], [0.0, -1.0], [0.0], [1.0], threshold)


def run(width, rule, the_gate, logprob=confidence, algorithm="mcts", rotate_by_seed=True):
    backend = CountingBackend(SCRIPT, logprob, rotate_by_seed)
    env = SearchEnv(
        question=Q,
        backend=backend,
        detector=NeverDetector(),
        value=ConstantValue(),
        config=SearchConfig(width=width, simulations=3, width_rule=rule,
                            min_width=min(2, width), algorithm=algorithm),
        protocol=StepProtocol(max_depth=3),
        gate=the_gate,
    )  # fmt: skip
    result = make_search(algorithm).run(env)
    return result.tree, backend


@pytest.mark.parametrize("algorithm", ["mcts", "beam"])
@pytest.mark.parametrize("rule", ["fixed", "new-group", "good-turing"])
@pytest.mark.parametrize("width", [1, 2, 3, 5])
@pytest.mark.parametrize("threshold", [0.0, 0.6, 1.0, None])
def test_gate_draws_between_one_and_w_samples(width, rule, threshold, algorithm):
    the_gate = None if threshold is None else gate(threshold)
    tree, backend = run(width, rule, the_gate, algorithm=algorithm)
    expanded = [n for n in tree.nodes if n.expansion]
    assert expanded
    protocol = StepProtocol(max_depth=3)
    for node in expanded:  # what was drawn at the node's state is what its log says
        prompt = protocol.prompt(backend, Q, tree.steps_to(node))
        assert 1 <= backend.drawn[prompt] == node.expansion["samples"] <= width
    assert all(1 <= n <= width for n in backend.drawn.values())
    stops = {n.expansion["stop"] for n in expanded}
    if threshold == 1.0:  # every first sample has confidence: always one sample
        assert all(n.expansion["samples"] == 1 for n in expanded)
        assert set(backend.drawn.values()) == {1}
        assert stops == {GATE} or width == 1
    if threshold == 0.0 and rule == "fixed":  # never closes: W samples, as without a gate
        assert all(n.expansion["samples"] == width for n in expanded)
        assert GATE not in stops


def test_gate_reads_the_first_samples_confidence():
    tree, _ = run(3, "fixed", gate(0.6), rotate_by_seed=False)
    root = tree.root
    assert root.expansion["stop"] == GATE and root.expansion["samples"] == 1
    assert [c.text for c in tree.children(root)] == ["Sure step."]  # sigmoid(0.1) < 0.6
    unsure_first = {"": ["Unsure step.", "Sure step."]}
    backend = CountingBackend(lambda p: unsure_first.get(p) or SCRIPT(p), confidence, False)
    env = SearchEnv(Q, backend, NeverDetector(), ConstantValue(),
                    SearchConfig(width=3, simulations=1), StepProtocol(max_depth=2),
                    gate=gate(0.6))  # fmt: skip
    make_search("mcts").run(env)
    assert env.tree.root.expansion["samples"] == 3  # sigmoid(2.0) ≥ 0.6: branch


def test_gate_stays_open_without_confidence():
    tree, backend = run(3, "fixed", gate(1.0), logprob=lambda text: None)
    assert all(n.expansion["samples"] == 3 for n in tree.nodes if n.expansion)
    assert GATE not in {n.expansion["stop"] for n in tree.nodes if n.expansion}


def test_gate_file_round_trip_and_config(tmp_path):
    path = tmp_path / "gate.json"
    gate(0.6).save(path)
    loaded = load_gate(path)
    assert loaded.probability({"mean_logprob": -0.1}) == pytest.approx(1 / (1 + math.exp(-0.1)))
    assert loaded.probability({"mean_logprob": None}) is None
    env = SearchEnv(Q, CountingBackend(SCRIPT, confidence), NeverDetector(), ConstantValue(),
                    SearchConfig(branch_gate=str(path), gate_threshold=0.0))  # fmt: skip
    assert env.gate is loaded and not env.gate.closes({"mean_logprob": -0.1}, 0.0)
    with pytest.raises(ValueError):
        BranchGate.from_dict({"format": "other"})
    with pytest.raises(ValueError):
        BranchGate.from_dict({**gate(0.5).to_dict(), "features": ["colour"]})
    with pytest.raises(ValueError):
        load_gate(tmp_path / "missing.json")


def test_shipped_gate_by_name(tmp_path, monkeypatch):
    assert "embedded-qwen" in shipped_gates()
    fitted = Path(__file__).resolve().parents[1] / "benchmarks/configs/branch-gate.json"
    assert load_gate("embedded-qwen") == load_gate(fitted)  # the fit the benchmarks ran
    monkeypatch.chdir(tmp_path)  # a file of that name wins over the shipped gate
    gate(0.6).save(tmp_path / "embedded-qwen")
    assert load_gate("embedded-qwen") == gate(0.6)
    with pytest.raises(ValueError, match="cannot read branch gate no-such-gate"):
        load_gate("no-such-gate")
    monkeypatch.chdir(Path(__file__).parent)  # the name again means the shipped file
    monkeypatch.setitem(gate_module.SHIPPED_SHA256, "embedded-qwen", "0" * 64)
    with pytest.raises(ValueError, match="was changed"):
        load_gate("embedded-qwen")


def test_fit_gate_learns_that_confident_samples_repeat():
    rows, labels = [], []
    for k in range(200):
        x = -3.0 * (k % 20) / 20
        rows.append({"mean_logprob": x, "depth": 1.0 + k % 3})
        labels.append(int(x < -1.5) if k % 10 else int(x >= -1.5))  # 10 % noise
    fitted = fit_gate(rows, labels, features=["mean_logprob", "depth"], threshold=0.5)
    assert fitted.probability({"mean_logprob": -2.9, "depth": 2.0}) > 0.7
    assert fitted.probability({"mean_logprob": -0.1, "depth": 2.0}) < 0.3
    with pytest.raises(ValueError):
        fit_gate(rows, [1] * len(rows), features=["mean_logprob"])


def test_step_kind():
    assert step_kind("So the answer is \\boxed{5}.") == "answer"
    assert step_kind("2 + 3 = 5") == "equation"
    assert step_kind("First add the two numbers.") == "prose"
    assert step_kind("anything", terminal=True) == "answer"


def test_fit_script_fits_a_gate_from_logged_trees(tmp_path):
    trees = tmp_path / "run" / "trees" / "arm"
    trees.mkdir(parents=True)
    scripts = [
        {"": ["Sure step.", "Sure step.", "Sure step."], "Sure step.\n\n": ["\\boxed{5}"]},
        {"": ["Unsure step.", "Other step.", "Sure step."], "Unsure step.\n\n": ["\\boxed{6}"],
         "Other step.\n\n": ["\\boxed{5}"], "Sure step.\n\n": ["\\boxed{5}"]},
    ]  # fmt: skip
    for k in range(6):
        backend = CountingBackend(scripts[k % 2], confidence)
        env = SearchEnv(Q, backend, NeverDetector(), ConstantValue(),
                        SearchConfig(width=3, simulations=1), StepProtocol(max_depth=1))
        make_search("mcts").run(env).tree.save(trees / f"{k}.json")  # fmt: skip
    (tmp_path / "run" / "config.yaml").write_text(
        "datasets:\n- {name: gsm8k, split: train, limit: 6}\n"
    )
    out = tmp_path / "gate.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "fit_branch_gate.py"),
           str(tmp_path / "run"), "--out", str(out), "--features", "mean_logprob",
           "--recall", "1.0"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fitted = load_gate(out)
    assert fitted.features == ["mean_logprob"] and fitted.fitted_on["rows"] == 6
    assert fitted.closes({"mean_logprob": -0.1}) and not fitted.closes({"mean_logprob": -2.0})
    (tmp_path / "run" / "config.yaml").write_text("datasets:\n- {name: gsm8k, split: test}\n")
    refused = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode != 0 and "train" in refused.stderr


# --- the stop detector decides the stop, the merge detector the merges --------------------


def adaptive(detector, stop_detector=None, stop_detector_name=None):
    backend = CountingBackend({"": ["a", "b", "c", "d", "e"]}, lambda text: None)
    env = SearchEnv(Q, backend, detector, ConstantValue(),
                    SearchConfig(width=5, simulations=1, width_rule="new-group", min_width=2,
                                 stop_detector=stop_detector_name),
                    StepProtocol(max_depth=1), stop_detector=stop_detector)  # fmt: skip
    make_search("mcts").run(env)
    root = env.tree.root
    return root.expansion, len(root.children)


def test_the_stop_detector_is_the_one_used_for_stopping():
    # merges everything, decides nothing: the stop detector never sees agreement
    expansion, children = adaptive(AlwaysDetector(), stop_detector=NeverDetector())
    assert expansion["samples"] == 5 and expansion["stop"] == "cap" and children == 1
    # merges nothing, but the stop detector sees the second sample agree: stop at 2
    expansion, children = adaptive(NeverDetector(), stop_detector=AlwaysDetector())
    assert expansion["samples"] == 2 and expansion["stop"] == "no-new-group"
    assert children == 2
    assert expansion["opened"] == [1, 0]  # logged under the stop detector's groups
    # without one, the merge detector decides both
    expansion, children = adaptive(AlwaysDetector())
    assert expansion["samples"] == 2 and children == 1
    expansion, _ = adaptive(NeverDetector())
    assert expansion["samples"] == 5


def test_stop_detector_by_name_in_the_config():
    env = SearchEnv(Q, CountingBackend({}, confidence), AlwaysDetector(), ConstantValue(),
                    SearchConfig(stop_detector="exact"))  # fmt: skip
    assert env.stop_detector.name == "exact" and env.detector.name == "always"
    expansion, children = adaptive(AlwaysDetector(), stop_detector_name="exact")
    assert expansion["samples"] == 5 and children == 1  # exact sees five distinct texts


def test_config_refuses_unknown_choices():
    for bad in ({"prior_rule": "x"}, {"answer_rule": "x"}, {"vote_weights": "x"},
                {"gate_threshold": 1.5}):  # fmt: skip
        with pytest.raises(ValueError):
            SearchConfig(**bad)
