"""Best-of-N / self-consistency: N full solutions, majority (optionally value-weighted) vote.

The baseline every tree search has to beat per generated token. With `adaptive_stop` it is
Adaptive-Consistency (Aggarwal et al., 2023): solutions come one wave at a time and sampling
stops once the Beta criterion on the vote counts is met (`search.width.answer_stop`). With
`arithmetic_check` the final vote leaves out solutions stating false arithmetic, unless every
solution does (`search.check`).
"""

from __future__ import annotations

from collections import Counter

from ..answers import canonical_answer, majority_vote
from ..llm.base import GenerationParams, state_seed
from .base import BudgetExhausted, SearchEnv, SearchResult, finish
from .check import checked_solutions
from .tree import Node
from .width import CAP, answer_stop


def vote_choice(answers: list[str | None], weights: list[float] | None = None) -> int:
    """Which solution best-of-N answers with: the first whose answer wins the (weighted)
    majority vote, ties to the earliest answer; the first solution when none has an answer.
    The report's nested best-of-N curve chooses with this too."""
    key = canonical_answer(majority_vote(answers, weights))
    return next((k for k, a in enumerate(answers) if canonical_answer(a) == key), 0)


class BestOfN:
    name = "bon"

    def run(self, env: SearchEnv) -> SearchResult:
        leaves = []
        exhausted = False
        try:
            leaves = self._sample(env)
        except BudgetExhausted:
            exhausted = True
        if not leaves:
            return finish(env, [], exhausted)
        if env.config.arithmetic_check:
            leaves = checked_solutions(env.tree, leaves)
        answers = [env.protocol.final_answer(env.tree.steps_to(leaf)) for leaf in leaves]
        weights = None
        if env.config.weighted_vote:
            weights = [self._path_value(env, leaf) for leaf in leaves]
        chosen = leaves[vote_choice(answers, weights)]
        return finish(env, [n.id for n in env.tree.path_to(chosen)], exhausted)

    def _sample(self, env: SearchEnv) -> list[Node]:
        """N solutions at once, or one wave at a time with the adaptive stop. Seeds are keyed
        by the prompt, so the adaptive arm's first n solutions are the fixed arm's first n."""
        cfg, proto = env.config, env.protocol
        prompt = proto.prompt(env.backend, env.question, [])
        leaves: list[Node] = []
        votes: Counter = Counter()
        reason = CAP
        while len(leaves) < cfg.n_samples:
            wave = cfg.n_samples if not cfg.adaptive_stop else cfg.wave_size
            wave = min(wave, cfg.n_samples - len(leaves))
            for leaf in self._draw(env, prompt, wave, len(leaves)):
                leaves.append(leaf)
                answer = proto.final_answer(env.tree.steps_to(leaf))
                if answer is not None:
                    votes[canonical_answer(answer)] += 1
            if cfg.adaptive_stop and len(leaves) < cfg.n_samples:
                if answer_stop(list(votes.values()), cfg.stop_confidence):
                    reason = "answer-agreement"
                    break
        env.tree.root.expanded = True
        env.tree.root.expansion = {"samples": len(leaves), "groups": len(votes), "stop": reason}
        env.stats.width_stops[reason] = env.stats.width_stops.get(reason, 0) + 1
        return leaves

    def _draw(self, env: SearchEnv, prompt: str, n: int, index: int) -> list[Node]:
        cfg, proto = env.config, env.protocol
        if cfg.token_budget is not None and env.stats.generated_tokens >= cfg.token_budget:
            raise BudgetExhausted
        params = GenerationParams(
            n=n,
            stop=(),
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=proto.max_step_tokens * proto.max_depth,
            seed=state_seed(cfg.seed, prompt),
            index=index,
        )
        with env.stats.timed("expansion"):
            completions = env.backend.generate([prompt], params)[0]
        env.stats.record("expansion", completions)
        env.stats.expansions += 1
        env.stats.siblings_generated += len(completions)
        env.stats.siblings_kept += len(completions)
        return [self._add_path(env, c.text, c.tokens, c.finish_reason) for c in completions]

    @staticmethod
    def _add_path(env: SearchEnv, text: str, tokens: int, reason: str) -> Node:
        """A sample becomes a chain of step nodes (tokens are attributed to its last step)."""
        steps = env.protocol.split(text) or [text.strip()]
        node = env.tree.root
        for k, step in enumerate(steps):
            last = k == len(steps) - 1
            node = env.tree.add_child(
                node,
                step,
                prior=1.0 / env.config.n_samples,
                terminal=last,
                finish_reason=reason if last else "stop",
                tokens=tokens if last else 0,
            )
        return node

    @staticmethod
    def _path_value(env: SearchEnv, leaf: Node) -> float:
        steps = env.tree.steps_to(leaf)
        value = env.value.score(env.question, steps[:-1], steps[-1:], env.stats)[0]
        leaf.value = value
        return value
