"""The offline prefix-pruned best-of-N rule (`benchmarks/prefix_pruned_bon.py`)."""

from __future__ import annotations

import pytest

from equivpruner.equiv.exact import ExactDetector
from equivpruner.search import Tree

from .bench_scripts import load_script

ppb = load_script("prefix_pruned_bon.py")


def chain(*steps_tokens, answer):
    return ppb.Chain([s for s, _ in steps_tokens], [float(t) for _, t in steps_tokens], answer)


DRAWN = [
    chain(("Start.", 10), ("x = 2", 10), ("\\boxed{2}", 10), answer="2"),
    chain(("Start.", 10), ("x = 3", 10), ("\\boxed{3}", 10), answer="3"),
    chain(("Start.", 10), ("x = 3", 10), ("\\boxed{3}", 10), answer="3"),
    chain(("Other.", 10), ("\\boxed{3}", 10), answer="3"),
]


def test_one_agreeing_step_stops_a_chain_and_gives_its_vote_to_the_first():
    answer, paid, done = ppb.simulate(DRAWN, "Q", ExactDetector(), agree=1)
    # chains 2 and 3 stop at "Start." (10 tokens each) and vote with chain 1's "2"
    assert (answer, paid, done) == ("2", 30 + 10 + 10 + 20, 2)


def test_two_agreeing_steps_keep_a_chain_that_differs_at_its_second_step():
    answer, paid, done = ppb.simulate(DRAWN, "Q", ExactDetector(), agree=2)
    # chain 2 differs at step 2 and runs to its end; chain 3 agrees with it on two steps
    assert (answer, paid, done) == ("3", 30 + 30 + 20 + 20, 3)


def test_without_agreement_it_is_best_of_n():
    answer, paid, done = ppb.simulate(DRAWN, "Q", ExactDetector(), agree=99)
    assert (answer, paid, done) == ("3", 110, 3)  # chain 3 walks chain 2's path to its end


def test_chains_spread_a_chains_tokens_over_its_steps_by_length():
    tree = Tree(question="Q")
    first = tree.add_child(tree.root, "ab")
    tree.add_child(first, "\\boxed{12}", terminal=True, tokens=12)
    [only] = ppb.chains(tree)
    assert only.steps == ["ab", "\\boxed{12}"] and only.answer == "12"
    assert only.step_tokens == pytest.approx([2.0, 10.0])
