"""The answer rule over the tree: a vote over the complete solutions, with and without
weights, in MCTS and beam search, and in the bench report."""

from __future__ import annotations

import json

import pytest

from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.search import SearchConfig, SearchEnv, Tree, make_search
from equivpruner.search.tree import MergeRecord
from equivpruner.search.vote import complete_solutions, tree_vote
from equivpruner.steps import StepProtocol
from equivpruner.value.base import ConstantValue

from .helpers import NeverDetector

Q = "What is 2 + 3?"
final_answer = StepProtocol().final_answer


def scripted_tree() -> Tree:
    """Three solutions answer 5, each seen once and rarely visited; one answers 7, visited
    often, of high value, and standing for four merged samples; one path never finishes."""
    tree = Tree(question=Q)
    a = tree.add_child(tree.root, "Add 2 and 3.")
    b = tree.add_child(tree.root, "Multiply.")
    for k in range(3):
        tree.add_child(a, f"So \\boxed{{5}} ({k}).", terminal=True, visits=1, value=0.2,
                       value_sum=0.2)
    merged = [MergeRecord(f"\\boxed{{7}} ({k})", "exact", 1.0) for k in range(4)]
    tree.add_child(b, "Hence \\boxed{7}.", terminal=True, visits=9, value=0.9,
                   value_sum=8.1, merged=merged)
    tree.add_child(b, "Still thinking.")  # not a complete solution
    return tree


@pytest.mark.parametrize(
    ("weights", "winner"),
    [("count", "5"), ("visits", "7"), ("value", "7"), ("groups", "7")],
)
def test_vote_over_a_scripted_tree(weights, winner):
    vote = tree_vote(scripted_tree(), final_answer, weights)
    assert vote.answer == winner
    assert vote.solutions == 4
    assert final_answer(scripted_tree().steps_to(vote.node)) == winner
    if weights == "count":
        assert vote.tally == {"5": 3.0, "7": 1.0}
    if weights == "groups":
        assert vote.tally == {"5": 3.0, "7": 5.0}


def test_vote_without_solutions_or_weights():
    tree = Tree(question=Q)
    tree.add_child(tree.root, "Thinking.")
    assert tree_vote(tree, final_answer).answer is None
    zero = scripted_tree()
    for n in zero.nodes:
        n.visits = 0
    assert tree_vote(zero, final_answer, "visits").answer == "5"  # all zero: one vote each
    assert len(complete_solutions(zero)) == 4


SCRIPT = {
    "": ["a", "b", "c"],
    "a\n\n": ["\\boxed{5}" + EOS],
    "b\n\n": ["\\boxed{5}" + EOS],
    "c\n\n": ["\\boxed{7}" + EOS],
}


class FavourC(ConstantValue):
    """Scores step c and its answer high: the committed path goes to 7."""

    def score(self, question, steps, candidates, stats=None):
        return [0.9 if c in ("c", "\\boxed{7}") else 0.1 for c in candidates]


@pytest.mark.parametrize("algorithm", ["mcts", "beam"])
def test_search_answers_by_vote_when_asked(algorithm, tmp_path):
    answers = {}
    for rule in ("path", "vote"):
        env = SearchEnv(
            question=Q,
            backend=ScriptedBackend(SCRIPT),
            detector=NeverDetector(),
            value=FavourC(),
            config=SearchConfig(algorithm=algorithm, width=3, simulations=4, beam_width=3,
                                c_init=100.0,
                                answer_rule=rule),
            protocol=StepProtocol(max_depth=3),
        )  # fmt: skip
        result = make_search(algorithm).run(env)
        answers[rule] = result.answer
        assert result.tree.meta["vote"]["answer"] == "5"  # recorded under both rules
        assert result.tree.meta["vote"]["solutions"] == 3
    assert answers == {"path": "7", "vote": "5"}


def test_report_gives_accuracy_under_both_rules(tmp_path):
    from equivpruner.bench.metrics import summarize
    from equivpruner.bench.report import add_tree_outcomes

    records = []
    for arm, answer in (("none", "5"), ("cascade", "5")):
        tree = scripted_tree()  # saved without a recorded vote: weighted by merged samples
        if arm == "cascade":
            tree.meta["vote"] = {"answer": "5"}  # recorded by the search (count weights)
        path = tmp_path / "trees" / arm / "p1.json"
        path.parent.mkdir(parents=True)
        tree.save(path)
        records.append({
            "arm": arm, "id": "p1", "dataset": "gsm8k", "gold": "7", "answer": answer,
            "correct": False, "status": "ok", "tree": f"trees/{arm}/p1.json",
            "generated_tokens": 10, "wall_seconds": 1.0, "detector_seconds": 0.0,
            "siblings_kept": 1, "expansions": 1, "value_calls": 0,
        })  # fmt: skip
    add_tree_outcomes(tmp_path, records)
    assert [r["vote_correct"] for r in records] == [True, False]
    assert [r["solutions"] for r in records] == [4, 4]  # the unfinished path is not one
    assert [r["solution_found"] for r in records] == [True, True]  # the 7 is in both
    rows = {r["arm"]: r for r in summarize(records, ["none", "cascade"])}
    assert rows["none"]["accuracy"] == 0.0 and rows["none"]["vote_accuracy"] == 1.0
    assert rows["cascade"]["vote_accuracy"] == 0.0
    assert rows["cascade"]["vote_acc_diff"] == -1.0
    json.dumps(rows["none"])  # plain numbers


def test_report_says_what_the_trees_found_and_what_was_chosen(tmp_path):
    from equivpruner.bench.coverage import coverage, found_section
    from equivpruner.bench.report import add_tree_outcomes

    def record(pid: str, gold: str, correct: bool, tree: bool = True) -> dict:
        if tree:
            path = tmp_path / "trees" / "gate" / f"{pid}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            scripted_tree().save(path)
        return {"arm": "gate", "id": pid, "gold": gold, "correct": correct, "status": "ok",
                "tree": f"trees/gate/{pid}.json" if tree else None}  # fmt: skip

    records = [
        record("p1", "7", False),  # a 7 is in the tree, the path answered 5
        record("p2", "5", True),
        record("p3", "9", False),  # nothing right in the tree
        record("p4", "5", True, tree=False),  # no saved tree: not counted
    ]
    add_tree_outcomes(tmp_path, records)
    assert coverage(records) == {
        "problems": 3, "solutions": 12, "found": 2, "path": 1, "vote": 1, "missed": 1,
    }  # fmt: skip
    lines = found_section({"gate": records, "empty": []})
    assert "| `gate` | 3 | 4.0 | 2 | 1 | 1 | 1 |" in lines
    assert not any("`empty`" in line for line in lines)
    assert found_section({"none": []}) == []
