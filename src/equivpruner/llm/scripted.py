"""A deterministic backend that replays scripted continuations (unit tests, demos, docs).

The script maps the assistant text generated so far (the prefix) to the candidate
continuations; sample number k at a prompt (`params.index + j` for sample j of a call) returns
candidate `(k + offset) % len(candidates)`, offset being the seed when `rotate_by_seed`.
A candidate ending in `EOS` finishes with reason "eos", one ending in `TRUNCATED` with
"length" (markers removed); any other ends as if the stop string followed.
Tokens are counted as whitespace-separated words, so tests can predict every count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .base import Completion, GenerationParams, Message

EOS = "<eos>"
TRUNCATED = "<len>"
_ASSISTANT = "<|assistant|>\n"

Script = Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]]


class ScriptedBackend:
    """Replays `script`; `yes_prob(prompt)` answers `next_token_probs` for yes/no judges."""

    def __init__(
        self,
        script: Script,
        yes_prob: Callable[[str], float] | None = None,
        rotate_by_seed: bool = False,
        name: str = "scripted",
    ):
        self.script = script
        self.yes_prob = yes_prob or (lambda prompt: 0.5)
        self.rotate_by_seed = rotate_by_seed
        self.name = name
        self.prompts_seen: list[str] = []

    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        body = "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages)
        return body + _ASSISTANT + assistant_prefix

    def candidates(self, prefix: str) -> Sequence[str]:
        if callable(self.script):
            return self.script(prefix)
        return self.script.get(prefix, [EOS])

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            self.prompts_seen.append(prompt)
            prefix = prompt.rsplit(_ASSISTANT, 1)[-1]
            options = list(self.candidates(prefix)) or [EOS]
            offset = (params.seed or 0) if self.rotate_by_seed else 0
            picks = [options[(params.index + k + offset) % len(options)] for k in range(params.n)]
            out.append([self._complete(p, prompt, params) for p in picks])
        return out

    def _complete(self, text: str, prompt: str, params: GenerationParams) -> Completion:
        cut = min([text.find(s) for s in params.stop if s and s in text] or [len(text)])
        body, reason = text[:cut], "stop"
        for marker, why in ((EOS, "eos"), (TRUNCATED, "length")):
            if body.endswith(marker):
                body, reason = body[: -len(marker)], why
        words = body.split()
        if len(words) > params.max_tokens:
            body, reason = " ".join(words[: params.max_tokens]), "length"
        return Completion(body, self.count_tokens(body), self.count_tokens(prompt), reason)

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        out = []
        for prompt in prompts:
            yes = float(self.yes_prob(prompt))
            probs = {c: 0.0 for c in candidates}
            if candidates:
                probs[candidates[0]] = yes
            if len(candidates) > 1:
                probs[candidates[1]] = 1.0 - yes
            out.append(probs)
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())
