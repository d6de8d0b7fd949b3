"""A policy run in-process by transformers (GPU, or CPU for small models).

`TransformersBackend("org/name")` or a local dir loads safetensors weights. A GGUF can be loaded
with `gguf_file=` (transformers dequantises it to float: loading Qwen2.5-0.5B this way took
~50 s and decoded ~6 tok/s on 2 CPU threads, vs ~38 tok/s with llama.cpp, so prefer
`LlamaCppBackend` for GGUF files).

Finish reasons: generation stops at a stop string (`stop_strings=`) or an end-of-sequence
token; the decoded text is cut at the first stop string ("stop"), else the first EOS/pad token
ends it ("eos"), else it ran out of `max_tokens` ("length").

Confidence: `generate` keeps the raw logits of each generated position (`output_logits`), and
each sample's token log-probs (temperature 1, before top-p) and entropies are read from them
over the tokens it counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from .base import (
    BackendError,
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    confidence_summary,
)
from .text import first_stop, first_token_ids, hf_encoder, renormalise


def split_generation(
    ids: Sequence[int],
    stop: Sequence[str],
    end_ids: set[int],
    decode: Callable[[Sequence[int]], str],
) -> tuple[str, int, FinishReason]:
    """(text, token count, finish reason) of one generated id sequence (prompt removed)."""
    ids = list(ids)
    end = next((i for i, t in enumerate(ids) if t in end_ids), None)
    body = ids if end is None else ids[:end]
    text = decode(body)
    cut = first_stop(text, stop)
    if cut is not None:
        return text[:cut], len(body), "stop"
    return text, len(body), ("length" if end is None else "eos")


def _token_stats(step_logits, generated) -> tuple[list[list[float]], list[list[float]]]:
    """Per row of `generated` (rows x steps token ids): each token's log-prob under the raw
    logits of its step, and that step's entropy (nats)."""
    import torch

    logprobs, entropies = [], []
    for t, logits in enumerate(step_logits):
        logp = torch.log_softmax(logits.float(), dim=-1)
        logprobs.append(logp.gather(1, generated[:, t : t + 1]).squeeze(1))
        entropies.append(-(logp.exp() * logp).nan_to_num().sum(dim=-1))
    if not logprobs:
        return [[] for _ in range(generated.shape[0])], [[] for _ in range(generated.shape[0])]
    lp = torch.stack(logprobs, dim=1).cpu().tolist()
    ent = torch.stack(entropies, dim=1).cpu().tolist()
    return lp, ent


def _torch_dtype(dtype):
    import torch

    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return dtype or "auto"
    try:
        return getattr(torch, str(dtype))
    except AttributeError as exc:
        raise BackendError(f"unknown dtype {dtype!r}; use e.g. float32, bfloat16, auto") from exc


class TransformersBackend:
    """AutoModelForCausalLM + AutoTokenizer; `torch.manual_seed` makes sampling repeatable."""

    def __init__(
        self,
        model_id_or_path: str,
        device: str = "cpu",
        dtype=None,
        gguf_file: str | None = None,
        seed: int = 0,
        batch_size: int = 8,
    ):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendError("transformers models need: pip install 'equivpruner[hf]'") from exc
        self._torch = torch
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id_or_path, **extra)
            self.model = AutoModelForCausalLM.from_pretrained(
                model_id_or_path, dtype=_torch_dtype(dtype), **extra
            ).to(device)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"could not load {model_id_or_path!r}: {first}") from exc
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.seed = seed
        self.batch_size = max(1, batch_size)
        self.name = model_id_or_path + (f":{gguf_file}" if gguf_file else "")
        self.end_ids = self._end_ids()
        self._stop_ok: dict[tuple[str, ...], bool] = {}

    def _end_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(configured)
        return {i for i in ids if i is not None}

    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise BackendError(f"{self.name} has no chat template; use an instruct/chat model")
        dicts = [{"role": m.role, "content": m.content} for m in messages]
        text = self.tokenizer.apply_chat_template(
            dicts, add_generation_prompt=True, tokenize=False
        )
        return text + assistant_prefix

    def _encode(self, prompts: Sequence[str]):
        enc = self.tokenizer(
            list(prompts), return_tensors="pt", padding=True, add_special_tokens=False
        )
        keep = ("input_ids", "attention_mask")  # e.g. token_type_ids would break generate()
        return {k: enc[k].to(self.device) for k in keep}

    def generate(
        self, prompts: Sequence[str], params: GenerationParams
    ) -> list[list[Completion]]:
        torch = self._torch
        if params.seed is not None and params.n > 1:  # one seeded draw per sample index
            per = [
                self.generate(prompts, replace(params, n=1, index=params.index + j))
                for j in range(params.n)
            ]
            return [[per[j][i][0] for j in range(params.n)] for i in range(len(prompts))]
        torch.manual_seed(self.seed if params.seed is None else params.sample_seed(0))
        out: list[list[Completion]] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            enc = self._encode(chunk)
            sample = params.temperature > 0
            kwargs = {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
            with torch.no_grad():
                gen = self.model.generate(
                    **enc, max_new_tokens=params.max_tokens, num_return_sequences=params.n,
                    do_sample=sample, **(kwargs if sample else {}),
                    **self._stop_kwargs(tuple(params.stop)),
                    pad_token_id=self.tokenizer.pad_token_id,
                    return_dict_in_generate=True, output_logits=True,
                )
            width = enc["input_ids"].shape[1]
            seqs = gen.sequences
            logprobs, entropies = _token_stats(gen.logits, seqs[:, width:])
            lengths = enc["attention_mask"].sum(dim=1).tolist()
            for i, prompt_len in enumerate(lengths):
                span = range(i * params.n, (i + 1) * params.n)
                out.append([
                    self._completion(
                        seqs[r, width:].tolist(), params, prompt_len, logprobs[r], entropies[r]
                    )
                    for r in span
                ])
        return out

    def _stop_kwargs(self, stop: tuple[str, ...]) -> dict:
        """`stop_strings=` for generate() when the tokenizer can express them, else nothing
        (then generation runs to EOS/max_tokens and the text is cut afterwards)."""
        if stop not in self._stop_ok:
            try:
                from transformers import StopStringCriteria

                StopStringCriteria(self.tokenizer, list(stop))
                self._stop_ok[stop] = bool(stop)
            except (ImportError, ValueError):
                self._stop_ok[stop] = False
        if not self._stop_ok[stop]:
            return {}
        return {"stop_strings": list(stop), "tokenizer": self.tokenizer}

    def _completion(
        self, ids: list[int], params: GenerationParams, prompt_len: int, logprobs, entropies
    ):
        def decode(toks):
            return self.tokenizer.decode(toks, skip_special_tokens=True)

        text, count, reason = split_generation(ids, params.stop, self.end_ids, decode)
        values = logprobs[:count]
        return Completion(
            text, count, int(prompt_len), reason,
            **confidence_summary(values, entropies[:count]),
            token_ids=ids[:count], token_logprobs=values,
        )  # fmt: skip

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        torch = self._torch
        encode = hf_encoder(self.tokenizer)
        ids = [first_token_ids(encode, c) for c in candidates]
        out = []
        for start in range(0, len(prompts), self.batch_size):
            enc = self._encode(prompts[start : start + self.batch_size])
            with torch.no_grad():
                logits = self.model(**enc).logits[:, -1, :].float()
            for probs in torch.softmax(logits, dim=-1).cpu():
                pairs = zip(candidates, ids, strict=True)
                out.append(renormalise({c: float(probs[list(s)].sum()) for c, s in pairs}))
        return out

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))
