"""Self-evaluation: the policy itself judges each step, value = P("Yes") as the next token."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..llm.base import Message, PolicyBackend
from ..search.stats import SearchStats
from ..steps import StepProtocol

JUDGE_SYSTEM = (
    "You check one step of a math solution. Judge only the new step, given the question "
    "and the steps before it."
)
JUDGE_QUESTION = "Is this step correct and useful? Answer Yes or No."


def judge_messages(question: str, prefix: Sequence[str], candidate: str) -> list[Message]:
    """The chat that asks the judge about `candidate` (previous steps numbered)."""
    previous = "\n".join(f"Step {i}: {s}" for i, s in enumerate(prefix, 1)) or "(none)"
    user = (
        f"Question:\n{question}\n\nPrevious steps:\n{previous}\n\n"
        f"New step:\n{candidate}\n\n{JUDGE_QUESTION}"
    )
    return [Message("system", JUDGE_SYSTEM), Message("user", user)]


def _unit(p: float) -> float:
    p = float(p)
    return 0.0 if math.isnan(p) else min(1.0, max(0.0, p))


class SelfEvalValue:
    """Scores a step with the policy's P(yes) over {yes, no}: one forward pass per candidate."""

    name = "selfeval"

    def __init__(
        self,
        backend: PolicyBackend,
        protocol: StepProtocol | None = None,
        yes: str = "Yes",
        no: str = "No",
    ):
        self.backend = backend
        self.protocol = protocol or StepProtocol()
        self.yes, self.no = yes, no

    def prompts(self, question: str, prefix: Sequence[str], candidates: Sequence[str]) -> list[str]:
        """One judge prompt per candidate, rendered with the backend's chat template."""
        return [self.backend.chat_prompt(judge_messages(question, prefix, c)) for c in candidates]

    def score(
        self,
        question: str,
        prefix: Sequence[str],
        candidates: Sequence[str],
        stats: SearchStats,
    ) -> list[float]:
        if not candidates:
            return []
        with stats.timed("value"):
            prompts = self.prompts(question, prefix, candidates)
            probs = self.backend.next_token_probs(prompts, [self.yes, self.no])
            phase = stats.phases["value"]
            phase.calls += len(prompts)
            phase.prompt_tokens += sum(self.backend.count_tokens(p) for p in prompts)
        return [_unit(p.get(self.yes, 0.0)) for p in probs]
