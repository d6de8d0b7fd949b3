"""A process reward model served by vLLM's pooling API (`POST /pooling`), batched.

Two PRM styles, as vLLM serves them (docs: "Reward Usage", process reward models; the
`vllm serve` lines are in docs/scale-out.md):

- `qwen`: Qwen2.5-Math-PRM (`Qwen2ForProcessRewardModel`): the conversation (system, question,
  answer) in Qwen's chat format, each step of the answer ended by `<extra_0>`; STEP pooling
  returns, per `<extra_0>`, the probabilities [negative, positive]; the score is positive.
- `shepherd`: Math-Shepherd (`--pooler-config '{"pooling_type": "STEP", "step_tag_id": 12902,
  "returned_token_ids": [648, 387]}'`): `question step ки\nstep ки`, and per step tag the
  probabilities of the [good, bad] tokens; the score is good.

One request scores all candidates of an expansion: `{"model": M, "input": [text, ...]}` (plus
`"task"` when one is named: `token_classify` from vLLM 0.11, `encode` in 0.10; newer servers
pick the model's own task when none is sent). The answer's `data[i].data` holds one row per
step of input i; the score of the candidate is its last row. Rows that are not probabilities
(no activation on the server) are put through a softmax. The step separators are the PRM's
own: a tag inside a step's text is removed before the tag is added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..llm.base import BackendError
from ..llm.http import DEFAULT_TIMEOUT, Waiting, request_json, with_retries
from ..search.stats import SearchStats
from .prm import QWEN_SYSTEM, qwen_messages, shepherd_text

STYLES = ("qwen", "shepherd")
GOOD_COLUMN = {"qwen": 1, "shepherd": 0}  # [negative, positive] / [good, bad]
SPEC_HELP = "prm-http:URL[#MODEL][&style=qwen|shepherd][&task=TASK]"


def chatml(messages: Sequence[dict]) -> str:
    """Qwen's chat format for a finished conversation (no generation prompt)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def step_probability(row: object, column: int) -> float:
    """P(good) from one STEP-pooling row (probabilities, or logits given a softmax here)."""
    ok = isinstance(row, list) and len(row) > column and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in row
    )
    if not ok:
        raise ValueError(f"a step row must hold at least {column + 1} finite numbers: {row!r}")
    values = [float(v) for v in row]
    if min(values) < 0 or abs(sum(values) - 1.0) > 1e-3:
        values = _softmax(values)
    return min(1.0, max(0.0, values[column]))


class HttpPRM:
    """Scores candidate steps with a PRM on a vLLM server (`url`: its root, `/v1` or
    `/pooling`). `model` defaults to the first one the server lists at /v1/models; `style`
    to "qwen" when the model's name says Qwen, else "shepherd"."""

    name = "prm-http"

    def __init__(self, url: str, model: str | None = None, style: str | None = None,
                 task: str | None = None, timeout: float = DEFAULT_TIMEOUT, retries: int = 3,
                 backoff: float = 0.5, system_prompt: str = QWEN_SYSTEM):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"PRM URL must start with http:// or https://, got {url!r}")
        if style is not None and style not in STYLES:
            raise ValueError(f"PRM style must be one of {', '.join(STYLES)}, got {style!r}")
        root = url.rstrip("/").removesuffix("/pooling").removesuffix("/v1")
        self.root, self.url = root, root + "/pooling"
        self.model, self.style, self.task = model, style, task
        self.timeout, self.tries, self.backoff = timeout, max(1, retries + 1), backoff
        self.system_prompt = system_prompt
        self._waiting = Waiting(root, timeout)

    @classmethod
    def from_spec(cls, arg: str) -> HttpPRM:
        """`URL[#MODEL][&style=…][&task=…]`, the part of a `prm-http:` value spec after the
        colon."""
        url, _, fragment = arg.strip().partition("#")
        model, *options = fragment.split("&")
        opts = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in ("style", "task") or not value:
                raise ValueError(f"bad option {option!r} in {arg!r}; use {SPEC_HELP}")
            opts[key] = value
        return cls(url, model=model or None, **opts)

    def _call(self, url: str, payload: dict | None = None):
        return with_retries(
            lambda: request_json(url, payload, timeout=self.timeout),
            self.root, self.tries, self.backoff, self._waiting,
        )

    def _resolve(self) -> None:
        """The served model (from /v1/models) and the style its name implies."""
        if self.model is None:
            listing = self._call(self.root + "/v1/models")
            try:
                self.model = str(listing["data"][0]["id"])
            except (KeyError, IndexError, TypeError):
                raise BackendError(
                    f"PRM server {self.root} lists no model at /v1/models; name it: {SPEC_HELP}"
                ) from None
        if self.style is None:
            self.style = "qwen" if "qwen" in self.model.lower() else "shepherd"

    def texts(self, question: str, prefix: Sequence[str], candidates: Sequence[str]) -> list[str]:
        """One PRM input per candidate: the solution so far with the candidate last."""
        if self.style == "qwen":
            return [
                chatml(qwen_messages(question, [*prefix, c], self.system_prompt))
                for c in candidates
            ]
        return [shepherd_text(question, [*prefix, c]) for c in candidates]

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
            self._resolve()
            payload = {"model": self.model, "input": self.texts(question, prefix, candidates)}
            if self.task:
                payload["task"] = self.task
            answer = self._call(self.url, payload)
        scores, tokens = self.parse(answer, len(candidates), len(prefix) + 1)
        phase = stats.phases["value"]
        phase.calls += len(candidates)
        phase.prompt_tokens += tokens
        return scores

    def parse(self, answer: object, n: int, steps: int) -> tuple[list[float], int]:
        """The candidates' scores (and prompt tokens) from a pooling response."""
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or len(items) != n:
            raise BackendError(
                f"PRM server {self.url} must answer with {n} items under \"data\"; got "
                f"{str(answer)[:120]!r}"
            )
        items = sorted(items, key=lambda it: it.get("index", 0) if isinstance(it, dict) else 0)
        scores = []
        for item in items:
            rows = item.get("data") if isinstance(item, dict) else None
            if isinstance(rows, list) and rows and not isinstance(rows[0], list):
                rows = [rows]  # one step, sent flat
            if not isinstance(rows, list) or len(rows) != steps:
                got = len(rows) if isinstance(rows, list) else "no"
                raise BackendError(
                    f"PRM server {self.url} gave {got} step rows for a solution of {steps} "
                    f"steps; serve the PRM with STEP pooling on its step tag (docs/scale-out.md)"
                )
            try:
                scores.append(step_probability(rows[-1], GOOD_COLUMN[self.style or "shepherd"]))
            except ValueError as err:
                raise BackendError(f"PRM server {self.url}: {err}") from None
        usage = answer.get("usage") or {}
        tokens = usage.get("prompt_tokens", 0) if isinstance(usage, dict) else 0
        return scores, tokens if isinstance(tokens, int) and tokens >= 0 else 0

