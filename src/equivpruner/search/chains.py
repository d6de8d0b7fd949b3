"""Shared chains: self-consistency drawn step by step down one tree, equivalent steps shared.

Best-of-N spends its tokens on independent chains, and on a small policy that exploration is
what finds answers; but most chains open with a step another chain already wrote. Here
chains come one after another from the root, as in best-of-N with Adaptive-Consistency's
stop. At each node a chain either draws the node's next sample (seed keyed by the state,
index = the node's draws so far, so arms share the generation cache) or, once the node's
samples have settled, follows one of its children without drawing:

- a drawn sample equivalent to a child already there (the merge detector) is folded into
  that child and the chain goes on under it: the duplicate step is pruned, and with it the
  subtree it would have grown;
- a node has settled when the width rule stops on its samples (`width_rule`, `min_width`,
  `unseen_mass`, grouped by the stop detector when there is one) or after W draws;
- at a settled node a chain follows the child whose share of the node's samples is least
  used by the chains so far (so the chains spread over its groups as samples would).

With the arithmetic check a drawn step stating false arithmetic is discarded (its tokens
count) and the node draws again, up to W draws; a node with no child after W draws is a dead
end and the chain that met it ends without an answer. Chains stop by the answer-agreement
rule (`adaptive_stop`) or after `n_samples`; the answer is the majority vote over the
chains (one vote per chain, ties to the earliest), as best-of-N answers. Each node's
`visits` counts the chains that went through it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..answers import canonical_answer
from ..equiv.base import Context
from .base import BudgetExhausted, SearchEnv, SearchResult, finish
from .best_of_n import vote_choice
from .expand import Expander, SiblingGroups
from .pruning import Candidate
from .tree import MergeRecord, Node
from .width import CAP, IncrementalGrouping, answer_stop, width_stop

DEAD = "dead-end"


@dataclass
class _NodeDraws:
    """What the chains have drawn at one node so far."""

    sibs: SiblingGroups
    children: list[int]  # child node id per merge group, in the groups' order
    draws: int = 0
    rejected: int = 0
    settled: str | None = None  # the stop reason once no chain draws here any more


class SharedChains:
    name = "chains"

    def run(self, env: SearchEnv) -> SearchResult:
        self.env = env
        self.expander = Expander(env)
        self.draws: dict[int, _NodeDraws] = {}
        leaves: list[Node] = []
        answers: list[str | None] = []
        exhausted = False
        try:
            self._chains(leaves, answers)
        except BudgetExhausted:
            exhausted = True
        self._record()
        if not leaves:
            return finish(env, [], exhausted)
        chosen = leaves[vote_choice(answers)]
        return finish(env, [n.id for n in env.tree.path_to(chosen)], exhausted)

    def _chains(self, leaves: list[Node], answers: list[str | None]) -> None:
        cfg, proto = self.env.config, self.env.protocol
        votes: Counter = Counter()
        for _ in range(cfg.n_samples):
            leaf = self._chain()
            if leaf is None:
                continue
            leaves.append(leaf)
            answer = proto.final_answer(self.env.tree.steps_to(leaf))
            answers.append(answer)
            if answer is not None:
                votes[canonical_answer(answer)] += 1
            if cfg.adaptive_stop and answer_stop(list(votes.values()), cfg.stop_confidence):
                self.env.tree.meta["chains_stop"] = "answer-agreement"
                return
        self.env.tree.meta["chains_stop"] = CAP

    def _chain(self) -> Node | None:
        """One chain from the root to a complete solution; None when it met a dead end or
        the depth limit without an answer."""
        tree, proto = self.env.tree, self.env.protocol
        node = tree.root
        node.visits += 1
        while not node.terminal and node.depth < proto.max_depth:
            child = self._next(node)
            if child is None:
                node.value = 0.0
                return None
            child.visits += 1
            node = child
        return node if node.terminal else None

    def _next(self, node: Node) -> Node | None:
        """The child a chain at `node` goes on to: one it draws while the node is open (or
        when every child has proved a dead end and draws are left), else one it follows."""
        state = self._state(node)
        live = self._live(state)
        if state.settled is None or (not live and state.draws < self.env.config.width):
            child = self._draw(node, state)
            if child is not None and child.value != 0.0:
                return child
            live = self._live(state)
        if not live:
            state.settled = DEAD
            return None
        return self._follow(state, live)

    def _live(self, state: _NodeDraws) -> list[int]:
        """Children that have not proved dead ends (a dead end's value is 0)."""
        return [c for c in state.children if self.env.tree.nodes[c].value != 0.0]

    def _state(self, node: Node) -> _NodeDraws:
        if node.id not in self.draws:
            env = self.env
            context = Context(env.question, tuple(env.tree.steps_to(node)))
            stopper = None
            if env.stop_detector is not None:
                stopper = IncrementalGrouping(env.stop_detector, context)
            grouper = IncrementalGrouping(env.detector, context)
            self.draws[node.id] = _NodeDraws(SiblingGroups(grouper, stopper), [])
            node.expanded = True
            env.stats.expansions += 1
        return self.draws[node.id]

    def _draw(self, node: Node, state: _NodeDraws) -> Node | None:
        """Draw at `node` until a sample is kept (W draws at most); the child it joins or
        opens, or None when every draw was discarded."""
        env, cap = self.env, self.env.config.width
        while state.draws < cap:
            cands = self.expander.sample(node, 1, env.config.temperature, index=state.draws)
            state.draws += 1
            state.rejected += self.expander.rejected
            if cands:
                child = self._join(node, state, cands[0])
                self._settle(state)
                return child
        state.settled = CAP
        return None

    def _join(self, node: Node, state: _NodeDraws, cand: Candidate) -> Node:
        env = self.env
        with env.stats.timed("detector"):
            state.sibs.add([cand])
        group = state.sibs.merge_group(cand.text)
        if group == len(state.children):  # a new merge group: a new child
            child = env.tree.add_child(
                node, cand.text, prior=1.0, terminal=cand.terminal,
                finish_reason=cand.finish_reason, tokens=cand.tokens, logprob=cand.logprob,
                min_logprob=cand.min_logprob, entropy=cand.entropy,
            )  # fmt: skip
            state.children.append(child.id)
            env.stats.siblings_kept += 1
            return child
        child = env.tree.nodes[state.children[group]]
        stage, probability = self._merge_reason(state, child.text, cand.text)
        child.merged.append(
            MergeRecord(cand.text, stage, probability, cand.tokens, terminal=cand.terminal)
        )
        if stage == "identical":
            env.stats.exact_duplicates += 1
        else:
            env.stats.merged_by_stage[stage] = env.stats.merged_by_stage.get(stage, 0) + 1
        return child

    @staticmethod
    def _merge_reason(state: _NodeDraws, kept: str, folded: str) -> tuple[str, float]:
        if kept == folded:
            return "identical", 1.0
        grouper = state.sibs.grouper
        a, b = sorted((grouper.steps.index(kept), grouper.steps.index(folded)))
        verdict = next((v for v in grouper.verdicts if (v.i, v.j) == (a, b)), None)
        return (verdict.stage, verdict.probability) if verdict else ("unknown", 1.0)

    def _settle(self, state: _NodeDraws) -> None:
        cfg = self.env.config
        kept = state.draws - state.rejected
        opened = state.sibs.opened[-1] if state.sibs.opened else 0
        state.settled = CAP if state.draws >= cfg.width else width_stop(
            cfg.width_rule, kept, cfg.width, state.sibs.group_sizes(), opened, cfg.min_width,
            cfg.unseen_mass,
        )  # fmt: skip

    def _follow(self, state: _NodeDraws, live: list[int]) -> Node:
        """The live child whose share of the node's samples the chains have used least."""
        tree = self.env.tree
        sizes = state.sibs.merge_sizes()
        share = {c: sizes[g] for g, c in enumerate(state.children)}
        best = max(live, key=lambda c: (share[c] / (1 + tree.nodes[c].visits), -c))
        return tree.nodes[best]

    def _record(self) -> None:
        """Each node's draws as its expansion record, and the stop reasons in the stats."""
        env = self.env
        for node_id, state in self.draws.items():
            reason = state.settled or "open"
            env.tree.nodes[node_id].expansion = {
                "samples": state.draws,
                "groups": len(state.children),
                "stop": reason,
                "opened": list(state.sibs.opened),
                "rejected": state.rejected,
            }
            env.stats.width_stops[reason] = env.stats.width_stops.get(reason, 0) + 1
