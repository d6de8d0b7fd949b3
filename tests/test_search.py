"""Search algorithms and the pruning hook on a scripted policy (deterministic)."""

from __future__ import annotations

import math

import pytest

from equivpruner.equiv.base import Verdict
from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.search import SearchConfig, SearchEnv, Tree, make_search
from equivpruner.search.beam import top_by_value
from equivpruner.search.expand import Expander
from equivpruner.search.mcts import MCTS, commit_choice, puct_score
from equivpruner.search.tree import Node
from equivpruner.steps import StepProtocol
from equivpruner.value.base import ConstantValue

from .helpers import NeverDetector, PairTableDetector


class TextValue:
    """Value looked up by step text (default 0.5); counts scored candidates."""

    name = "text"

    def __init__(self, table):
        self.table = table
        self.scored = 0

    def score(self, question, prefix, candidates, stats):
        self.scored += len(candidates)
        stats.phases["value"].calls += 1
        return [self.table.get(c, 0.5) for c in candidates]


ROOT = ["add 2 and 3", "add 2 and 3", "sum is 5", "multiply 2 by 3 \\boxed{6}"]
SCRIPT = {
    "": ROOT,
    "add 2 and 3\n\n": ["so \\boxed{5}"],
    "sum is 5\n\n": ["answer \\boxed{5}"],
}


def env_for(detector=None, value=None, **cfg) -> SearchEnv:
    return SearchEnv(
        question="What is 2 + 3?",
        backend=ScriptedBackend(SCRIPT),
        detector=detector or NeverDetector(),
        value=value or ConstantValue(),
        config=SearchConfig(width=4, **cfg),
        protocol=StepProtocol(max_depth=4),
    )


def test_identical_samples_fold_and_priors_are_frequencies():
    env = env_for()
    kids = Expander(env).expand(env.tree.root)
    assert [k.text for k in kids] == ROOT[1:]
    assert [k.prior for k in kids] == [0.5, 0.25, 0.25]
    assert kids[0].merged[0].stage == "identical"
    assert env.stats.exact_duplicates == 1
    assert env.stats.siblings_generated == 4 and env.stats.siblings_kept == 3
    assert env.stats.phases["expansion"].generated_tokens == 4 + 4 + 3 + 5


def test_pruning_sums_priors_and_records_stage():
    det = PairTableDetector({frozenset(("add 2 and 3", "sum is 5"))}, stage="symbolic")
    env = env_for(detector=det)
    kids = Expander(env).expand(env.tree.root)
    assert [k.text for k in kids] == ["add 2 and 3", "multiply 2 by 3 \\boxed{6}"]
    assert kids[0].prior == pytest.approx(0.75)
    assert [m.stage for m in kids[0].merged] == ["identical", "symbolic"]
    assert env.stats.merged_by_stage == {"symbolic": 1}
    assert env.stats.detector_pairs == 3


def test_pruned_terminal_flag_never_leaks_onto_survivor():
    det = PairTableDetector({frozenset(("add 2 and 3", "multiply 2 by 3 \\boxed{6}"))})
    env = env_for(detector=det)
    kids = Expander(env).expand(env.tree.root)
    survivor = kids[0]
    assert survivor.text == "add 2 and 3" and not survivor.terminal
    assert survivor.merged[-1].terminal is True


@pytest.mark.parametrize(
    "keep,expected", [("first", "add 2 and 3"), ("value", "sum is 5"), ("prior", "add 2 and 3")]
)
def test_keep_rules(keep, expected):
    det = PairTableDetector({frozenset(("add 2 and 3", "sum is 5"))})
    value = TextValue({"add 2 and 3": 0.2, "sum is 5": 0.9})
    env = env_for(detector=det, value=value, keep=keep)
    kids = Expander(env).expand(env.tree.root)
    assert kids[0].text == expected
    assert kids[0].prior == pytest.approx(0.75)


class ProbabilityTable:
    """Equivalent when the listed pair probability is at least 0.5 (0.0 for unlisted pairs)."""

    name = "probs"

    def __init__(self, probs: dict[frozenset[str], float]):
        self.probs = probs

    def compare(self, steps, pairs, context):
        out = []
        for i, j in pairs:
            p = self.probs.get(frozenset((steps[i], steps[j])), 0.0)
            out.append(Verdict(i, j, p >= 0.5, p, self.name))
        return out


def test_keep_medoid_keeps_the_member_closest_to_the_others():
    a, b, c = "add 2 and 3", "sum is 5", "multiply 2 by 3 \\boxed{6}"
    # one group of three; b is the most central (0.6 + 0.95), a the least (0.6 + 0.55)
    det = ProbabilityTable({frozenset((a, b)): 0.6, frozenset((a, c)): 0.55,
                            frozenset((b, c)): 0.95})  # fmt: skip
    env = env_for(detector=det, keep="medoid")
    (kid,) = Expander(env).expand(env.tree.root)
    assert kid.text == b and kid.prior == pytest.approx(1.0)
    assert sorted((m.text, m.probability) for m in kid.merged if m.stage == "probs") == [
        (a, 0.6),
        (c, 0.95),
    ]
    env = env_for(detector=det, keep="first")
    assert Expander(env).expand(env.tree.root)[0].text == a


@pytest.mark.parametrize("rule,expected", [("keep", 0.2), ("mean", 0.55), ("max", 0.9)])
def test_value_combination(rule, expected):
    det = PairTableDetector({frozenset(("add 2 and 3", "sum is 5"))})
    value = TextValue({"add 2 and 3": 0.2, "sum is 5": 0.9})
    env = env_for(detector=det, value=value, value_merge=rule)
    kids = Expander(env).expand(env.tree.root)
    assert kids[0].value == pytest.approx(expected)


def test_prune_before_scoring_saves_value_calls():
    det = PairTableDetector({frozenset(("add 2 and 3", "sum is 5"))})
    after, before = TextValue({}), TextValue({})
    Expander(env_for(detector=det, value=after)).expand(Tree("q").root)
    env = env_for(detector=det, value=before, prune_order="before")
    Expander(env).expand(env.tree.root)
    assert (after.scored, before.scored) == (3, 2)


def test_puct_prefers_prior_when_unvisited_and_value_when_visited():
    parent = Node(0, "", visits=10)
    a = Node(1, "a", prior=0.8, value=0.1)
    b = Node(2, "b", prior=0.2, value=0.5)
    c = math.log((10 + 19652 + 1) / 19652) + 1.25
    assert puct_score(parent, a, 19652, 1.25) == pytest.approx(0.1 + c * 0.8 * math.sqrt(10))
    assert puct_score(parent, a, 19652, 1.25) > puct_score(parent, b, 19652, 1.25)
    a.visits, a.value_sum = 9, 0.9
    assert puct_score(parent, a, 19652, 1.25) < puct_score(parent, b, 19652, 1.25)


def test_backup_and_commit_rule():
    path = [Node(0, ""), Node(1, "x"), Node(2, "y")]
    MCTS.backup(path, 0.7)
    MCTS.backup(path[:2], 0.1)
    assert [n.visits for n in path] == [2, 2, 1]
    assert path[1].q == pytest.approx(0.4)
    kids = [Node(3, "p", visits=2, value_sum=0.2), Node(4, "q", visits=2, value_sum=1.0)]
    assert commit_choice(kids).id == 4
    kids.append(Node(5, "r", visits=3))
    assert commit_choice(kids).id == 5


def run(search: str, **cfg):
    env = env_for(**cfg)
    return make_search(search).run(env)


def test_mcts_commits_most_visited_and_finishes():
    value = TextValue({"sum is 5": 0.9, "add 2 and 3": 0.1, "answer \\boxed{5}": 0.9})
    env = env_for(value=value, simulations=3)
    result = MCTS().run(env)
    assert result.steps[0] == "sum is 5"
    assert result.answer == "5"
    root = env.tree.root
    assert root.visits == 3
    # round 1: one simulation expands the root, two descend into "sum is 5" (PUCT);
    # round 2 runs three more from "sum is 5" itself.
    assert [env.tree.nodes[c].visits for c in root.children] == [0, 5, 0]


def seeded_tree(seed: int) -> dict:
    """An MCTS tree whose root siblings depend on the seed: the scripted policy rotates its
    four root candidates by the sample seed and only two are drawn."""
    env = SearchEnv(
        question="What is 2 + 3?",
        backend=ScriptedBackend(SCRIPT, rotate_by_seed=True),
        detector=NeverDetector(),
        value=ConstantValue(),
        config=SearchConfig(width=2, simulations=3, seed=seed),
        protocol=StepProtocol(max_depth=4),
    )
    tree = make_search("mcts").run(env).tree.to_dict()
    tree["meta"]["stats"].pop("wall_seconds")
    for p in tree["meta"]["stats"]["phases"].values():
        p.pop("seconds")
    return tree


def test_same_seed_same_tree_and_other_seeds_other_trees():
    trees = [seeded_tree(seed) for seed in range(6)]
    assert seeded_tree(0) == trees[0] and seeded_tree(5) == trees[5]
    roots = {tuple(n["text"] for n in t["nodes"] if n["parent"] == 0) for t in trees}
    assert len(roots) > 1, "the run seed never changed what was drawn"


def test_beam_keeps_top_by_value():
    value = TextValue({"sum is 5": 0.9, "multiply 2 by 3 \\boxed{6}": 0.8, "add 2 and 3": 0.1})
    env = env_for(value=value, beam_width=2)
    assert make_search("beam").run(env).answer == "6"  # the finished 0.8 beats 0.5
    value.table["answer \\boxed{5}"] = 0.95
    env = env_for(value=value, beam_width=2)
    result = make_search("beam").run(env)
    assert result.answer == "5" and result.steps == ["sum is 5", "answer \\boxed{5}"]
    assert env.stats.expansions == 2
    nodes = [Node(1, "a", value=0.3), Node(2, "b", value=0.9), Node(3, "c", value=0.9)]
    assert [n.id for n in top_by_value(nodes, 2)] == [2, 3]


def test_best_of_n_majority_and_weighted_vote():
    samples = ["x\n\n\\boxed{5}", "y\n\n\\boxed{7}", "z\n\n\\boxed{5}"]
    backend = ScriptedBackend({"": samples})
    env = SearchEnv("q", backend, NeverDetector(), ConstantValue(), SearchConfig(n_samples=3))
    assert make_search("bon").run(env).answer == "5"
    value = TextValue({"\\boxed{7}": 1.0, "\\boxed{5}": 0.1})
    cfg = SearchConfig(n_samples=3, weighted_vote=True)
    env = SearchEnv("q", backend, NeverDetector(), value, cfg)
    result = make_search("bon").run(env)
    assert result.answer == "7" and result.steps == ["y", "\\boxed{7}"]


def test_token_budget_stops_sampling():
    result = run("mcts", simulations=3, token_budget=5)
    assert result.budget_exhausted
    assert result.stats.expansions == 1


def test_greedy_follows_first_sample_to_terminal():
    backend = ScriptedBackend({"": ["one", "two"], "one\n\n": ["done" + EOS]})
    env = SearchEnv("q", backend, NeverDetector(), ConstantValue())
    result = make_search("greedy").run(env)
    assert result.steps == ["one", "done"]
    assert env.tree.nodes[result.tree.chosen_path[-1]].finish_reason == "eos"


def test_truncated_samples_are_dropped():
    backend = ScriptedBackend({"": ["cut off<len>", "fine"]})
    env = SearchEnv("q", backend, NeverDetector(), ConstantValue(), SearchConfig(width=2))
    kids = Expander(env).expand(env.tree.root)
    assert [k.text for k in kids] == ["fine"] and env.stats.truncated_dropped == 1


def test_tree_json_round_trip(tmp_path):
    det = PairTableDetector({frozenset(("add 2 and 3", "sum is 5"))})
    result = run("mcts", simulations=2, detector=det)
    path = tmp_path / "t.json"
    result.tree.save(path)
    loaded = Tree.load(path)
    assert loaded.to_dict() == result.tree.to_dict()
    assert loaded.nodes[1].merged[-1].stage == "table"


def test_loading_a_non_tree_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"nodes": []}')
    with pytest.raises(ValueError, match="not an equivpruner tree"):
        Tree.load(bad)
