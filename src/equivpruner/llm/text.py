"""Prompt and token helpers shared by the backends (no heavy imports)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime

from .base import BackendError, Message


def _raise(message: str):
    raise ValueError(message)


@functools.lru_cache(maxsize=16)
def _compile_template(template: str):
    from jinja2 import ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[ext.loopcontrols]
    )
    env.filters["tojson"] = lambda value, indent=None, ensure_ascii=False: json.dumps(
        value, indent=indent, ensure_ascii=ensure_ascii
    )
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat_template(
    template: str,
    messages: Sequence[Message],
    assistant_prefix: str = "",
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Render an HF-style Jinja chat template with an open assistant turn, then the prefix."""
    import jinja2

    dicts = [{"role": m.role, "content": m.content} for m in messages]
    try:
        text = _compile_template(template).render(
            messages=dicts, add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
        )
    except (jinja2.TemplateError, ValueError) as exc:
        raise BackendError(f"the model's chat template failed to render: {exc}") from exc
    return text + assistant_prefix


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index of the earliest stop string in `text`, or None."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def renormalise(mass: dict[str, float]) -> dict[str, float]:
    """Scale candidate masses to sum to 1 (uniform when all are zero)."""
    total = sum(mass.values())
    if total <= 0:
        return {c: 1.0 / len(mass) for c in mass}
    return {c: v / total for c, v in mass.items()}


def first_token_ids(encode, candidate: str) -> set[int]:
    """Ids of the first token of `candidate`, with and without a leading space;
    `encode(text)` gives the token ids of a text without special tokens."""
    found = set()
    for variant in {candidate, " " + candidate.lstrip()}:
        toks = encode(variant)
        if toks:
            found.add(toks[0])
    return found


def hf_encoder(tokenizer):
    """`encode(text)` for an HF tokenizer: token ids without special tokens."""
    return lambda text: tokenizer.encode(text, add_special_tokens=False)
