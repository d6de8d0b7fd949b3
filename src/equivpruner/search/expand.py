"""Expansion: sample sibling steps, drop duplicates, score, prune, attach as children.

Seeds are keyed by state: the k-th sample at a prompt is drawn with seed
`state_seed(run seed, prompt) + k`, so two searches (bench arms, reruns) that reach the same
state draw the same siblings there, whatever order they visit states in, and an adaptive
expansion's first n samples are exactly a fixed-width expansion's first n.

With `width_rule="fixed"` all W siblings come in one call (the paper). Any other rule samples
in waves of `wave_size`, groups each new sample against the groups so far, and stops by the
rule (`search.width`); W stays the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..equiv.base import Context
from ..llm.base import GenerationParams, state_seed
from .base import BudgetExhausted, SearchEnv
from .pruning import Candidate, MergePolicy, merge_and_record, prune
from .tree import Node
from .width import CAP, IncrementalGrouping, width_stop

IDENTICAL = "identical"


def _priors(cands: list[Candidate]) -> None:
    """exp(mean log-prob) normalised over siblings when the backend gives log-probs; else
    each sample weighs 1/n, so a group's prior is its share of the samples taken."""
    if cands and all(c.logprob is not None for c in cands):
        weights = [math.exp(c.logprob) for c in cands]
    else:
        weights = [1.0] * len(cands)
    total = sum(weights) or 1.0
    for c, w in zip(cands, weights, strict=True):
        c.prior = w / total


def _fold_identical(cands: list[Candidate]) -> tuple[list[Candidate], int]:
    """Keep the first of byte-identical samples (the paper's vanilla does this too)."""
    seen: dict[str, Candidate] = {}
    for c in cands:
        if c.text in seen:
            seen[c.text].absorb(c, IDENTICAL, 1.0)
        else:
            seen[c.text] = c
    return list(seen.values()), len(cands) - len(seen)


@dataclass
class _Siblings:
    """The samples of one adaptive expansion: distinct texts grouped as they arrive."""

    grouper: IncrementalGrouping
    samples: list[Candidate] = field(default_factory=list)
    distinct: dict[str, int] = field(default_factory=dict)  # text -> index in grouper.steps
    counts: list[int] = field(default_factory=list)  # samples per distinct text

    def add(self, cands: list[Candidate]) -> int:
        """Add a wave; returns how many new groups it opened."""
        self.samples += cands
        new = []
        for c in cands:
            if c.text in self.distinct:
                self.counts[self.distinct[c.text]] += 1
            else:
                self.distinct[c.text] = len(self.counts)
                self.counts.append(1)
                new.append(c.text)
        return self.grouper.add(new)

    def group_sizes(self) -> list[int]:
        return [sum(self.counts[i] for i in g) for g in self.grouper.groups]


class Expander:
    """Turns a leaf into children; every algorithm expands through this one path."""

    def __init__(self, env: SearchEnv):
        self.env = env

    def sample(
        self, node: Node, n: int, temperature: float, index: int = 0, prompt: str | None = None
    ) -> list[Candidate]:
        """Samples `index .. index + n - 1` at `node`'s state (empty/truncated ones dropped)."""
        env, cfg = self.env, self.env.config
        if cfg.token_budget is not None and env.stats.generated_tokens >= cfg.token_budget:
            raise BudgetExhausted
        if prompt is None:
            prompt = env.protocol.prompt(env.backend, env.question, env.tree.steps_to(node))
        params = GenerationParams(
            n=n,
            stop=(env.protocol.delimiter,),
            temperature=temperature,
            top_p=cfg.top_p,
            max_tokens=env.protocol.max_step_tokens,
            seed=state_seed(cfg.seed, prompt),
            index=index,
        )
        with env.stats.timed("expansion"):
            completions = env.backend.generate([prompt], params)[0]
        env.stats.record("expansion", completions)
        env.stats.siblings_generated += len(completions)
        depth = node.depth + 1
        cands = []
        for c in completions:
            text = c.text.strip()
            if not text or (cfg.drop_truncated and c.finish_reason == "length"):
                env.stats.truncated_dropped += bool(text)
                continue
            terminal = env.protocol.is_terminal(text, c.finish_reason, depth)
            cands.append(
                Candidate(text, c.tokens, c.finish_reason, terminal, logprob=c.mean_logprob)
            )
        return cands

    def expand(self, node: Node, n: int | None = None, temperature: float | None = None):
        """Sample, fold identical samples, score and prune (in the configured order), and
        attach the survivors as children of `node`. Returns the new children."""
        cfg = self.env.config
        temp = cfg.temperature if temperature is None else temperature
        cap = n or cfg.width
        if n is None and cfg.width_rule != "fixed":
            return self._expand_adaptive(node, cap, temp)
        cands = self.sample(node, cap, temp)
        self.env.stats.expansions += 1
        node.expanded = True
        _priors(cands)
        distinct, dupes = _fold_identical(cands)
        self.env.stats.exact_duplicates += dupes
        kept = self._score_and_prune(node, distinct)
        self._record(node, len(cands), len(kept), CAP)
        return [self._attach(node, c) for c in kept]

    def _score_and_prune(self, node: Node, cands: list[Candidate]) -> list[Candidate]:
        env, cfg = self.env, self.env.config
        steps = env.tree.steps_to(node)
        context = Context(env.question, tuple(steps))
        policy = MergePolicy(cfg.keep, cfg.value_merge)
        if cfg.prune_order == "before":
            cands = prune(cands, env.detector, context, policy, env.stats)
            self._score(steps, cands)
        else:
            self._score(steps, cands)
            cands = prune(cands, env.detector, context, policy, env.stats)
        env.stats.siblings_kept += len(cands)
        return cands

    def _expand_adaptive(self, node: Node, cap: int, temperature: float) -> list[Node]:
        env, cfg = self.env, self.env.config
        steps = env.tree.steps_to(node)
        prompt = env.protocol.prompt(env.backend, env.question, steps)
        context = Context(env.question, tuple(steps))
        sibs = _Siblings(IncrementalGrouping(env.detector, context))
        env.stats.expansions += 1
        node.expanded = True
        taken, reason = 0, None
        while reason is None:
            wave = min(cfg.wave_size, cap - taken)
            cands = self.sample(node, wave, temperature, index=taken, prompt=prompt)
            taken += wave
            with env.stats.timed("detector"):
                opened = sibs.add(cands)
            sizes = sibs.group_sizes()
            reason = width_stop(
                cfg.width_rule, taken, cap, sizes, opened, cfg.min_width, cfg.unseen_mass
            )
        env.stats.phases["detector"].calls += 1
        return self._finish_adaptive(node, sibs, taken, reason, steps)

    def _finish_adaptive(
        self, node: Node, sibs: _Siblings, taken: int, reason: str, steps: list[str]
    ) -> list[Node]:
        env, cfg = self.env, self.env.config
        _priors(sibs.samples)
        distinct, dupes = _fold_identical(sibs.samples)
        env.stats.exact_duplicates += dupes
        if cfg.prune_order == "after":
            self._score(steps, distinct)
        policy = MergePolicy(cfg.keep, cfg.value_merge)
        kept = merge_and_record(distinct, sibs.grouper.grouping(), policy, env.stats)
        if cfg.prune_order == "before":
            self._score(steps, kept)
        env.stats.siblings_kept += len(kept)
        self._record(node, taken, len(kept), reason)
        return [self._attach(node, c) for c in kept]

    def _record(self, node: Node, samples: int, groups: int, reason: str) -> None:
        node.expansion = {"samples": samples, "groups": groups, "stop": reason}
        stops = self.env.stats.width_stops
        stops[reason] = stops.get(reason, 0) + 1

    def _score(self, steps: list[str], cands: list[Candidate]) -> None:
        if not cands:
            return
        values = self.env.value.score(
            self.env.question, steps, [c.text for c in cands], self.env.stats
        )
        for c, v in zip(cands, values, strict=True):
            c.value = float(v)

    def _attach(self, parent: Node, c: Candidate) -> Node:
        return self.env.tree.add_child(
            parent,
            c.text,
            prior=c.prior,
            value=c.value,
            terminal=c.terminal,
            finish_reason=c.finish_reason,
            tokens=c.tokens,
            logprob=c.logprob,
            merged=c.merged,
        )
