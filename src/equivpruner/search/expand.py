"""Expansion: sample W sibling steps, drop duplicates, score, prune, attach as children."""

from __future__ import annotations

from ..equiv.base import Context
from ..llm.base import GenerationParams
from .base import BudgetExhausted, SearchEnv
from .pruning import Candidate, MergePolicy, prune
from .tree import Node

IDENTICAL = "identical"


def _priors(cands: list[Candidate]) -> None:
    """exp(mean log-prob) normalised over siblings when the backend gives log-probs; else
    each sample weighs 1/W, so identical samples add up to the policy's empirical frequency."""
    if cands and all(c.logprob is not None for c in cands):
        import math

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


class Expander:
    """Turns a leaf into children; every algorithm expands through this one path."""

    def __init__(self, env: SearchEnv):
        self.env = env
        self.count = 0

    def sample(self, node: Node, n: int, temperature: float) -> list[Candidate]:
        env, cfg = self.env, self.env.config
        if cfg.token_budget is not None and env.stats.generated_tokens >= cfg.token_budget:
            raise BudgetExhausted
        steps = env.tree.steps_to(node)
        prompt = env.protocol.prompt(env.backend, env.question, steps)
        params = GenerationParams(
            n=n,
            stop=(env.protocol.delimiter,),
            temperature=temperature,
            top_p=cfg.top_p,
            max_tokens=env.protocol.max_step_tokens,
            seed=cfg.seed * 100_003 + self.count,
        )
        self.count += 1
        with env.stats.timed("expansion"):
            completions = env.backend.generate([prompt], params)[0]
        env.stats.record("expansion", completions)
        env.stats.expansions += 1
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
        env, cfg = self.env, self.env.config
        cands = self.sample(
            node, n or cfg.width, cfg.temperature if temperature is None else temperature
        )
        node.expanded = True
        _priors(cands)
        cands, dupes = _fold_identical(cands)
        env.stats.exact_duplicates += dupes
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
        return [self._attach(node, c) for c in cands]

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
