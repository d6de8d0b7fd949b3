"""The default local policy: a GGUF model run in-process by llama-cpp-python.

Sampling runs our own loop over `Llama.generate` (not `create_completion`), because
`create_completion` reports "stop" both when a stop string matched and when the model emitted
end-of-generation. In our loop an end-of-generation token (`llama_token_is_eog`) gives "eos", a
stop string found in the decoded text gives "stop" (text cut before it), and running out of
`max_tokens` (or context) gives "length". `Llama.generate` reuses the KV cache for the longest
common token prefix with the previous call, so the n siblings of one prompt, and later prompts
that extend it, only evaluate their new tokens.

`next_token_probs` evaluates the prompt once (prefix reuse again) and reads the last position's
logits with `llama_get_logits_ith(ctx, -1)`; this works without `logits_all=True`, which would
make every decode ~10x slower. Scoring runs in a second context over the same mmapped weights
(`score_context=True`, the default): a judge prompt that starts differently from the policy's
would otherwise evict the policy's cached prefix, and each expansion would evaluate both prompts
from scratch (on one thread ~5 s each for ~200 tokens, measured).

The policy's confidence comes the same way: as each token is sampled, the logits that drew
it are still the context's last row (`llama_get_logits_ith(ctx, -1)`), so its log-prob under
the model (temperature 1, before top-p) and the entropy of that distribution are read there,
one softmax per token and no `logits_all`. `token_logprobs` recomputes them by a separate
forward pass over given tokens in the scoring context (the check that they agree is a test).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import (
    BackendError,
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    confidence_summary,
)
from .text import first_stop, first_token_ids, render_chat_template, renormalise

_SEED_MOD = 0xFFFFFFFF  # llama.cpp seeds are uint32; 0xFFFFFFFF itself means "random"


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppBackend:
    """A GGUF model via llama-cpp-python; same seed and call sequence → same outputs.

    `n_threads` (default: `$EQUIVPRUNER_THREADS`, else half the cores) serves both decoding
    and prompt evaluation; on a machine of its own, all cores make prompt evaluation faster.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        name: str | None = None,
        verbose: bool = False,
        score_context: bool = True,
    ):
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendError(
                "GGUF models need llama-cpp-python: pip install 'equivpruner[llamacpp]'"
            ) from exc
        path = Path(model_path)
        if not path.is_file():
            raise BackendError(f"GGUF file not found: {path}")
        # Half the cores by default: llama.cpp's spinning threads slow down ~8x as soon as
        # another process takes one of their cores (measured on 2 cores), while decoding is
        # memory-bound and gains little from more threads.
        threads = n_threads or int(os.environ.get("EQUIVPRUNER_THREADS", 0)) or max(1, _cpus() // 2)
        self._llama_args = dict(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            seed=seed,
            logits_all=False,
            verbose=verbose,
        )
        self._lib = llama_cpp
        self.llm = self._open_context()
        self._score_context = score_context
        self._scorer = None  # the second context, opened at the first next_token_probs
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.seed = seed
        self.n_ctx = self.llm.n_ctx()
        self.name = name or path.name
        self.chat_template: str | None = self.llm.metadata.get("tokenizer.chat_template")
        self.path = path
        self._model_id: str | None = None

    def _open_context(self):
        try:
            return self._lib.Llama(**self._llama_args)
        except (ValueError, RuntimeError) as exc:
            path = self._llama_args["model_path"]
            raise BackendError(f"llama.cpp could not load {path}: {exc}") from exc

    @property
    def scorer(self):
        """The llama.cpp context that scoring evaluates prompts in (see the module notes)."""
        if not self._score_context:
            return self.llm
        if self._scorer is None:
            self._scorer = self._open_context()
        return self._scorer

    @property
    def model_id(self) -> str:
        """The model's identity for caches: the GGUF's sha256 (hashed once, then remembered
        in a sidecar next to the verified embedded models)."""
        if self._model_id is None:
            from .registry import file_sha256

            self._model_id = f"gguf-sha256:{file_sha256(self.path)}"
        return self._model_id

    # ---- tokens -------------------------------------------------------------------------
    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def tokens(self, prompt: str) -> list[int]:
        """Prompt tokens as llama.cpp's completion would build them (special tokens parsed)."""
        toks = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        bos = self.llm.token_bos()
        if self._lib.llama_vocab_get_add_bos(self._vocab) and bos >= 0 and toks[:1] != [bos]:
            toks = [bos, *toks]
        return toks

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    # ---- PolicyBackend ------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        if not self.chat_template:
            raise BackendError(
                f"{self.name} has no chat template in its GGUF metadata "
                "(tokenizer.chat_template); use an instruct/chat model"
            )
        return render_chat_template(
            self.chat_template,
            messages,
            assistant_prefix,
            bos_token=self._special_text(self.llm.token_bos()),
            eos_token=self._special_text(self.llm.token_eos()),
        )

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            toks = self.tokens(prompt)
            out.append([self._sample(toks, params, k) for k in range(params.n)])
        return out

    def _sample(self, prompt_tokens: list[int], params: GenerationParams, k: int) -> Completion:
        budget = min(params.max_tokens, self.n_ctx - len(prompt_tokens))
        if budget <= 0:
            raise BackendError(
                f"the prompt has {len(prompt_tokens)} tokens but the context holds {self.n_ctx}; "
                "raise n_ctx or shorten the prompt"
            )
        base = self.seed if params.seed is None else params.seed
        self.llm.set_seed((base + params.index + k) % _SEED_MOD)
        raw, text, ids, logprobs, entropies = bytearray(), "", [], [], []
        reason: FinishReason = "length"
        for token in self.llm.generate(
            prompt_tokens,
            top_k=0,
            top_p=params.top_p,
            min_p=0.0,
            typical_p=1.0,
            temp=max(0.0, params.temperature),
            repeat_penalty=1.0,
        ):
            if self._lib.llama_vocab_is_eog(self._vocab, token):
                reason = "eos"
                break
            logprob, entropy = _token_stats(self._logits_row(self.llm, -1), token)
            ids.append(token)
            logprobs.append(logprob)
            entropies.append(entropy)
            raw += self.llm.detokenize([token])
            text = raw.decode("utf-8", errors="ignore")
            cut = first_stop(text, params.stop)
            if cut is not None:
                text, reason = text[:cut], "stop"
                break
            if len(ids) >= budget:
                break
        return Completion(
            text, len(ids), len(prompt_tokens), reason,
            **confidence_summary(logprobs, entropies),
            token_ids=ids, token_logprobs=logprobs,
        )  # fmt: skip

    def _logits_row(self, llm, i: int) -> np.ndarray:
        """Row `i` of the logits of `llm`'s last decode (-1: its last output)."""
        ptr = self._lib.llama_get_logits_ith(llm.ctx, i)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))

    def token_logprobs(
        self, prompt: str, token_ids: Sequence[int], batch: int = 1
    ) -> list[float]:
        """The log-probs of `token_stats`."""
        return [logprob for logprob, _ in self.token_stats(prompt, token_ids, batch)]

    def token_stats(
        self, prompt: str, token_ids: Sequence[int], batch: int = 1
    ) -> list[tuple[float, float]]:
        """(log-prob, entropy) of each of `token_ids` continuing `prompt`, by a forward pass
        over them in the scoring context, `batch` tokens per decode with the logits of each
        position kept.

        `batch=1` decodes as sampling does and gives its values exactly; larger batches are
        faster but llama.cpp's batched kernels differ slightly on quantized weights
        (SmolLM2 Q4_1: up to ~0.5 on one token, ~0.01 on a 40-token mean, measured)."""
        ids = list(token_ids)
        if not ids:
            return []
        llm = self.scorer
        self._eval_prefix(llm, self.tokens(prompt))
        rows = [self._logits_row(llm, -1).copy()]  # the prompt's last position
        step = max(1, min(batch, llm.n_batch))
        for start in range(0, len(ids) - 1, step):
            chunk = ids[start : min(len(ids) - 1, start + step)]
            self._decode_all(llm, chunk)
            rows += [self._logits_row(llm, j).copy() for j in range(len(chunk))]
        return [_token_stats(row, t) for row, t in zip(rows, ids, strict=True)]

    def continuation_confidence(
        self, prompt: str, text: str, stop: str | None = None
    ) -> dict[str, float | None]:
        """`confidence_summary` of `text` (re-tokenised) continuing `prompt`, decoded in
        batches: for samples drawn before confidence was recorded (a generation cache's old
        entries). `stop`: the stop string that ended the sample. Sampling counts the token
        that completed it, and BPE often merges it with the text's last characters (Qwen's
        ":\n\n"), so the text is scored with it: without it the last token is a split one
        the model never emits (a log-prob near -10 in every such sample, measured)."""
        ids = self._encode(text + (stop or ""))
        if not ids:
            return confidence_summary(None)
        stats = self.token_stats(prompt, ids, batch=len(ids))
        return confidence_summary([lp for lp, _ in stats], [h for _, h in stats])

    def _eval_prefix(self, llm, tokens: list[int]) -> None:
        """Evaluate `tokens` in `llm`, reusing the common cached prefix (at least the last
        token is evaluated, so the last logits row belongs to it)."""
        if len(tokens) > self.n_ctx:
            raise BackendError(f"the prompt has {len(tokens)} tokens; the context is {self.n_ctx}")
        keep = 0
        for a, b in zip(llm.input_ids[: llm.n_tokens], tokens[:-1], strict=False):
            if a != b:
                break
            keep += 1
        llm.n_tokens = keep  # eval() drops the KV cache from here on
        llm.eval(tokens[keep:])

    @staticmethod
    def _decode_all(llm, chunk: list[int]) -> None:
        """Decode `chunk` after `llm`'s tokens with logits at every position (what `eval`
        does with `logits_all`, for this one batch only)."""
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=chunk, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(chunk)] = chunk
        llm.n_tokens += len(chunk)

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        ids = [first_token_ids(self._encode, c) for c in candidates]
        out = []
        for prompt in prompts:
            probs = self._last_position_probs(self.tokens(prompt))
            pairs = zip(candidates, ids, strict=True)
            out.append(renormalise({c: float(sum(probs[i] for i in s)) for c, s in pairs}))
        return out

    def _encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def _last_position_probs(self, tokens: list[int]) -> np.ndarray:
        """Softmax of the logits after `tokens`, reusing the cached common prefix."""
        llm = self.scorer
        self._eval_prefix(llm, tokens)
        logits = self._logits_row(llm, -1).astype(np.float64)
        logits -= logits.max()
        probs = np.exp(logits)
        return probs / probs.sum()


def _token_stats(logits: np.ndarray, token: int) -> tuple[float, float]:
    """log softmax(logits)[token] and the entropy of softmax(logits), in nats."""
    row = logits.astype(np.float64)
    top = row.max()
    shifted = row - top
    weights = np.exp(shifted)
    total = weights.sum()
    log_total = math.log(total)
    entropy = log_total - float(weights @ shifted) / total
    return float(shifted[token] - log_total), float(entropy)
