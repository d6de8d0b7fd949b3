"""A policy served over HTTP by an OpenAI-compatible server (vLLM, llama.cpp server, SGLang…).

Uses the raw *completions* endpoint, because search continues a partial assistant message and
chat endpoints can't. The chat template therefore has to be rendered here: pass
`tokenizer=<HF id or path>` (its `apply_chat_template` is used); without one, a llama.cpp
server's `GET /props` is asked for its `chat_template`.

Finish reasons: servers say "stop" both for a stop string and for end-of-sequence. vLLM's
`stop_reason` (the matched string, or null for EOS) and llama.cpp's `stopping_word`/`stop_type`
tell them apart; when a server gives neither, "stop" is reported if stop strings were requested,
else "eos".
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .base import BackendError, Completion, FinishReason, GenerationParams, Message
from .text import render_chat_template, renormalise

_TOP_LOGPROBS = 20


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Garbage(ValueError):
    """The server answered, but not with a completions response."""


class OpenAIBackend:
    """Completions from `base_url` (e.g. http://localhost:8000/v1) for `model`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60,
        max_retries: int = 3,
        tokenizer: str | None = None,
        backoff: float = 0.5,
    ):
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - openai is a core dependency
            raise BackendError("the HTTP backend needs: pip install openai") from exc
        self._openai = openai
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}#{model}"
        self.timeout = timeout
        self.tries = max(1, max_retries)
        self.backoff = backoff
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=0
        )
        self._tokenizer_spec = tokenizer
        self._tokenizer: Any = None
        self._props: dict | None = None

    # ---- HTTP ---------------------------------------------------------------------------
    def _create(self, **kwargs) -> dict:
        """One completions request with retries on network errors, 5xx and garbage."""
        openai = self._openai
        last: BaseException | None = None
        for attempt in range(self.tries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                raw = self.client.completions.with_raw_response.create(
                    model=self.model, **kwargs
                )
                return _parse_body(raw.text)
            except (openai.APIConnectionError, openai.InternalServerError, _Garbage) as exc:
                last = exc
            except openai.APIStatusError as exc:
                if exc.status_code < 500 and exc.status_code != 429:
                    raise BackendError(
                        f"server at {self.base_url} refused the request "
                        f"(HTTP {exc.status_code}): {_one_line(exc)}"
                    ) from exc
                last = exc
        if isinstance(last, _Garbage):
            what = "did not return a valid completions response"
        else:
            what = "is not reachable"
        raise BackendError(
            f"server at {self.base_url} {what} after {self.tries} tries: {_one_line(last)}"
        ) from last

    def _root_get(self, path: str) -> dict | None:
        """GET a non-OpenAI endpoint at the server root (llama.cpp's /props); None if absent."""
        root = self.base_url.removesuffix("/v1")
        try:
            with urllib.request.urlopen(root + path, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # ---- PolicyBackend ------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[str], params: GenerationParams
    ) -> list[list[Completion]]:
        return [self._generate_one(p, params) for p in prompts]

    def _generate_one(self, prompt: str, params: GenerationParams) -> list[Completion]:
        if params.seed is not None and params.n > 1:
            return self._seeded_samples(prompt, params)
        out: list[Completion] = []
        for _ in range(params.n):  # a server that ignores `n` is asked again for the rest
            want = params.n - len(out)
            seed = params.sample_seed(len(out))
            data = self._create(
                prompt=prompt, n=want, stop=list(params.stop) or None,
                temperature=params.temperature, top_p=params.top_p,
                max_tokens=params.max_tokens, **({} if seed is None else {"seed": seed}),
            )
            out.extend(self._completions(data, want, params))
            if len(out) >= params.n:
                break
        return out[: params.n]

    def _seeded_samples(self, prompt: str, params: GenerationParams) -> list[Completion]:
        """One request per sample, each with its own seed, sent concurrently (the server still
        batches them): vLLM draws the n samples of one request from one seed, so only
        per-sample requests make sample k the same whatever the wave size."""
        from concurrent.futures import ThreadPoolExecutor

        def one(j: int) -> list[Completion]:
            return self._generate_one(prompt, replace(params, n=1, index=params.index + j))

        with ThreadPoolExecutor(max_workers=min(params.n, 16)) as pool:
            return [c for batch in pool.map(one, range(params.n)) for c in batch]

    def _completions(self, data: dict, want: int, params: GenerationParams) -> list[Completion]:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))[:want]
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        counts = self._token_counts([c["text"] for c in choices], usage)
        return [
            Completion(c["text"], k, prompt_tokens, _finish_reason(c, params.stop))
            for c, k in zip(choices, counts, strict=True)
        ]

    def _token_counts(self, texts: list[str], usage: dict) -> list[int]:
        """Per-choice token counts: exact with a tokenizer, else `usage` split by length."""
        if self._tokenizer_spec:
            return [self.count_tokens(t) if t else 0 for t in texts]
        total = int(usage.get("completion_tokens") or 0)
        chars = sum(len(t) for t in texts)
        if len(texts) == 1 or not chars:
            return [total // max(1, len(texts))] * len(texts)
        bounds, seen = [0], 0
        for t in texts:  # cumulative rounding keeps the sum equal to `total`
            seen += len(t)
            bounds.append(round(total * seen / chars))
        return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]

    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        tok = self._get_tokenizer()
        dicts = [{"role": m.role, "content": m.content} for m in messages]
        if tok is not None:
            text = tok.apply_chat_template(dicts, add_generation_prompt=True, tokenize=False)
            return text + assistant_prefix
        props = self._server_props()
        template = props.get("chat_template")
        if not template:
            raise BackendError(
                f"server at {self.base_url} does not publish a chat template; pass "
                "tokenizer=<HF id or path of the served model> so prompts use its template"
            )
        return render_chat_template(
            template, messages, assistant_prefix,
            bos_token=props.get("bos_token") or "", eos_token=props.get("eos_token") or "",
        )

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        out = []
        for prompt in prompts:
            data = self._create(
                prompt=prompt, max_tokens=1, temperature=0.0, logprobs=_TOP_LOGPROBS
            )
            try:
                top = data["choices"][0]["logprobs"]["top_logprobs"][0] or {}
            except (KeyError, IndexError, TypeError) as exc:
                raise BackendError(
                    f"server at {self.base_url} returned no top_logprobs; it must support "
                    f"`logprobs={_TOP_LOGPROBS}` on /completions"
                ) from exc
            out.append(match_candidates(top, candidates))
        return out

    def count_tokens(self, text: str) -> int:
        tok = self._get_tokenizer()
        if tok is not None:
            return len(tok.encode(text, add_special_tokens=False))
        body = json.dumps({"content": text, "prompt": text, "model": self.model}).encode()
        root = self.base_url.removesuffix("/v1")
        req = urllib.request.Request(
            root + "/tokenize", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
            return int(data["count"]) if "count" in data else len(data["tokens"])
        except (OSError, ValueError, KeyError, TypeError):
            return max(1, round(len(text) / 4)) if text else 0  # rough: ~4 chars per token

    # ---- helpers ------------------------------------------------------------------------
    def _get_tokenizer(self):
        if self._tokenizer is None and self._tokenizer_spec:
            try:
                from transformers import AutoTokenizer
            except ImportError as exc:
                raise BackendError("tokenizer= needs: pip install 'equivpruner[hf]'") from exc
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_spec)
            except Exception as exc:  # missing repo, offline, bad dir: the user must act
                raise BackendError(
                    f"could not load tokenizer {self._tokenizer_spec!r}: {_one_line(exc)}"
                ) from exc
        return self._tokenizer

    def _server_props(self) -> dict:
        if self._props is None:
            self._props = self._root_get("/props") or {}
        return self._props


def _parse_body(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _Garbage(f"not JSON: {text[:60]!r}") from exc
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _Garbage(f"no choices in {text[:60]!r}")
    if not all(isinstance(c, dict) and isinstance(c.get("text"), str) for c in choices):
        raise _Garbage(f"a choice has no text in {text[:60]!r}")
    return data


def _finish_reason(choice: dict, stop: Sequence[str]) -> FinishReason:
    reason = choice.get("finish_reason")
    if reason == "length":
        return "length"
    if "stop_reason" in choice:  # vLLM: matched stop string / token id, or null for EOS
        return "eos" if choice["stop_reason"] is None else "stop"
    if choice.get("stopping_word"):
        return "stop"
    if choice.get("stop_type") in ("eos", "word"):
        return "eos" if choice["stop_type"] == "eos" else "stop"
    return "stop" if stop else "eos"


def match_candidates(top: dict[str, float], candidates: Sequence[str]) -> dict[str, float]:
    """Renormalised candidate probabilities from top-k token logprobs.

    A token counts for a candidate when, stripped of surrounding whitespace, it equals the
    candidate or is a non-empty prefix of it (first match wins). With no match at all the
    candidates are returned uniform.
    """
    mass = {c: 0.0 for c in candidates}
    for token, logprob in top.items():
        piece = token.strip()
        if not piece or logprob is None:
            continue
        hit = next((c for c in candidates if c.strip() == piece), None)
        hit = hit or next((c for c in candidates if c.strip().startswith(piece)), None)
        if hit is not None:
            mass[hit] += math.exp(logprob)
    return renormalise(mass)
