"""The report's nested best-of-N curve, the token decomposition and the tokens–accuracy plot."""

from __future__ import annotations

import csv
import json
import math

import pytest

from equivpruner.api import solve
from equivpruner.bench.config import BenchConfig
from equivpruner.bench.curve import (
    Prefixes,
    at_budget,
    by_dataset_section,
    curve_rows,
    fixed_bon_arm,
    prefix_outcomes,
    solutions,
)
from equivpruner.bench.decompose import decompose, tree_search_arms
from equivpruner.bench.plots import arm_style, curve_labels, tokens_accuracy_figure
from equivpruner.bench.report import finished_arms, write_report
from equivpruner.bench.runner import run_bench
from equivpruner.llm.cache import CachedBackend, GenerationCache
from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.search import SearchConfig, Tree
from equivpruner.search.gate import GATE, BranchGate
from equivpruner.steps import StepProtocol

from .test_confidence import ConfidentBackend

SOLUTIONS = [
    "Add 3 and 4.\n\nSo \\boxed{7}",
    "Guess.\n\nSo \\boxed{5}",
    "Guess again.\n\nSo \\boxed{5}",
    "Add 4 and 3 twice.\n\nSo \\boxed{7}",
    "No idea.",
]


def script(prefix: str) -> list[str]:
    """Whole solutions at the question; a step prefix continues the solution it begins."""
    if prefix == "":
        return SOLUTIONS
    return [s[len(prefix) :] + EOS for s in SOLUTIONS if s.startswith(prefix)] or [EOS]


def chain_tree(chains: list[tuple[list[str], int]]) -> Tree:
    """A best-of-N tree by hand: each chain's steps as new nodes, tokens on its last step."""
    tree = Tree("What is 3 + 4?")
    for steps, tokens in chains:
        node = tree.root
        for k, text in enumerate(steps):
            last = k == len(steps) - 1
            node = tree.add_child(node, text, terminal=last, tokens=tokens if last else 0)
    return tree


def test_prefixes_vote_with_best_of_n_ties_and_count_only_their_tokens():
    tree = chain_tree([
        (["Add.", "\\boxed{7}"], 3), (["\\boxed{5}"], 4), (["Hm.", "\\boxed{5}"], 5),
        (["\\boxed{7}"], 6), (["no answer"], 2),
    ])  # fmt: skip
    assert [n.text for n in solutions(tree)][:2] == ["\\boxed{7}", "\\boxed{5}"]
    p = prefix_outcomes(tree, "7", 6, "q")
    # N=2: 7 and 5 tie, the earliest wins; N=3: 5 leads; N=4: 2-2, the earliest (7) wins
    assert p.correct == [True, True, False, True, True, True]
    assert p.tokens == [3, 7, 12, 18, 20, 20] and p.id == "q"


def bon(n: int, backend, gold: str = "7"):
    config = SearchConfig(algorithm="bon", n_samples=n)
    protocol = StepProtocol(max_depth=4, max_step_tokens=32)
    return solve("What is 3 + 4?", model=backend, search="bon", value="constant",
                 config=config, protocol=protocol, gold=gold, seed=3)  # fmt: skip


class SeedLog(ScriptedBackend):
    """Scripted (draws rotated by the seed); logs every sample's seed."""

    def __init__(self):
        super().__init__(script, rotate_by_seed=True)
        self.sample_seeds: list[int | None] = []

    def generate(self, prompts, params):
        self.sample_seeds += [params.sample_seed(j) for j in range(params.n)]
        return super().generate(prompts, params)


@pytest.mark.parametrize("gold", ["7", "5"])
def test_curve_points_are_the_separate_best_of_n_runs(gold):
    k = 5
    big_backend = SeedLog()
    big = bon(k, big_backend, gold)
    prefixes = prefix_outcomes(big.tree, gold, k)
    assert prefixes.correct[-1] == big.tree.correct
    assert prefixes.tokens[-1] == big.stats.generated_tokens
    for n in range(1, k + 1):
        backend = SeedLog()
        small = bon(n, backend, gold)
        assert backend.sample_seeds == big_backend.sample_seeds[:n]  # the same draws
        assert [x.text for x in solutions(small.tree)] == [
            x.text for x in solutions(big.tree)[:n]]  # fmt: skip
        assert prefixes.correct[n - 1] == small.tree.correct
        assert prefixes.tokens[n - 1] == small.stats.generated_tokens


def test_best_of_k_pays_for_every_smaller_n(tmp_path):
    cache = GenerationCache(tmp_path / "gen.sqlite")
    backend = CachedBackend(ScriptedBackend(script, rotate_by_seed=True), cache)
    bon(5, backend)
    backend.take_counters()
    bon(3, backend)
    counters = backend.take_counters()
    assert (counters.hits, counters.misses) == (3, 0)


def test_fixed_bon_arm_skips_adaptive_arms_and_takes_the_largest():
    arms = [{"name": "none"}, {"name": "bon5", "search": "bon", "n_samples": 5},
            {"name": "bon20a", "search": "bon", "n_samples": 20, "adaptive_stop": True},
            {"name": "bon10", "search": "bon", "n_samples": 10}]  # fmt: skip
    assert fixed_bon_arm({"search": "mcts", "arms": arms}) == ("bon10", 10)
    assert fixed_bon_arm({"search": "mcts", "arms": arms[:1] + arms[2:3]}) is None
    assert fixed_bon_arm({"search": "bon", "n_samples": 8, "arms": [{"name": "x"}]}) == ("x", 8)


def test_the_curve_comes_from_the_largest_best_of_n_arm_that_finished():
    arms = [{"name": "none"}, {"name": "bon5", "search": "bon", "n_samples": 5},
            {"name": "bon10", "search": "bon", "n_samples": 10}]  # fmt: skip
    config = {"search": "mcts", "arms": arms}

    def done(arm: str, ids: str) -> list[dict]:
        return [{"arm": arm, "id": i, "status": "ok"} for i in ids]

    both = done("none", "abc") + done("bon5", "abc")
    assert fixed_bon_arm(config, both + done("bon10", "a")) == ("bon5", 5)  # still running
    assert fixed_bon_arm(config, both + done("bon10", "abc")) == ("bon10", 10)
    assert fixed_bon_arm(config, done("none", "abc") + done("bon10", "a")) == ("bon10", 10)


def vanilla(pid: str, correct: bool, tokens: int, vote: bool) -> dict:
    return {"arm": "none", "id": pid, "status": "ok", "correct": correct,
            "generated_tokens": tokens, "vote_correct": vote}  # fmt: skip


def test_curve_rows_pair_tokens_and_accuracy_with_vanilla():
    prefixes = [Prefixes("a", [False, True], [10, 30]), Prefixes("b", [True, True], [20, 40]),
                Prefixes("c", [False, False], [5, 10])]  # fmt: skip
    base = [vanilla("a", True, 100, True), vanilla("b", False, 100, True)]  # c: not paired
    rows = curve_rows("bon2", prefixes, base)
    assert [(r["n"], r["correct"], r["problems"], r["paired"]) for r in rows] == [
        (1, 1, 3, 2), (2, 2, 3, 2)]  # fmt: skip
    assert rows[0]["tokens_mean"] == pytest.approx(35 / 3)
    assert rows[0]["token_ratio"] == pytest.approx(30 / 200)
    assert rows[1]["token_ratio"] == pytest.approx(70 / 200)
    assert rows[0]["acc_diff"] == pytest.approx(0.0)  # a: -1, b: +1
    assert rows[1]["acc_diff"] == pytest.approx(0.5) and rows[1]["vote_acc_diff"] == 0.0
    assert rows[0]["vote_acc_diff"] == pytest.approx(-0.5)
    assert at_budget(rows, 0.2)["n"] == 1 and at_budget(rows, 1.0)["n"] == 2
    assert at_budget(rows, 0.1) is None and at_budget(rows, math.nan) is None


def test_decomposition_multiplies_out_and_counts_gated_expansions():
    records = [
        {"status": "ok", "expansions": 4, "siblings_generated": 20, "generated_tokens": 450,
         "tokens": {"expansion": 400, "value": 50, "rollout": 0},
         "width_stops": {GATE: 3, "cap": 1}},
        {"status": "ok", "expansions": 6, "siblings_generated": 10, "generated_tokens": 300,
         "tokens": {"expansion": 300}, "width_stops": {"cap": 6}},
        {"status": "failed", "expansions": 0, "siblings_generated": 0, "generated_tokens": 0},
    ]  # fmt: skip
    d = decompose(records)
    assert d["problems"] == 2 and d["expansions_per_problem"] == 5
    assert d["samples_per_expansion"] == 3 and d["tokens_per_sample"] == pytest.approx(700 / 30)
    product = d["expansions_per_problem"] * d["samples_per_expansion"] * d["tokens_per_sample"]
    assert product == pytest.approx(d["step_tokens"]) and d["step_tokens"] == 350
    assert d["other"] == {"value": 25} and d["tokens"] == 375
    assert (d["gated"], d["expansions"], d["gate_share"]) == (3, 10, 0.3)
    config = {"search": "mcts", "arms": [{"name": "none"}, {"name": "b", "search": "bon"},
                                         {"name": "beam", "search": "beam"}]}  # fmt: skip
    assert tree_search_arms(config, ["none", "b", "beam"]) == ["none", "beam"]


def test_plot_draws_the_curve_as_a_line_and_each_arm_as_a_point():
    assert curve_labels(5) == [1, 2, 3, 5] and curve_labels(10) == [1, 2, 3, 5, 10]
    assert curve_labels(12) == [1, 2, 3, 5, 10, 12]
    curve = [{"arm": "bon4", "n": n, "tokens_mean": 100.0 * n, "accuracy": 0.3 + 0.05 * n}
             for n in range(1, 5)]  # fmt: skip
    arms = [{"arm": a, "problems": 10, "accuracy": acc, "acc_lo": acc - 0.1, "acc_hi": acc + 0.1,
             "tokens_mean": t, "tokens_sd": 5.0, "vote_accuracy": v}
            for a, acc, t, v in (("none", 0.4, 900.0, 0.5), ("bon4", 0.5, 400.0, 0.5))]  # fmt: skip
    ax = tokens_accuracy_figure(arms, curve).axes[0]
    line = next(x for x in ax.lines if x.get_label().startswith("best-of-N curve"))
    assert list(line.get_xdata()) == [100.0, 200.0, 300.0, 400.0]
    assert list(line.get_ydata()) == pytest.approx([0.35, 0.4, 0.45, 0.5])
    assert sorted(t.get_text() for t in ax.texts) == ["N=1", "N=2", "N=3", "N=4"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "none" in legend and "bon4" in legend
    hollow = [x for x in ax.lines if x.get_markerfacecolor() == "none"]
    assert [(x.get_xdata()[0], x.get_ydata()[0]) for x in hollow] == [(900.0, 0.5)]


def confidence(text: str) -> float:
    return -0.1 if text.startswith("Add 3") else -1.0


def test_report_shows_the_curve_and_the_decomposition(tmp_path):
    data = tmp_path / "probs.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{k}: 3 + 4?", "answer": "7"}) + "\n"
                            for k in range(3)))  # fmt: skip
    gate = tmp_path / "gate.json"  # closes after a confident first sample
    BranchGate(["mean_logprob"], [0.0, -1.0], [0.0], [1.0], 0.6).save(gate)
    arms = [{"name": "none"}, {"name": "gated", "pruner": "none", "branch_gate": str(gate)},
            {"name": "bon4", "pruner": "none", "search": "bon", "n_samples": 4},
            {"name": "bon4-adaptive", "pruner": "none", "search": "bon", "n_samples": 4,
             "adaptive_stop": True}]  # fmt: skip
    cfg = BenchConfig(datasets=[{"name": str(data)}], search="mcts", width=3, simulations=2,
                      value="constant", arms=arms, out=str(tmp_path / "out"), cache="none",
                      max_depth=4)  # fmt: skip
    backend = ConfidentBackend(script, confidence, rotate_by_seed=True)
    records = run_bench(cfg, backend=backend, progress=False)
    write_report(tmp_path / "out")
    out = tmp_path / "out"
    with open(out / "best_of_n_curve.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["arm"], r["n"], r["problems"]) for r in rows] == [
        ("bon4", str(n), "3") for n in range(1, 5)]  # fmt: skip
    bon4 = [r for r in records if r["arm"] == "bon4"]
    assert rows[-1]["correct"] == str(sum(r["correct"] for r in bon4))
    assert float(rows[-1]["tokens_mean"]) == pytest.approx(
        sum(r["generated_tokens"] for r in bon4) / 3)  # fmt: skip
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Best-of-N curve (nested, from `bon4`)" in report
    assert "Check: N = 4 gives `bon4`'s recorded correctness on 3/3" in report
    section = report.split("## Token decomposition")[1].split("\n## ")[0]
    table = [x for x in section.splitlines() if x.startswith("| `")]
    assert [x.split("|")[1].strip() for x in table] == ["`none`", "`gated`"]
    gated = [Tree.load(out / r["tree"]) for r in records if r["arm"] == "gated"]
    logged = [n.expansion["stop"] for t in gated for n in t.nodes if n.expansion]
    assert 0 < logged.count(GATE) < len(logged)
    assert f"| {logged.count(GATE)}/{len(logged)} (" in table[1]
    assert table[0].endswith(f"| 0/{sum(r['expansions'] for r in records if r['arm'] == 'none')}"
                             " (0.0 %) |")  # fmt: skip


def test_no_two_arms_share_a_colour_and_a_marker():
    styles = [arm_style(k) for k in range(80)]
    assert len(set(styles)) == 80
    assert arm_style(0) != arm_style(10) and arm_style(0)[0] == arm_style(10)[0]


def test_the_plot_leaves_out_arms_that_finished_fewer_problems():
    rows = [{"arm": a, "problems": n} for a, n in (("none", 40), ("gate", 8), ("bon5", 40))]
    plotted, unfinished = finished_arms(rows)
    assert [r["arm"] for r in plotted] == ["none", "bon5"]
    assert unfinished == ["`gate` (8/40)"]
    assert finished_arms([]) == ([], [])


def test_report_sets_each_dataset_against_its_own_curve(tmp_path):
    datasets = []
    for name, gold in (("sevens", "7"), ("fives", "5")):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"question": f"Q{k}: 3 + 4?", "answer": gold}) + "\n"
                                for k in range(2)))  # fmt: skip
        datasets.append({"name": str(path)})
    arms = [{"name": "none"}, {"name": "bon3", "pruner": "none", "search": "bon", "n_samples": 3},
            {"name": "narrow", "pruner": "none", "width": 2}]  # fmt: skip
    cfg = BenchConfig(datasets=datasets, search="mcts", width=3, simulations=2, value="constant",
                      arms=arms, out=str(tmp_path / "out"), cache="none", max_depth=4)  # fmt: skip
    records = run_bench(cfg, backend=ScriptedBackend(script, rotate_by_seed=True), progress=False)
    rows = write_report(tmp_path / "out")
    section = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    section = section.split("## Against the curve, by dataset")[1].split("\n## ")[0]
    names = sorted({r["dataset"] for r in records})
    assert len(names) == 2 and all(f"**{n}**: the curve N = 1 " in section for n in names)
    for name in names:
        part = section.split(f"**{name}**")[1].split("\n**")[0]
        bon3 = [r for r in records if r["arm"] == "bon3" and r["dataset"] == name]
        assert f"N = 3 {sum(r['correct'] for r in bon3)}/2 at " in part
        narrow = next(r for r in rows if r["arm"] == "narrow" and r["dataset"] == name)
        line = next(x for x in part.splitlines() if x.startswith("| `narrow` |"))
        assert line.split("|")[2].strip() == f"{1 - narrow['token_reduction']:.3f}"


def test_no_dataset_is_set_against_a_curve_it_does_not_have(tmp_path):
    records = [
        {"arm": "none", "id": i, "dataset": d, "status": "ok"} for i, d in (("a", "x"), ("b", "y"))
    ]
    summary = [{"dataset": d, "arm": "gate", "token_reduction": 0.5, "accuracy": 0.5,
                "vote_accuracy": 0.5} for d in ("x", "y")]  # fmt: skip
    config = {"search": "mcts", "arms": [{"name": "none"}, {"name": "gate"}]}
    assert by_dataset_section(tmp_path, records, config, summary) == []
