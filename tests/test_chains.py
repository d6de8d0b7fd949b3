"""Shared chains (`search.chains`): chains drawn step by step down one tree, on a scripted
policy (sample k at a prompt is candidate k, so every draw is predictable)."""

from __future__ import annotations

from equivpruner.bench.config import BenchConfig
from equivpruner.bench.decompose import tree_search_arms
from equivpruner.llm.base import state_seed
from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.search import SearchConfig, SearchEnv, make_search
from equivpruner.steps import StepProtocol
from equivpruner.value.base import ConstantValue

from .helpers import NeverDetector, PairTableDetector

Q = "What is 2 + 3?"
BOX5, BOX7 = "so \\boxed{5}" + EOS, "so \\boxed{7}" + EOS


class CountingBackend(ScriptedBackend):
    """Sample k at a prompt is candidate k (no rotation); records every call's params."""

    def __init__(self, script):
        super().__init__(script)
        self.calls = []

    def generate(self, prompts, params):
        self.calls.append((prompts[0], params))
        return super().generate(prompts, params)


def run(script, detector=None, **cfg):
    config = SearchConfig(
        **{"algorithm": "chains", "width": 5, "width_rule": "new-group", "n_samples": 4, **cfg}
    )
    env = SearchEnv(
        question=Q,
        backend=CountingBackend(script),
        detector=detector or NeverDetector(),
        value=ConstantValue(),
        config=config,
        protocol=StepProtocol(max_depth=4),
    )
    return env, make_search("chains").run(env)


def root_children(env):
    return env.tree.children(env.tree.root)


def test_equivalent_openers_share_a_node_and_later_chains_draw_nothing():
    script = {"": ["add 2 and 3", "2 plus 3", "sum is 5"], "add 2 and 3\n\n": [BOX5]}
    same = {frozenset({"add 2 and 3", "2 plus 3"})}
    env, result = run(script, PairTableDetector(same))
    (opener,) = root_children(env)
    assert opener.text == "add 2 and 3" and [m.text for m in opener.merged] == ["2 plus 3"]
    # chain 1 draws the opener and the answer; chain 2 draws both again (the opener merges,
    # the answer is identical), which settles both nodes; chains 3 and 4 follow for free
    assert len(env.backend.calls) == 4
    assert env.tree.root.expansion["samples"] == 2 and opener.expansion["samples"] == 2
    assert env.tree.root.expansion["stop"] == "no-new-group"
    (leaf,) = env.tree.children(opener)
    assert leaf.visits == 4 and opener.visits == 4
    assert result.answer == "5"
    words = len("add 2 and 3".split()) + len("2 plus 3".split()) + 2 * len("so \\boxed{5}".split())
    assert result.stats.generated_tokens == words


def test_without_a_detector_every_chain_draws_its_own_opener():
    script = {"": ["a", "b", "c", "d"], **{f"{x}\n\n": [BOX5] for x in "abcd"}}
    env, result = run(script)
    assert [c.text for c in root_children(env)] == ["a", "b", "c", "d"]
    assert env.tree.root.expansion["samples"] == 4
    assert result.answer == "5"


def test_draws_are_the_states_samples_in_order():
    script = {"": ["a", "b", "c"], **{f"{x}\n\n": [BOX5] for x in "abc"}}
    env, _ = run(script, n_samples=3)
    root = [(p, params) for p, params in env.backend.calls if p.endswith("<|assistant|>\n")]
    prompt = root[0][0]
    assert [params.index for _, params in root] == [0, 1, 2]
    assert {params.seed for _, params in root} == {state_seed(0, prompt)}
    assert all(params.n == 1 for _, params in env.backend.calls)


def test_settled_node_spreads_chains_over_its_groups_by_their_share():
    script = {"": ["a", "b", "a2"], "a\n\n": [BOX5], "b\n\n": [BOX7]}
    same = {frozenset({"a", "a2"})}
    env, result = run(script, PairTableDetector(same), n_samples=6)
    a, b = root_children(env)
    assert env.tree.root.expansion["stop"] == "no-new-group"  # a2 opened no new group
    assert (a.visits, b.visits) == (4, 2)  # groups of 2 and 1 samples
    assert result.answer == "5"  # four chains say 5, two say 7
    assert env.tree.meta["vote"]["solutions"] == 2  # the tree holds two solutions


def test_answer_agreement_stops_the_chains():
    script = {"": ["a"], "a\n\n": [BOX5]}
    env, result = run(script, n_samples=10, adaptive_stop=True)
    assert env.tree.root.visits == 4  # 4 agreeing votes reach the 0.95 criterion
    assert env.tree.meta["chains_stop"] == "answer-agreement"
    assert result.answer == "5"
    env, _ = run(script, n_samples=10)
    assert env.tree.root.visits == 10 and env.tree.meta["chains_stop"] == "cap"


def test_the_check_redraws_false_arithmetic_and_a_node_with_none_kept_is_a_dead_end():
    script = {"": ["2 + 3 = 6", "2 + 3 = 5"], "2 + 3 = 5\n\n": [BOX5]}
    env, result = run(script, arithmetic_check=True, n_samples=1)
    (child,) = root_children(env)
    assert child.text == "2 + 3 = 5" and result.answer == "5"
    assert result.stats.arithmetic_rejected == 1
    assert result.stats.generated_tokens == 5 + 5 + 2  # the discarded draw counts

    env, result = run({"": ["2 + 3 = 6"]}, arithmetic_check=True, width=3, n_samples=3)
    assert result.answer is None and not root_children(env)
    assert len(env.backend.calls) == 3  # W draws, then later chains meet the dead end
    assert env.tree.root.expansion["stop"] == "dead-end"


def test_a_dead_child_is_not_followed():
    script = {"": ["a", "b", "a"], "a\n\n": ["a + 1 = 3"], "b\n\n": [BOX7]}
    env, result = run(script, arithmetic_check=True, width=2, n_samples=4)
    a, b = root_children(env)
    assert a.value == 0.0  # every draw under it stated false arithmetic
    assert b.visits >= 2 and result.answer == "7"


def test_bench_arm_and_decomposition_know_the_search():
    cfg = BenchConfig.from_dict(
        {"arms": [{"name": "chains", "search": "chains", "n_samples": 5}, {"name": "none"}]}
    )
    assert cfg.search_config(0, "chains").algorithm == "chains"
    assert tree_search_arms(cfg.to_dict(), ["chains", "none"]) == ["chains", "none"]
