"""Reading a server's token log-probs: the completions shape and the chat shape."""

from __future__ import annotations

import math

from .base import confidence_summary


def token_confidence(choice: dict) -> dict[str, float | None]:
    """`confidence_summary` of one choice's `logprobs`: the completions shape
    (`token_logprobs`, `top_logprobs`: vLLM, SGLang, llama-cpp-python) or the chat shape
    (`content`: llama.cpp's llama-server, chat completions); the entropy is over the top-k
    alternatives returned, renormalised."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return confidence_summary(None)
    if isinstance(lp.get("content"), list):
        entries = [e for e in lp["content"] if isinstance(e, dict)]
        values = [e.get("logprob") for e in entries]
        tops = [
            {str(t.get("token")): t.get("logprob") for t in e.get("top_logprobs") or []}
            for e in entries
        ]
    else:
        values = list(lp.get("token_logprobs") or [])
        tops = list(lp.get("top_logprobs") or [])
    values = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    entropies = [_top_entropy(t) for t in tops if isinstance(t, dict) and t]
    return confidence_summary(values, [e for e in entropies if e is not None])


def _top_entropy(top: dict) -> float | None:
    """Entropy (nats) of the top-k alternatives, renormalised."""
    probs = [
        math.exp(v) for v in top.values() if isinstance(v, int | float) and math.isfinite(v)
    ]
    total = sum(probs)
    if total <= 0:
        return None
    return -sum(p / total * math.log(p / total) for p in probs if p > 0)
