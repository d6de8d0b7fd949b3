"""A policy served over HTTP by an OpenAI-compatible server (vLLM, llama.cpp server, SGLang…).

Search continues a partial assistant message. The prompt is rendered here when a chat template
is at hand: `tokenizer=<HF id or path>` (its `apply_chat_template`), else the template a
llama.cpp server publishes at `GET /props`; such prompts go to the raw `/v1/completions`.
A server without `/props` (vLLM) renders the conversation itself: the prompt is then a
conversation key (`chat_key`) and goes to `/v1/chat/completions` with the partial answer as
the final assistant message and `continue_final_message: true, add_generation_prompt: false`
(vLLM's chat extra parameters, documented since v0.6; see docs/scale-out.md).

Finish reasons: servers say "stop" both for a stop string and for end-of-sequence. vLLM's
`stop_reason` (the matched string, or null for EOS) and llama.cpp's `stopping_word`/`stop_type`
tell them apart; when a server gives neither, "stop" is reported if stop strings were requested,
else "eos". Failures are one line naming the server (`http`): connection refused and 5xx are
retried (and say so), no answer within `timeout` seconds ends the call.

Confidence: sampling requests ask for `logprobs` (the sampled tokens' log-probs and the top
`logprobs` alternatives, 5 by default; 0 asks for none). vLLM, SGLang and llama-cpp-python's
server answer in the completions shape (`token_logprobs`, `top_logprobs`), llama.cpp's
`llama-server` and chat completions in the chat shape (`content`, one entry per token); both
become the completion's mean / min log-prob and top-k entropy (`token_confidence`). A server
that refuses the field (a 4xx, or an error naming log-probs) is asked again without it, and
its completions carry no confidence from then on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .base import BackendError, Completion, FinishReason, GenerationParams, Message
from .http import (
    DEFAULT_TIMEOUT,
    Failure,
    Waiting,
    connection_failure,
    error_detail,
    one_line,
    request_json,
    status_failure,
    timeout_failure,
    with_retries,
)
from .logprobs import token_confidence
from .openai_chat import chat_key, chat_messages, chat_options
from .text import render_chat_template, renormalise

_TOP_LOGPROBS = 20


class OpenAIBackend:
    """Completions from `base_url` (e.g. http://localhost:8000/v1) for `model`.

    `timeout`: seconds to wait for one answer (a "waiting for …" warning is logged after 10);
    `max_retries`: tries in all for a refused connection or a 5xx.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        tokenizer: str | None = None,
        backoff: float = 0.5,
        logprobs: int = 5,
    ):
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - openai is a core dependency
            raise BackendError("the HTTP backend needs: pip install openai") from exc
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self._openai = openai
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}#{model}"
        self.timeout = timeout
        self.tries = max(1, max_retries)
        self.backoff = backoff
        self.logprobs = max(0, int(logprobs))  # top alternatives asked per sampled token
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=0
        )
        self._waiting = Waiting(self.base_url, timeout)
        self._tokenizer_spec = tokenizer
        self._tokenizer: Any = None
        self._props: dict | None = None

    # ---- HTTP ---------------------------------------------------------------------------
    def _create(self, chat: bool = False, **kwargs) -> dict:
        """One completions (or chat completions) request, retried as `http` says."""
        openai = self._openai
        endpoint = self.client.chat.completions if chat else self.client.completions

        def once() -> dict:
            try:
                raw = endpoint.with_raw_response.create(model=self.model, **kwargs)
            except openai.APITimeoutError as exc:
                raise timeout_failure(self.timeout) from exc
            except openai.APIConnectionError as exc:
                raise connection_failure(exc) from exc
            except openai.APIStatusError as exc:
                raise status_failure(exc.status_code, error_detail(exc.response.text)) from exc
            return _parse_body(raw.text, chat)

        try:
            return with_retries(once, self.base_url, self.tries, self.backoff, self._waiting)
        except BackendError as err:
            if chat and "refused the request" in str(err):
                raise BackendError(
                    f"{err}; continuing a partial answer needs a server that takes "
                    "continue_final_message (vLLM), a llama.cpp /props template, or "
                    "--tokenizer (tokenizer=) naming the served model's tokenizer"
                ) from None
            raise

    def _root_get(self, path: str) -> dict | None:
        """GET a non-OpenAI endpoint at the server root (llama.cpp's /props); None where the
        server has none (a 4xx, or not a JSON object). Down, failing or silent: BackendError."""
        url = self.base_url.removesuffix("/v1") + path

        def once() -> dict | None:
            try:
                data = request_json(url, timeout=self.timeout, headers=self._headers)
            except Failure as failure:
                if failure.status is not None and not failure.retry:  # a 4xx: no /props
                    return None
                if failure.text.startswith("sent a body that is not JSON"):
                    return None
                raise
            return data if isinstance(data, dict) else None

        return with_retries(once, self.base_url, self.tries, self.backoff, self._waiting)

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
            data = self._sample_request(
                prompt, n=want, stop=list(params.stop) or None,
                temperature=params.temperature, top_p=params.top_p,
                max_tokens=params.max_tokens, **({} if seed is None else {"seed": seed}),
            )
            out.extend(self._completions(data, want, params))
            if len(out) >= params.n:
                break
        return out[: params.n]

    def _request(self, prompt: str, **kwargs) -> dict:
        """Completions for a rendered prompt; chat completions for a conversation key."""
        chat = chat_messages(prompt)
        if chat is None:
            return self._create(prompt=prompt, **kwargs)
        messages, continues = chat
        return self._create(
            chat=True, messages=messages, extra_body=chat_options(continues), **kwargs
        )

    def _sample_request(self, prompt: str, **kwargs) -> dict:
        """`_request` asking for the sampled tokens' log-probs; a server that refuses them is
        asked again without, and never again after."""
        if not self.logprobs:
            return self._request(prompt, **kwargs)
        if chat_messages(prompt) is None:
            wants = {"logprobs": self.logprobs}
        else:
            wants = {"logprobs": True, "top_logprobs": self.logprobs}
        try:
            return self._request(prompt, **kwargs, **wants)
        except BackendError as err:
            said = str(err).lower()
            if "refused the request" not in said and "logprob" not in said:
                raise
        data = self._request(prompt, **kwargs)
        self.logprobs = 0
        return data

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
            Completion(
                c["text"], k, prompt_tokens, _finish_reason(c, params.stop),
                **token_confidence(c),
            )
            for c, k in zip(choices, counts, strict=True)
        ]  # fmt: skip

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
        if not template:  # vLLM: the server renders the conversation (chat completions)
            return chat_key(messages, assistant_prefix)
        return render_chat_template(
            template, messages, assistant_prefix,
            bos_token=props.get("bos_token") or "", eos_token=props.get("eos_token") or "",
        )

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        out = []
        for prompt in prompts:
            chat = chat_messages(prompt) is not None
            wants = {"logprobs": True, "top_logprobs": _TOP_LOGPROBS} if chat else {
                "logprobs": _TOP_LOGPROBS}
            data = self._request(prompt, max_tokens=1, temperature=0.0, **wants)
            try:
                logprobs = data["choices"][0]["logprobs"]
                if chat:  # [{"token": …, "logprob": …}, …] for the first generated token
                    entries = logprobs["content"][0]["top_logprobs"]
                    top = {e["token"]: e["logprob"] for e in entries}
                else:
                    top = logprobs["top_logprobs"][0] or {}
            except (KeyError, IndexError, TypeError) as exc:
                where = "/chat/completions (top_logprobs)" if chat else "/completions"
                raise BackendError(
                    f"server at {self.base_url} returned no top log-probs; it must support "
                    f"{_TOP_LOGPROBS} top log-probs on {where}"
                ) from exc
            out.append(match_candidates(top, candidates))
        return out

    def count_tokens(self, text: str) -> int:
        chat = chat_messages(text)
        tok = self._get_tokenizer() if chat is None else None
        if tok is not None:
            return len(tok.encode(text, add_special_tokens=False))
        if chat is None:  # llama.cpp reads "content", vLLM "prompt"
            body = {"content": text, "prompt": text, "model": self.model}
        else:  # vLLM's /tokenize renders a conversation like chat completions do
            body = {"model": self.model, "messages": chat[0], **chat_options(chat[1])}
        url = self.base_url.removesuffix("/v1") + "/tokenize"
        try:
            data = request_json(url, body, timeout=self.timeout, headers=self._headers)
            return int(data["count"]) if "count" in data else len(data["tokens"])
        except (Failure, ValueError, KeyError, TypeError):
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
                    f"could not load tokenizer {self._tokenizer_spec!r}: {one_line(exc)}"
                ) from exc
        return self._tokenizer

    def _server_props(self) -> dict:
        if self._props is None:
            self._props = self._root_get("/props") or {}
        return self._props


def _parse_body(text: str, chat: bool = False) -> dict:
    """A (chat) completions response, each choice's text under "text"; `Failure` if not."""
    what = "chat completions" if chat else "completions"

    def bad(why: str) -> Failure:
        return Failure(f"did not send a valid {what} response: {why}", False)

    try:
        data = json.loads(text)
    except ValueError:
        raise bad(f"not JSON: {one_line(text, 60)!r}") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices or [0]):
        raise bad(f"no choices in {one_line(text, 60)!r}")
    if chat:
        for c in choices:
            message = c.get("message")
            c["text"] = message.get("content") if isinstance(message, dict) else None
    if not all(isinstance(c.get("text"), str) for c in choices):
        raise bad(f"a choice has no text in {one_line(text, 60)!r}")
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
