"""Process reward models run with transformers: Math-Shepherd style and Qwen2.5-Math-PRM style.

Both score the last step of `prefix + [candidate]`, batched over candidates, and record
forward passes, prompt tokens and time in the "value" phase.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..llm.base import BackendError
from ..search.stats import SearchStats

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
QWEN_STEP_SEP = "<extra_0>"


def shepherd_text(question: str, steps: Sequence[str], step_tag: str = "ки") -> str:
    """Math-Shepherd's input: the question, then each step followed by " " + step tag, steps
    on their own lines (a tag inside a step is removed, so each step has exactly one)."""
    body = "\n".join(f"{s.replace(step_tag, '').strip()} {step_tag}" for s in steps)
    return f"{question} {body}"


def qwen_messages(question: str, steps: Sequence[str], system_prompt: str = QWEN_SYSTEM):
    """Qwen2.5-Math-PRM's conversation: each step of the answer ended by `<extra_0>`."""
    answer = "".join(s.replace(QWEN_STEP_SEP, "").strip() + QWEN_STEP_SEP for s in steps)
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]


def _require_torch():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendError("PRM value functions need: pip install 'equivpruner[hf]'") from exc
    return torch, transformers


def _single_id(tokenizer, token: str, what: str) -> int:
    """The vocabulary id of `token` (a single token, as is or after a space)."""
    for text in (token, " " + token):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1:
            return ids[0]
    raise BackendError(f"PRM {what} {token!r} is not a single token of this model's vocabulary")


class _TransformersPRM:
    """Shared batching, truncation and accounting; subclasses build texts and read logits."""

    name = "prm"
    marker = ""  # the text whose last occurrence holds the score

    def __init__(self, model_id: str, device: str, batch_size: int, max_length: int):
        self.model_id, self.device = model_id, device
        self.batch_size, self.max_length = max(1, batch_size), max_length
        self.tokenizer = self.model = None

    def _setup_tokenizer(self) -> None:
        tok = self.tokenizer
        tok.truncation_side = "left"  # the scored step is at the end: keep it
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        ids = tok.encode(self.marker, add_special_tokens=False)
        if not ids:
            raise BackendError(f"PRM step marker {self.marker!r} encodes to no tokens")
        self.marker_id = ids[-1]

    def texts(self, question: str, prefix: Sequence[str], candidates: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def step_probs(self, logits):
        """Per position, P(good) from the model's output logits (batch, seq, ...)."""
        raise NotImplementedError

    def _forward(self, texts: list[str]):
        torch, _ = _require_torch()
        enc = self.tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=True,
        )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        logits = out.logits if hasattr(out, "logits") else out[0]
        return enc, self.step_probs(logits.float())

    def _batch_scores(self, texts: list[str]) -> tuple[list[float], int]:
        enc, probs = self._forward(texts)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        scores = []
        for row in range(ids.shape[0]):
            hits = ((ids[row] == self.marker_id) & (mask[row] == 1)).nonzero()
            if len(hits) == 0:
                raise BackendError(f"PRM input lost its step marker {self.marker!r}")
            scores.append(float(probs[row, int(hits[-1])].clamp(0.0, 1.0)))
        return scores, int(mask.sum())

    def score(
        self,
        question: str,
        prefix: Sequence[str],
        candidates: Sequence[str],
        stats: SearchStats,
    ) -> list[float]:
        if not candidates:
            return []
        texts = self.texts(question, prefix, candidates)
        scores: list[float] = []
        with stats.timed("value"):
            for start in range(0, len(texts), self.batch_size):
                part, tokens = self._batch_scores(texts[start : start + self.batch_size])
                scores.extend(part)
                stats.phases["value"].prompt_tokens += tokens
            stats.phases["value"].calls += len(texts)
        return scores


class MathShepherdPRM(_TransformersPRM):
    """Math-Shepherd PRM: a causal LM read at the last step tag, P(good) over {good, bad}.

    Input: `question + " " + steps`, each step followed by `" " + step_tag`, steps joined by
    newlines. `gguf_file` loads a GGUF file found in `model_id` (a dir or hub repo).
    """

    def __init__(
        self,
        model_id: str,
        step_tag: str = "ки",
        good_token: str = "+",
        bad_token: str = "-",
        device: str = "cpu",
        gguf_file: str | None = None,
        batch_size: int = 8,
        max_length: int = 2048,
    ):
        super().__init__(model_id, device, batch_size, max_length)
        _, tf = _require_torch()
        self.step_tag, self.marker = step_tag, " " + step_tag
        kw = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = tf.AutoTokenizer.from_pretrained(model_id, **kw)
        self.model = tf.AutoModelForCausalLM.from_pretrained(model_id, **kw).to(device).eval()
        self._setup_tokenizer()
        self.label_ids = [
            _single_id(self.tokenizer, good_token, "good token"),
            _single_id(self.tokenizer, bad_token, "bad token"),
        ]

    def format(self, question: str, steps: Sequence[str]) -> str:
        return shepherd_text(question, steps, self.step_tag)

    def texts(self, question, prefix, candidates) -> list[str]:
        return [self.format(question, [*prefix, c]) for c in candidates]

    def step_probs(self, logits):
        torch, _ = _require_torch()
        pair = logits[:, :, self.label_ids]
        return torch.softmax(pair, dim=-1)[:, :, 0]


class QwenPRM(_TransformersPRM):
    """Qwen2.5-Math-PRM style: chat template, steps ended by `<extra_0>`, 2-class token head.

    The score is P(positive) (class 1) at the last `<extra_0>`. Loads with trust_remote_code.
    """

    marker = QWEN_STEP_SEP

    def __init__(
        self,
        model_id: str,
        device: str = "cpu",
        system_prompt: str = QWEN_SYSTEM,
        batch_size: int = 4,
        max_length: int = 4096,
    ):
        super().__init__(model_id, device, batch_size, max_length)
        torch, tf = _require_torch()
        self.system_prompt = system_prompt
        self.tokenizer = tf.AutoTokenizer.from_pretrained(model_id, trust_remote_code=True)
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        self.model = (
            tf.AutoModel.from_pretrained(model_id, trust_remote_code=True, dtype=dtype)
            .to(device)
            .eval()
        )
        self._setup_tokenizer()

    def format(self, question: str, steps: Sequence[str]) -> str:
        messages = qwen_messages(question, steps, self.system_prompt)
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False
        )

    def texts(self, question, prefix, candidates) -> list[str]:
        return [self.format(question, [*prefix, c]) for c in candidates]

    def step_probs(self, logits):
        torch, _ = _require_torch()
        return torch.softmax(logits, dim=-1)[:, :, 1]


def load_prm(spec: str, device: str = "cpu", style: str | None = None, **kwargs):
    """A PRM from a model spec (hub id, local dir or .gguf, `embedded:<name>`, `org/name:f.gguf`).

    `style` is "qwen" or "shepherd"; by default "qwen" when the id names Qwen (not for GGUF).
    """
    from ..llm.registry import resolve_model

    ref = resolve_model(spec)
    if ref.kind not in ("gguf", "hf"):
        raise BackendError(f"PRM spec {spec!r} must name a transformers model or a .gguf file")
    style = style or ("qwen" if "qwen" in spec.lower() and ref.kind == "hf" else "shepherd")
    if style not in ("qwen", "shepherd"):
        raise ValueError(f"PRM style must be 'qwen' or 'shepherd', got {style!r}")
    if ref.kind == "gguf":
        if style == "qwen":
            raise BackendError("Qwen-style PRMs need a transformers model dir, not a GGUF file")
        path = ref.path or ""
        return MathShepherdPRM(
            os.path.dirname(path), gguf_file=os.path.basename(path), device=device, **kwargs
        )
    location = ref.path or ref.repo_id or spec
    cls = QwenPRM if style == "qwen" else MathShepherdPRM
    return cls(location, device=device, **kwargs)
