"""The arithmetic check: which stated equalities are false, and what expansion, the tree vote
and best-of-N do with a step that states one (scripted policy)."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from equivpruner.bench.config import BenchConfig, BenchError
from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.search import SearchConfig, SearchEnv, Tree, make_search
from equivpruner.search.check import consistent, false_equalities, flawed_solution
from equivpruner.search.gate import GATE, BranchGate
from equivpruner.search.vote import tree_vote
from equivpruner.steps import StepProtocol
from equivpruner.value.base import ConstantValue

from .cli_helpers import cli
from .helpers import NeverDetector
from .test_confidence import ConfidentBackend
from .test_gate import AlwaysDetector

Q = "What is 3 times 4?"
final_answer = StepProtocol().final_answer


@pytest.mark.parametrize(
    ("text", "false"),
    [
        ("60 + 180 + 54 = 304", 1),
        ("\\[ \\text{Total} = 60 + 180 + 54 = 294 \\]", 0),
        ("3 × 4 = 13 and 2 + 2 = 5", 2),
        ("87 \\div 93 = 9.78", 1),
        ("0.15 \\times 130,000 = 195,000", 1),
        ("60-24 = 36-9 = 27", 0),  # a running chain
        ("10 / 3 = 3.33", 0),  # rounded to its last decimal place
        ("2/3 = 0.67", 0),
        ("30/13.5 = 2 years", 0),  # rounded to a whole number
        ("20% of 50 = 10", 0),
        ("\\left( \\frac{12}{20} \\right) \\times 100 = 60\\%", 0),  # a per cent, as written
        ("12 / 20 = 60%", 0),
        ("12 / 20 \\times 100 = 70\\%", 1),
        ("6 dozen = 6 \\times 12 = 72", 0),
        ("2 hours = 120 minutes", 0),  # a conversion, not arithmetic the parser reads
        ("x + 5 = 12", 0),  # an unknown: nothing computed
        ("The answer is \\boxed{18}.", 0),
        ("No numbers at all.", 0),
    ],
)
def test_false_equalities(text, false):
    assert false_equalities(text) == false


def test_rounding_is_half_a_unit_of_the_last_stated_place():
    third = Fraction(1, 3)
    assert consistent(third, Fraction("0.33")) and consistent(third, Fraction("0.3"))
    assert not consistent(third, Fraction("0.34"))
    assert consistent(Fraction(45, 2), Fraction(22))  # 22.5 → 22: half a unit
    assert not consistent(Fraction(21), Fraction(22))
    assert consistent(Fraction(1001), Fraction(1000))  # within 0.5 %


ROOT = {"": ["So 3 * 4 = 13.", "So 3 * 4 = 12.", "So 3 * 4 = 11."]}
SCRIPT = {
    **ROOT,
    "So 3 * 4 = 12.\n\n": ["\\boxed{12}" + EOS],
    "So 3 * 4 = 13.\n\n": ["\\boxed{13}" + EOS],
    "So 3 * 4 = 11.\n\n": ["\\boxed{11}" + EOS],
}


def search(config: SearchConfig, script=SCRIPT, backend=None, detector=None, gate=None):
    env = SearchEnv(
        question=Q,
        backend=backend or ScriptedBackend(script),
        detector=detector or NeverDetector(),
        value=ConstantValue(),
        config=config,
        protocol=StepProtocol(max_depth=3),
        gate=gate,
    )
    return make_search(config.algorithm).run(env)


@pytest.mark.parametrize("algorithm", ["mcts", "beam"])
def test_fixed_width_discards_false_steps_and_counts_their_tokens(algorithm):
    plain = search(SearchConfig(algorithm=algorithm, width=3, simulations=3))
    checked = search(SearchConfig(algorithm=algorithm, width=3, simulations=3,
                                  arithmetic_check=True))  # fmt: skip
    kids = [n.text for n in checked.tree.children(checked.tree.root)]
    assert kids == ["So 3 * 4 = 12."]
    assert len(plain.tree.children(plain.tree.root)) == 3
    assert checked.answer == "12"
    assert checked.stats.arithmetic_rejected == 2 and plain.stats.arithmetic_rejected == 0
    assert checked.tree.root.expansion["rejected"] == 2
    assert "rejected" not in plain.tree.root.expansion
    assert checked.tree.root.expansion["samples"] == 3
    # 3 root samples of 6 words, discarded ones included, then 3 of "\boxed{12}"
    assert checked.stats.phases["expansion"].generated_tokens == 3 * 6 + 3


def test_a_discarded_sample_is_no_evidence_for_the_width_stop():
    """Everything is 'equivalent': without the check the second sample stops the expansion
    (no new group), with it the false first sample does not count and a third is drawn."""
    script = {"": ["So 3 * 4 = 13.", "So 3 * 4 = 12.", "Then 3 * 4 = 12."]}
    cfg = dict(width=5, simulations=1, width_rule="new-group", min_width=2)
    plain = search(SearchConfig(**cfg), script, detector=AlwaysDetector())
    checked = search(SearchConfig(**cfg, arithmetic_check=True), script,
                     detector=AlwaysDetector())  # fmt: skip
    assert plain.tree.root.expansion["samples"] == 2
    assert plain.tree.children(plain.tree.root)[0].text == "So 3 * 4 = 13."
    exp = checked.tree.root.expansion
    assert (exp["samples"], exp["rejected"], exp["stop"]) == (3, 1, "no-new-group")
    assert [n.text for n in checked.tree.children(checked.tree.root)] == ["So 3 * 4 = 12."]


def test_the_gate_reads_the_first_sample_kept():
    always = BranchGate(["mean_logprob"], [0.0, 0.0], [0.0], [1.0], 1.0)  # closes at once
    backend = ConfidentBackend(SCRIPT, lambda text: -0.1)
    cfg = dict(width=5, simulations=1, width_rule="new-group", min_width=2)
    checked = search(SearchConfig(**cfg, arithmetic_check=True), backend=backend, gate=always)
    exp = checked.tree.root.expansion
    assert (exp["samples"], exp["rejected"], exp["stop"]) == (2, 1, GATE)
    assert [n.text for n in checked.tree.children(checked.tree.root)] == ["So 3 * 4 = 12."]
    plain = search(SearchConfig(**cfg), backend=ConfidentBackend(SCRIPT, lambda t: -0.1),
                   gate=always)  # fmt: skip
    assert plain.tree.root.expansion["samples"] == 1


class FavourBad(ConstantValue):
    def score(self, question, steps, candidates, stats=None):
        return [0.9 if c == "Bad start." else 0.5 for c in candidates]


def test_a_node_whose_every_draw_is_false_is_a_dead_end():
    script = {
        "": ["Bad start.", "Good start."],
        "Bad start.\n\n": ["1 + 1 = 3."],
        "Good start.\n\n": ["\\boxed{12}" + EOS],
    }
    env = SearchEnv(question=Q, backend=ScriptedBackend(script), detector=NeverDetector(),
                    value=FavourBad(),
                    config=SearchConfig(width=2, simulations=3, arithmetic_check=True),
                    protocol=StepProtocol(max_depth=3))  # fmt: skip
    result = make_search("mcts").run(env)
    bad = next(n for n in result.tree.nodes if n.text == "Bad start.")
    assert bad.expanded and not bad.children and bad.value == 0.0
    assert result.answer == "12"


def solutions_tree(flawed_twice: bool = True) -> Tree:
    tree = Tree(question=Q)
    for text in ["3 * 4 = 13.", "3 * 4 = 13.", "3 * 4 = 12."]:
        if not flawed_twice and text.endswith("13."):
            text = "Three fours are 13."  # the parser reads no equality here
        step = tree.add_child(tree.root, text)
        answer = text.split("= ")[-1].rstrip(".") if "=" in text else "13"
        tree.add_child(step, f"\\boxed{{{answer}}}", terminal=True)
    return tree


def test_the_checked_vote_leaves_flawed_solutions_out():
    tree = solutions_tree()
    leaves = [n for n in tree.nodes if n.terminal]
    assert [flawed_solution(tree, n) for n in leaves] == [True, True, False]
    assert tree_vote(tree, final_answer).answer == "13"
    assert tree_vote(tree, final_answer, check=True).answer == "12"
    assert tree_vote(solutions_tree(False), final_answer, check=True).answer == "13"
    only_flawed = Tree(question=Q)
    step = only_flawed.add_child(only_flawed.root, "3 * 4 = 13.")
    only_flawed.add_child(step, "\\boxed{13}", terminal=True)
    assert tree_vote(only_flawed, final_answer, check=True).answer == "13"  # all flawed


def test_best_of_n_votes_without_flawed_chains():
    chains = {"": ["3 * 4 = 13.\n\n\\boxed{13}" + EOS] * 2 + ["3 * 4 = 12.\n\n\\boxed{12}" + EOS]}
    cfg = dict(algorithm="bon", n_samples=3)
    assert search(SearchConfig(**cfg), script=chains).answer == "13"
    assert search(SearchConfig(**cfg, arithmetic_check=True), script=chains).answer == "12"


def test_bench_arms_take_the_check_as_true_or_false():
    data = {
        "datasets": [{"name": "gsm8k", "limit": 1}],
        "arms": [{"name": "checked", "pruner": "none", "arithmetic_check": True}],
    }
    config = BenchConfig.from_dict(data)
    assert config.search_config(0, "checked").arithmetic_check is True
    assert config.search_config(0).arithmetic_check is False
    data["arms"][0]["arithmetic_check"] = "yes"
    with pytest.raises(BenchError, match="true or false"):
        BenchConfig.from_dict(data)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5_000 + "1" + ")" * 5_000 + " = 2",
        "9^{9^{9^{9}}} = 1",
        "1 + " * 20_000 + "1 = 3",
        "\\frac{" * 300 + "1" + "}{2}" * 300 + " = 7",
    ],
)
def test_hostile_steps_are_read_within_the_parser_budget(text):
    assert false_equalities(text) in (0, 1)  # counted operations, no exception, no hang


def test_solve_arithmetic_check_reaches_the_search_and_says_what_it_discarded():
    args = ["solve", "--search", "mcts", "--width", "3", "--simulations", "1", "-v"]
    result = cli(*args, "--arithmetic-check", "--json", Q, backend=ScriptedBackend(SCRIPT))
    assert result.exit_code == 0, result.output
    assert "expansion of node 0 (depth 1): 3 samples, 1 group, " in result.stderr
    assert "2 discarded by the arithmetic check" in result.stderr
    record = json.loads(result.stdout)
    assert record["answer"] == "12" and record["search"]["arithmetic_check"] is True
    plain = cli(*args, Q, backend=ScriptedBackend(SCRIPT))
    assert "discarded" not in plain.stderr


def test_with_fixed_width_the_gate_also_reads_the_first_sample_kept():
    always = BranchGate(["mean_logprob"], [0.0, 0.0], [0.0], [1.0], 1.0)  # closes at once
    backend = ConfidentBackend(SCRIPT, lambda text: -0.1)
    checked = search(SearchConfig(width=3, simulations=1, arithmetic_check=True),
                     backend=backend, gate=always)  # fmt: skip
    exp = checked.tree.root.expansion
    assert (exp["samples"], exp["rejected"], exp["stop"]) == (2, 1, GATE)
    assert [n.text for n in checked.tree.children(checked.tree.root)] == ["So 3 * 4 = 12."]
    never = BranchGate(["mean_logprob"], [0.0, 0.0], [0.0], [1.0], 0.0)  # stays open
    opened = search(SearchConfig(width=3, simulations=1, arithmetic_check=True),
                    backend=ConfidentBackend(SCRIPT, lambda t: -0.1), gate=never)  # fmt: skip
    exp = opened.tree.root.expansion
    assert (exp["samples"], exp["rejected"], exp["stop"]) == (3, 2, "cap")


def test_a_sampled_chain_redraws_a_false_step_and_greedy_keeps_its_only_one():
    sampled = search(SearchConfig(algorithm="sampled", width=3, arithmetic_check=True))
    assert sampled.steps == ["So 3 * 4 = 12.", "\\boxed{12}"]
    exp = sampled.tree.root.expansion
    assert (exp["samples"], exp["rejected"]) == (2, 1)
    greedy = search(SearchConfig(algorithm="greedy", width=3, arithmetic_check=True))
    assert greedy.steps == ["So 3 * 4 = 13.", "\\boxed{13}"]  # a redraw would be the same
    assert greedy.stats.arithmetic_rejected == 0
    every_draw_false = {"": ["So 3 * 4 = 13."]}
    dead = search(SearchConfig(algorithm="sampled", width=3, arithmetic_check=True),
                  script=every_draw_false)  # fmt: skip
    assert dead.answer is None and dead.tree.root.expansion["samples"] == 3
