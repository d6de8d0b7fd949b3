"""Cross-encoder detector: a sequence-classification model reads both steps at once.

Input layout (a trainer must build pairs the same way: use `pair_segments`):

- first segment: step A, preceded, when `use_context`, by the question cut to
  `context_tokens` tokens and the tokenizer's separator token;
- second segment: step B.

The pair is tokenized as a text pair with `truncation="longest_first"` to `max_length`.
Both orders, (A, B) and (B, A), are scored and P(equivalent) averaged, so the verdict is
symmetric. `compare` runs the reverse order only where it can change the verdict: with
threshold t, a first-order probability below 2t - 1 (or at least 2t) decides the pair
whatever the other order says, so such a pair keeps its one-order probability (at t = 0.9,
every pair scored below 0.8 one way needs no second pass).

Label 1 means equivalent (softmax over two logits); a checkpoint with one label
is read through a sigmoid. All pairs of an expansion are tokenized at once, sorted by
length and run in batches of at most `batch_size` sequences and `max_batch_tokens` padded
tokens, each padded only to its own longest sequence.

`reference_scheme_scores` mimics the paper's serving scheme for speed comparisons: one pair
(A, B) per forward pass, padded to 2,048 tokens, or to the model's position limit when that
is smaller (512 for BERT/MiniLM/MPNet-sized encoders).
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Context, Verdict

REFERENCE_LENGTH = 2_048
_OFFSET_POSITIONS = {"roberta", "longformer", "xlm-roberta", "camembert", "mpnet"}
_LOADED: dict[tuple[str, str], tuple] = {}


def load_classifier(checkpoint: str, device: str = "cpu") -> tuple:
    """(tokenizer, model) for a sequence-classification checkpoint, cached per process."""
    key = (str(checkpoint), device)
    if key not in _LOADED:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint))
        model.to(device).eval()
        _LOADED[key] = (tokenizer, model)
    return _LOADED[key]


def pair_segments(a: str, b: str, context: str = "", sep: str = "") -> tuple[str, str]:
    """The two text segments for steps `a`, `b` (context = an already-cut question)."""
    return (f"{context} {sep} {a}" if context else a), b


def usable_positions(model, tokenizer=None) -> int:
    """How many tokens the model accepts (RoBERTa-style models reserve two positions)."""
    config = model.config
    n = int(getattr(config, "max_position_embeddings", 512) or 512)
    if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        n -= 2
    limit = getattr(tokenizer, "model_max_length", None)
    return min(n, int(limit)) if isinstance(limit, int) and limit < 1_000_000 else n


def _probability(logits):
    import torch

    if logits.shape[-1] == 1:
        return torch.sigmoid(logits[:, 0])
    return torch.softmax(logits.float(), dim=-1)[:, 1]


class CrossEncoderDetector:
    """P(equivalent) ≥ `threshold` → equivalent (symmetric, batched, dynamic padding)."""

    name = "cross-encoder"

    def __init__(
        self,
        checkpoint: str,
        threshold: float = 0.5,
        max_length: int = 256,
        batch_size: int = 64,
        device: str = "cpu",
        max_batch_tokens: int = 4096,
        use_context: bool = False,
        context_tokens: int = 64,
        symmetric: bool = True,
    ):
        if not checkpoint:
            raise ValueError("CrossEncoderDetector needs checkpoint= (a trained model directory)")
        self.checkpoint = str(checkpoint)
        self.threshold = threshold
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.device = device
        self.use_context = use_context
        self.context_tokens = context_tokens
        self.symmetric = symmetric

    def _loaded(self) -> tuple:
        return load_classifier(self.checkpoint, self.device)

    def _context(self, question: str) -> str:
        if not (self.use_context and question.strip()):
            return ""
        tokenizer = self._loaded()[0]
        ids = tokenizer(question, add_special_tokens=False)["input_ids"][: self.context_tokens]
        return tokenizer.decode(ids)

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices by decreasing length, cut at `batch_size` sequences or when padding to the
        batch's longest would exceed `max_batch_tokens`."""
        order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
        batches: list[list[int]] = []
        for k in order:
            last = batches[-1] if batches else None
            if (
                last is None
                or len(last) >= self.batch_size
                or (len(last) + 1) * lengths[last[0]] > self.max_batch_tokens
            ):
                batches.append([k])
            else:
                last.append(k)
        return batches

    def forward(self, segments: Sequence[tuple[str, str]]) -> list[float]:
        """P(equivalent) of each (first, second) segment pair: tokenized once, then run in
        length-sorted batches padded only to their own longest sequence."""
        if not segments:
            return []
        import torch

        tokenizer, model = self._loaded()
        enc = tokenizer(
            [s[0] for s in segments],
            [s[1] for s in segments],
            truncation="longest_first",
            max_length=self.max_length,
        )
        lengths = [len(ids) for ids in enc["input_ids"]]
        probs = [0.0] * len(segments)
        with torch.inference_mode():
            for chunk in self._batches(lengths):
                batch = tokenizer.pad(
                    {key: [enc[key][k] for k in chunk] for key in enc.keys()},
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                for k, p in zip(chunk, _probability(model(**batch).logits).tolist(), strict=True):
                    probs[k] = float(p)
        return probs

    def _segments(self, text_pairs: Sequence[tuple[str, str]], question: str, swap: bool):
        """Model inputs for the pairs, in (A, B) order or, with `swap`, (B, A)."""
        context = self._context(question)
        sep = (self._loaded()[0].sep_token or "") if context else ""
        return [pair_segments(*((b, a) if swap else (a, b)), context, sep) for a, b in text_pairs]

    def scores(self, text_pairs: Sequence[tuple[str, str]], question: str = "") -> list[float]:
        """P(equivalent) per (step A, step B), averaged over both orders when symmetric."""
        if not text_pairs:
            return []
        segs = self._segments(text_pairs, question, swap=False)
        if self.symmetric:
            segs += self._segments(text_pairs, question, swap=True)
        probs = self.forward(segs)
        n = len(text_pairs)
        if not self.symmetric:
            return probs
        return [(probs[k] + probs[n + k]) / 2 for k in range(n)]

    def verdict_scores(self, text_pairs: Sequence[tuple[str, str]], question: str = "") -> list:
        """P(equivalent) per pair, giving the same verdicts as `scores` at `self.threshold`
        with the reverse order run only for pairs it could flip (see the module docstring)."""
        if not (self.symmetric and text_pairs):
            return self.scores(text_pairs, question)
        probs = self.forward(self._segments(text_pairs, question, swap=False))
        lo, hi = 2 * self.threshold - 1, 2 * self.threshold
        open_ = [k for k, p in enumerate(probs) if lo <= p < hi]
        reverse = self.forward(self._segments([text_pairs[k] for k in open_], question, swap=True))
        for k, p in zip(open_, reverse, strict=True):
            probs[k] = (probs[k] + p) / 2
        return probs

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        probs = self.verdict_scores([(steps[i], steps[j]) for i, j in pairs], context.question)
        return [
            Verdict(i, j, p >= self.threshold, p, self.name)
            for (i, j), p in zip(pairs, probs, strict=True)
        ]

    def reference_scheme_scores(self, text_pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The paper's scheme, for benchmarks: one (A, B) pair per forward pass, padded to
        2,048 tokens or the model's position limit, whichever is smaller."""
        import torch

        tokenizer, model = self._loaded()
        length = min(REFERENCE_LENGTH, usable_positions(model, tokenizer))
        out = []
        with torch.inference_mode():
            for a, b in text_pairs:
                enc = tokenizer(
                    a,
                    b,
                    padding="max_length",
                    truncation="longest_first",
                    max_length=length,
                    return_tensors="pt",
                ).to(self.device)
                out.append(float(_probability(model(**enc).logits)[0]))
        return out


def init_random_checkpoint(
    out_dir: str, tokenizer_from: str, num_labels: int = 2, seed: int = 0, **config
) -> str:
    """Save an untrained BERT classifier with `tokenizer_from`'s tokenizer (for tests and
    speed benchmarks only: its scores mean nothing). `config` overrides the tiny default
    sizes, e.g. MiniLM's hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
    intermediate_size=1536."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    sizes = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 512,
        **config,
    }
    tokenizer.model_max_length = sizes["max_position_embeddings"]
    torch.manual_seed(seed)
    model = BertForSequenceClassification(
        BertConfig(vocab_size=len(tokenizer), num_labels=num_labels, **sizes)
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)
