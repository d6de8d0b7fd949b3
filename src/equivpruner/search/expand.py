"""Expansion: sample sibling steps, drop duplicates, score, prune, attach as children.

Seeds are keyed by state: the k-th sample at a prompt is drawn with seed
`state_seed(run seed, prompt) + k`, so two searches (bench arms, reruns) that reach the same
state draw the same siblings there, whatever order they visit states in, and an adaptive
expansion's first n samples are exactly a fixed-width expansion's first n.

With `width_rule="fixed"` all W siblings come in one call (the paper). Any other rule samples
in waves of `wave_size`, groups each new sample against the groups so far, and stops by the
rule (`search.width`); W stays the cap. With a stop detector (`SearchConfig.stop_detector`)
the stop decision groups with it while merging groups with the search's detector. With a
branch gate (`search.gate`) the first sample is drawn alone, and the expansion stays at one
sample when the gate closes; otherwise it goes on as the width rule says.

Each expansion logs, per kept sample in generation order, whether it opened a new group and
its confidence (`Node.expansion`): the rows the gate is fitted on.

With the arithmetic check (`search.check`) a sample stating false arithmetic is discarded as
it arrives (its tokens count): it is neither a child nor evidence for the width rule's stop
or the gate, which reads the first sample kept; the expansion draws on up to W draws (a
chain's single next step too). A node all of whose draws were discarded is a dead end: its
value becomes 0. At temperature 0 nothing is discarded: a redraw would be the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..equiv.base import Context
from ..llm.base import GenerationParams, state_seed
from .base import BudgetExhausted, SearchEnv
from .check import false_equalities
from .gate import GATE, sample_features, step_kind
from .pruning import Candidate, MergePolicy, merge_and_record, prune
from .tree import Node
from .width import CAP, IncrementalGrouping, width_stop

IDENTICAL = "identical"


def _priors(cands: list[Candidate], rule: str = "empirical") -> None:
    """Rule "confidence": exp(mean log-prob) normalised over siblings when the backend gave
    every sample's log-probs; otherwise ("empirical") each sample weighs 1/n, so a group's
    prior is its share of the samples taken."""
    if rule == "confidence" and cands and all(c.logprob is not None for c in cands):
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
class SiblingGroups:
    """The samples of one node: distinct texts grouped as they arrive (an adaptive
    expansion's, or the draws shared chains make at a node one at a time)."""

    grouper: IncrementalGrouping  # the merge detector's groups
    stopper: IncrementalGrouping | None = None  # the stop detector's (None: the merge's)
    samples: list[Candidate] = field(default_factory=list)
    distinct: dict[str, int] = field(default_factory=dict)  # text -> index in grouper.steps
    counts: list[int] = field(default_factory=list)  # samples per distinct text
    opened: list[int] = field(default_factory=list)  # per sample: opened a stop group

    def add(self, cands: list[Candidate]) -> int:
        """Add a wave; returns how many new groups (of the stop grouping) it opened."""
        opened = 0
        for c in cands:
            self.samples.append(c)
            if c.text in self.distinct:
                self.counts[self.distinct[c.text]] += 1
                self.opened.append(0)
                continue
            self.distinct[c.text] = len(self.counts)
            self.counts.append(1)
            new = self.grouper.add([c.text])
            if self.stopper is not None:
                new = self.stopper.add([c.text])
            self.opened.append(new)
            opened += new
        return opened

    def group_sizes(self) -> list[int]:
        """Samples per group of the grouping the stop decision reads."""
        groups = (self.stopper or self.grouper).groups
        return [sum(self.counts[i] for i in g) for g in groups]

    def merge_group(self, text: str) -> int:
        """The index of the merge detector's group that holds an added sample `text`."""
        k = self.distinct[text]
        return next(g for g, members in enumerate(self.grouper.groups) if k in members)

    def merge_sizes(self) -> list[int]:
        """Samples per group of the merge detector's grouping."""
        return [sum(self.counts[i] for i in g) for g in self.grouper.groups]


class Expander:
    """Turns a leaf into children; every algorithm expands through this one path."""

    def __init__(self, env: SearchEnv):
        self.env = env
        self.rejected = 0  # samples the arithmetic check discarded in the last `sample` call

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
        cands, self.rejected = [], 0
        for c in completions:
            text = c.text.strip()
            if not text or (cfg.drop_truncated and c.finish_reason == "length"):
                env.stats.truncated_dropped += bool(text)
                continue
            if cfg.arithmetic_check and temperature > 0 and false_equalities(text):
                self.rejected += 1
                continue
            terminal = env.protocol.is_terminal(text, c.finish_reason, depth)
            cands.append(
                Candidate(
                    text, c.tokens, c.finish_reason, terminal, logprob=c.mean_logprob,
                    min_logprob=c.min_logprob, entropy=c.entropy,
                )
            )  # fmt: skip
        env.stats.arithmetic_rejected += self.rejected
        return cands

    def gate_closes(self, node: Node, first: list[Candidate]) -> bool:
        """Whether the branch gate keeps `node`'s expansion to its first sample."""
        env = self.env
        if env.gate is None or not first:
            return False
        c = first[0]
        confidence = {"mean_logprob": c.logprob, "min_logprob": c.min_logprob, "entropy": c.entropy}
        raw = sample_features(confidence, node.depth + 1, step_kind(c.text, c.terminal))
        return env.gate.closes(raw, env.config.gate_threshold)

    def _sample_fixed(self, node: Node, cap: int, temperature: float):
        """W samples at once; with a gate, the first kept alone and the rest only if it
        opens. Returns the samples kept, the stop reason, and (draws, draws discarded)."""
        env = self.env
        if env.gate is None or cap <= 1:
            return self.sample(node, cap, temperature), CAP, (cap, self.rejected)
        prompt = env.protocol.prompt(env.backend, env.question, env.tree.steps_to(node))
        first, taken, rejected = self._until_kept(node, 1, cap, temperature, prompt)
        if self.gate_closes(node, first):
            return first, GATE, (taken, rejected)
        if taken < cap:
            first += self.sample(node, cap - taken, temperature, index=taken, prompt=prompt)
            rejected += self.rejected
        return first, CAP, (cap, rejected)

    def _until_kept(
        self, node: Node, n: int, limit: int, temperature: float, prompt: str | None = None
    ) -> tuple[list[Candidate], int, int]:
        """`n` samples; while the check discards them all, single draws go on, up to `limit`
        draws in all. Returns the samples kept, the draws, and the draws discarded."""
        cands = self.sample(node, n, temperature, prompt=prompt)
        taken, rejected = n, self.rejected
        while not cands and self.rejected and taken < limit:
            cands = self.sample(node, 1, temperature, index=taken, prompt=prompt)
            taken, rejected = taken + 1, rejected + self.rejected
        return cands, taken, rejected

    def expand(self, node: Node, n: int | None = None, temperature: float | None = None):
        """Sample, fold identical samples, score and prune (in the configured order), and
        attach the survivors as children of `node`. Returns the new children."""
        cfg = self.env.config
        temp = cfg.temperature if temperature is None else temperature
        cap = n or cfg.width
        if n is None and cfg.width_rule != "fixed":
            return self._expand_adaptive(node, cap, temp)
        if n is None:
            cands, reason, draws = self._sample_fixed(node, cap, temp)
        else:
            cands, taken, rejected = self._until_kept(node, cap, cfg.width, temp)
            reason, draws = CAP, (taken, rejected)  # a chain's next step: W draws at most
        self.env.stats.expansions += 1
        node.expanded = True
        _priors(cands, cfg.prior_rule)
        distinct, dupes = _fold_identical(cands)
        self.env.stats.exact_duplicates += dupes
        kept = self._score_and_prune(node, distinct)
        opened = _opened_by_groups(cands, kept)
        self._record(node, draws, len(kept), reason, cands, opened)
        return self._attach_all(node, kept, draws[1])

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
        stopper = None
        if env.stop_detector is not None:
            stopper = IncrementalGrouping(env.stop_detector, context)
        sibs = SiblingGroups(IncrementalGrouping(env.detector, context), stopper)
        env.stats.expansions += 1
        node.expanded = True
        taken, rejected, reason = 0, 0, None
        while reason is None:
            # the gate reads the first sample kept, alone
            first = taken == rejected and env.gate is not None
            wave = 1 if first else min(cfg.wave_size, cap - taken)
            cands = self.sample(node, wave, temperature, index=taken, prompt=prompt)
            taken, rejected = taken + wave, rejected + self.rejected
            if self.rejected and not cands:  # the check discarded the whole wave
                reason = CAP if taken >= cap else None
                continue
            with env.stats.timed("detector"):
                opened = sibs.add(cands)
            sizes = sibs.group_sizes()
            reason = CAP if taken >= cap else width_stop(
                cfg.width_rule, taken - rejected, cap, sizes, opened, cfg.min_width,
                cfg.unseen_mass,
            )  # fmt: skip
            if reason is None and first and self.gate_closes(node, cands):
                reason = GATE
        env.stats.phases["detector"].calls += 1
        return self._finish_adaptive(node, sibs, (taken, rejected), reason, steps)

    def _finish_adaptive(
        self, node: Node, sibs: SiblingGroups, draws: tuple[int, int], reason: str, steps: list[str]
    ) -> list[Node]:
        env, cfg = self.env, self.env.config
        _priors(sibs.samples, cfg.prior_rule)
        distinct, dupes = _fold_identical(sibs.samples)
        env.stats.exact_duplicates += dupes
        if cfg.prune_order == "after":
            self._score(steps, distinct)
        policy = MergePolicy(cfg.keep, cfg.value_merge)
        kept = merge_and_record(distinct, sibs.grouper.grouping(), policy, env.stats)
        if cfg.prune_order == "before":
            self._score(steps, kept)
        env.stats.siblings_kept += len(kept)
        self._record(node, draws, len(kept), reason, sibs.samples, sibs.opened)
        return self._attach_all(node, kept, draws[1])

    def _record(
        self,
        node: Node,
        draws: tuple[int, int],
        groups: int,
        reason: str,
        cands: list[Candidate],
        opened: list[int],
    ) -> None:
        node.expansion = {
            "samples": draws[0],
            "groups": groups,
            "stop": reason,
            "opened": list(opened),
            "mean_logprobs": [c.logprob for c in cands],
            "min_logprobs": [c.min_logprob for c in cands],
            "entropies": [c.entropy for c in cands],
            "kinds": [step_kind(c.text, c.terminal) for c in cands],
        }
        if self.env.config.arithmetic_check:
            node.expansion["rejected"] = draws[1]
        stops = self.env.stats.width_stops
        stops[reason] = stops.get(reason, 0) + 1

    def _score(self, steps: list[str], cands: list[Candidate]) -> None:
        if not cands:
            return
        env = self.env
        scorer = getattr(env.value, "score_samples", None)  # a value that reads confidence
        if scorer is not None:
            values = scorer(env.question, steps, cands, env.stats)
        else:
            values = env.value.score(env.question, steps, [c.text for c in cands], env.stats)
        for c, v in zip(cands, values, strict=True):
            c.value = float(v)

    def _attach_all(self, parent: Node, kept: list[Candidate], rejected: int) -> list[Node]:
        """The survivors as children; a node whose every kept sample was discarded by the
        arithmetic check is a dead end, valued 0 from now on."""
        if not kept and rejected:
            parent.value = 0.0
        return [self._attach(parent, c) for c in kept]

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
            min_logprob=c.min_logprob,
            entropy=c.entropy,
            merged=c.merged,
        )


def _opened_by_groups(samples: list[Candidate], kept: list[Candidate]) -> list[int]:
    """Per sample in generation order: 1 when it is the first of its group (the survivors
    and what each absorbed give the groups)."""
    group_of: dict[str, int] = {}
    for g, survivor in enumerate(kept):
        for text in [survivor.text, *(m.text for m in survivor.merged)]:
            group_of.setdefault(text, g)
    seen: set[int] = set()
    flags = []
    for c in samples:
        g = group_of.get(c.text, -1 - len(flags))  # a sample no group holds stands alone
        flags.append(int(g not in seen))
        seen.add(g)
    return flags
