"""The seam between search and language models: one Protocol every backend implements."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "eos"]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one `generate` call (the knobs vLLM's SamplingParams has too).

    Sample `j` of the call is sample number `index + j` at its prompt and is drawn with seed
    `seed + index + j`, so the k-th sample at a prompt is the same whether it was drawn in a
    wave of one or of five (backends that cannot guarantee this say so in their docstring).
    """

    n: int = 1
    stop: tuple[str, ...] = ("\n\n",)
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    index: int = 0

    def sample_seed(self, j: int) -> int | None:
        """The seed of sample `j` of this call (None: the backend's own randomness)."""
        return None if self.seed is None else self.seed + self.index + j


@dataclass
class Completion:
    """One sampled continuation.

    `finish_reason` is "stop" when a stop string ended it, "eos" when the model ended its
    message, "length" when `max_tokens` cut it.

    The policy's confidence in the sample, where the backend gives it (else None):
    `mean_logprob` and `min_logprob` over its tokens' log-probs under the model (temperature
    1, before top-p), `entropy` the mean per-token entropy of the next-token distribution
    (nats; full vocabulary, or the top-k the server returned). `token_ids` and
    `token_logprobs` are the per-token values behind them; caches and trees keep only the
    summaries.
    """

    text: str
    tokens: int
    prompt_tokens: int
    finish_reason: FinishReason
    mean_logprob: float | None = None
    min_logprob: float | None = None
    entropy: float | None = None
    token_ids: list[int] | None = field(default=None, repr=False)
    token_logprobs: list[float] | None = field(default=None, repr=False)


CONFIDENCE_FIELDS = ("mean_logprob", "min_logprob", "entropy")


def confidence_summary(
    logprobs: Sequence[float] | None, entropies: Sequence[float] | None = None
) -> dict[str, float | None]:
    """`mean_logprob`, `min_logprob` and `entropy` of one sample from its per-token values
    (all None for a sample without tokens or without log-probs)."""
    if not logprobs:
        return dict.fromkeys(CONFIDENCE_FIELDS)
    values = [float(v) for v in logprobs]
    ent = [float(e) for e in entropies or [] if e is not None]
    return {
        "mean_logprob": sum(values) / len(values),
        "min_logprob": min(values),
        "entropy": sum(ent) / len(ent) if ent else None,
    }


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


def state_seed(run_seed: int, prompt: str) -> int:
    """A seed keyed by the search state: the same (run seed, prompt) gives the same seed in
    every arm and every rerun, whatever order the search visits states in."""
    digest = hashlib.sha256(f"{int(run_seed)}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 2**16)  # room for sample offsets


class BackendError(RuntimeError):
    """A backend failed in a way the user can act on (the message says how)."""
