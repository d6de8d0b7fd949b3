"""The seam between search and language models: one Protocol every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "eos"]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one `generate` call (the knobs vLLM's SamplingParams has too)."""

    n: int = 1
    stop: tuple[str, ...] = ("\n\n",)
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None


@dataclass
class Completion:
    """One sampled continuation.

    `finish_reason` is "stop" when a stop string ended it, "eos" when the model ended its
    message, "length" when `max_tokens` cut it. `mean_logprob` is the mean token log-prob
    when the backend gives it cheaply, else None.
    """

    text: str
    tokens: int
    prompt_tokens: int
    finish_reason: FinishReason
    mean_logprob: float | None = None


@dataclass
class Message:
    role: str
    content: str


@runtime_checkable
class PolicyBackend(Protocol):
    """A causal LM that samples continuations of raw prompts."""

    name: str

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions."""
        ...

    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        """Render `messages` with the model's own chat template, opening an assistant turn that
        already holds `assistant_prefix` (so generation continues a partial message)."""
        ...

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        """For each prompt, the probability of each candidate string as the next token,
        renormalised over the candidates (one forward pass per prompt)."""
        ...

    def count_tokens(self, text: str) -> int: ...


class BackendError(RuntimeError):
    """A backend failed in a way the user can act on (the message says how)."""
