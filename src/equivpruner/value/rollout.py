"""Rollout value: finish the solution k times from each candidate, score agreement with the vote."""

from __future__ import annotations

from collections.abc import Sequence

from ..answers import canonical_answer, majority_vote
from ..llm.base import Completion, GenerationParams, PolicyBackend, state_seed
from ..search.stats import SearchStats
from ..steps import StepProtocol


class RolloutValue:
    """Value of a candidate = fraction of its k rollouts whose final answer equals the majority.

    The majority is taken over all rollouts of all candidates scored together. A candidate that
    already boxes an answer is not sampled: its own answer stands for its k rollouts. Sampling
    is keyed by state: the rollouts of a prompt use seed `state_seed(seed, prompt)`, so the
same state gets the same rollouts in every arm and rerun.
    """

    name = "rollout"

    def __init__(
        self,
        backend: PolicyBackend,
        protocol: StepProtocol | None = None,
        k: int = 2,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int = 0,
    ):
        if k < 1:
            raise ValueError(f"rollout k must be >= 1, got {k}")
        self.backend = backend
        self.protocol = protocol or StepProtocol()
        self.k, self.max_tokens, self.temperature = k, max_tokens, temperature
        self.seed = seed

    def _params(self, prompt: str) -> GenerationParams:
        return GenerationParams(
            n=self.k,
            stop=(),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=state_seed(self.seed, prompt),
        )

    def _answer(self, steps: Sequence[str], completion: Completion) -> str | None:
        return self.protocol.final_answer([*steps, *self.protocol.split(completion.text)])

    def rollout_answers(
        self, question: str, prefix: Sequence[str], candidates: Sequence[str], stats: SearchStats
    ) -> list[list[str | None]]:
        """For each candidate, the final answers of its k rollouts (None: no answer)."""
        answers: list[list[str | None]] = [[] for _ in candidates]
        pending = []
        for i, cand in enumerate(candidates):
            own = self.protocol.final_answer([cand])
            if own is not None:
                answers[i] = [own] * self.k
            else:
                pending.append(i)
        if not pending:
            return answers
        with stats.timed("rollout"):
            steps = {i: [*prefix, candidates[i]] for i in pending}
            prompts = [self.protocol.prompt(self.backend, question, steps[i]) for i in pending]
            results = [self.backend.generate([p], self._params(p))[0] for p in prompts]
            stats.record("rollout", [c for comps in results for c in comps])
        for i, comps in zip(pending, results, strict=True):
            answers[i] = [self._answer(steps[i], c) for c in comps]
        return answers

    def score(
        self,
        question: str,
        prefix: Sequence[str],
        candidates: Sequence[str],
        stats: SearchStats,
    ) -> list[float]:
        if not candidates:
            return []
        answers = self.rollout_answers(question, prefix, candidates, stats)
        flat = [a for per in answers for a in per]
        majority = majority_vote(flat)
        if majority is None:
            return [0.0] * len(candidates)
        keys: dict[str, str | None] = {}
        target = canonical_answer(majority)
        out = []
        for per in answers:
            hits = 0
            for ans in per:
                if ans is not None and ans not in keys:
                    keys[ans] = canonical_answer(ans)
                hits += ans is not None and keys[ans] == target
            out.append(hits / len(per) if per else 0.0)
        return out
