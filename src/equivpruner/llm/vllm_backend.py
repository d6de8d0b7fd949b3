"""An in-process vLLM policy (GPU). Optional: `pip install 'equivpruner[vllm]'`.

Written against vLLM's documented offline API: `LLM.generate(prompts, SamplingParams)` returns
one `RequestOutput` per prompt, whose `.outputs` hold `n` `CompletionOutput`s with `.text`,
`.token_ids`, `.finish_reason` ("stop"/"length") and `.stop_reason` (the matched stop string or
token id, None for EOS). Not tested in this repository's CI (no GPU there).

Confidence: samples are drawn with `SamplingParams(logprobs=5)`, so each output's `.logprobs`
holds, per generated token, the sampled token and the top 5 as `{token_id: Logprob}`; the
mean / min log-prob come from the sampled tokens, the entropy from the top 5 renormalised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .base import (
    BackendError,
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    confidence_summary,
)
from .text import first_token_ids, hf_encoder, renormalise

_TOP_LOGPROBS = 20
_SAMPLE_LOGPROBS = 5  # top alternatives kept per sampled token (for the entropy)


def _reason(output) -> FinishReason:
    if output.finish_reason == "length":
        return "length"
    return "eos" if output.stop_reason is None else "stop"


def sample_logprobs(output) -> tuple[list[float], list[float]]:
    """The sampled tokens' log-probs and each step's top-k entropy (renormalised) from a
    vLLM `CompletionOutput` whose `.logprobs` is a list of `{token_id: Logprob}`."""
    steps = output.logprobs or []
    values, entropies = [], []
    for token, top in zip(output.token_ids, steps, strict=False):
        if not top or token not in top:
            continue
        values.append(float(top[token].logprob))
        probs = [math.exp(v.logprob) for v in top.values() if math.isfinite(v.logprob)]
        total = sum(probs)
        if total > 0:
            entropies.append(-sum(p / total * math.log(p / total) for p in probs if p > 0))
    return values, entropies


class VLLMBackend:
    """`vllm.LLM(model)`; extra keyword options go to `vllm.LLM` (e.g. gpu_memory_utilization)."""

    def __init__(self, model: str, seed: int = 0, **llm_options):
        try:
            import vllm
        except ImportError as exc:
            raise BackendError("the vLLM backend needs: pip install 'equivpruner[vllm]'") from exc
        self._vllm = vllm
        self.llm = vllm.LLM(model=model, seed=seed, **llm_options)
        self.tokenizer = self.llm.get_tokenizer()
        self.seed = seed
        self.name = f"vllm:{model}"

    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        dicts = [{"role": m.role, "content": m.content} for m in messages]
        text = self.tokenizer.apply_chat_template(
            dicts, add_generation_prompt=True, tokenize=False
        )
        return text + assistant_prefix

    def generate(
        self, prompts: Sequence[str], params: GenerationParams
    ) -> list[list[Completion]]:
        n = params.n if params.seed is None else 1  # seeded: one request per sample index
        copies = 1 if params.seed is None else params.n
        sampling = [
            self._vllm.SamplingParams(
                n=n, stop=list(params.stop) or None, temperature=params.temperature,
                top_p=params.top_p, max_tokens=params.max_tokens,
                seed=self.seed if params.seed is None else params.sample_seed(j),
                logprobs=_SAMPLE_LOGPROBS,
            )
            for j in range(copies)
        ]
        requests = [p for p in prompts for _ in range(copies)]
        results = self.llm.generate(requests, sampling * len(prompts), use_tqdm=False)
        outputs = [o for r in results for o in r.outputs]
        per_prompt = n * copies
        out = []
        for i, result in enumerate(results[::copies]):
            result_outputs = outputs[i * per_prompt : (i + 1) * per_prompt]
            n_prompt = len(result.prompt_token_ids or [])
            out.append([
                Completion(
                    o.text, len(o.token_ids), n_prompt, _reason(o),
                    **confidence_summary(*sample_logprobs(o)),
                )
                for o in result_outputs
            ])
        return out

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        sampling = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=_TOP_LOGPROBS)
        encode = hf_encoder(self.tokenizer)
        ids = [first_token_ids(encode, c) for c in candidates]
        out = []
        for result in self.llm.generate(list(prompts), sampling, use_tqdm=False):
            top = result.outputs[0].logprobs[0]  # token id -> Logprob(logprob=…)
            mass = {
                c: sum(math.exp(top[i].logprob) for i in s if i in top)
                for c, s in zip(candidates, ids, strict=True)
            }
            out.append(renormalise(mass))
        return out

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))
