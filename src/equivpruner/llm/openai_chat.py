"""What an `openai:` spec and a server-rendered conversation look like to the HTTP backend.

`model_and_options` reads `MODEL[&tokenizer=ID][&timeout=SECONDS]` (the part of an
`openai:URL#…` spec after `#`). A prompt that a server must render (vLLM: no `/props` to read
a template from) travels as a conversation key, `chat_key(messages, partial answer)`: stable
text, so caches and state seeds key on it like on any prompt; `chat_messages` turns it back
into a chat completions request, and `chat_options` adds vLLM's chat extra parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .base import BackendError, Message

CHAT_MARK = "\x1echat\x1e"  # starts a conversation key; never part of a rendered prompt


def model_and_options(fragment: str) -> tuple[str, dict]:
    """`MODEL[&tokenizer=ID][&timeout=SECONDS]`, the part of an `openai:` spec after `#`:
    the served model's name and the backend options the spec carries (so a spec alone, as
    bench and Ray workers get it, can name a tokenizer)."""
    model, *options = fragment.split("&")
    opts: dict = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not value or key not in ("tokenizer", "timeout"):
            raise BackendError(
                f"bad option {option!r} in the openai spec; use "
                "openai:URL#MODEL[&tokenizer=ID][&timeout=SECONDS]"
            )
        if key == "timeout":
            try:
                opts[key] = float(value)
            except ValueError:
                raise BackendError(f"timeout={value!r} in the openai spec is not seconds") from None
        else:
            opts[key] = value
    return model, opts


def chat_key(messages: Sequence[Message], assistant_prefix: str = "") -> str:
    """A prompt that stands for `messages` plus a partial assistant answer (rendered by the
    server): stable text, so caches and state seeds key on it like on any prompt."""
    body = {"messages": [[m.role, m.content] for m in messages], "prefix": assistant_prefix}
    return CHAT_MARK + json.dumps(body, ensure_ascii=False)


def chat_messages(prompt: str) -> tuple[list[dict], bool] | None:
    """The chat request a conversation key stands for: its messages (the partial answer last)
    and whether that answer is to be continued; None for an ordinary prompt."""
    if not prompt.startswith(CHAT_MARK):
        return None
    body = json.loads(prompt[len(CHAT_MARK) :])
    messages = [{"role": role, "content": content} for role, content in body["messages"]]
    if body["prefix"]:
        messages.append({"role": "assistant", "content": body["prefix"]})
    return messages, bool(body["prefix"])


def chat_options(continues: bool) -> dict:
    """vLLM's chat extra parameters to continue the final (assistant) message; none to open
    one (`add_generation_prompt` defaults to true, and servers without these parameters,
    OpenAI's own, then take the request too)."""
    if continues:
        return {"continue_final_message": True, "add_generation_prompt": False}
    return {}
