"""The training loop behind `train.train_cross_encoder`: encoding, batching, evaluation.

Pairs are encoded with `cross_encoder.pair_segments`, exactly as the detector encodes them,
without padding; batches are shuffled but drawn from length-sorted pools so little padding
is needed. Validation averages P(equivalent) over both orders, as the detector does.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..equiv.cross_encoder import pair_segments
from .pairs import PairRecord


@dataclass
class TrainConfig:
    """The training recipe (recorded in training.json)."""

    base: str = "embedded:minilm"
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-4
    max_length: int = 256
    seed: int = 0
    val_fraction: float = 0.1
    class_balance: bool = True
    lora: bool = True
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    early_stopping_patience: int = 3
    eval_every: int | None = None
    time_limit_minutes: float | None = 40.0
    max_steps: int | None = None
    use_context: bool = False
    context_tokens: int = 64
    positive_levels: tuple[int, ...] = (3, 4)
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    merge: bool = False
    device: str = "cpu"
    threads: int | None = None


def context_text(tokenizer, question: str, cfg: TrainConfig) -> str:
    """The question cut to `context_tokens` tokens, as the detector cuts it."""
    if not (cfg.use_context and question.strip()):
        return ""
    ids = tokenizer(question, add_special_tokens=False)["input_ids"][: cfg.context_tokens]
    return tokenizer.decode(ids)


def encode_pairs(rows: Sequence[PairRecord], tokenizer, cfg: TrainConfig, both: bool) -> list:
    """(input features, label, row index) per row and order, without padding."""
    out = []
    for k, row in enumerate(rows):
        context = context_text(tokenizer, row.question, cfg)
        sep = (tokenizer.sep_token or "") if context else ""
        orders = (
            [(row.step_a, row.step_b), (row.step_b, row.step_a)]
            if both
            else [(row.step_a, row.step_b)]
        )
        for a, b in orders:
            first, second = pair_segments(a, b, context, sep)
            enc = tokenizer(first, second, truncation="longest_first", max_length=cfg.max_length)
            out.append((dict(enc), int(row.label), k))
    return out


def split_rows(rows: Sequence[PairRecord], fraction: float, seed: int):
    """(train, val): whole problems go to validation (about `fraction` of the rows, at most
    twice that); rows are split directly only when no problem is small enough."""
    if fraction <= 0 or len(rows) < 4:
        return list(rows), []
    groups: dict[str, list[int]] = {}
    for k, row in enumerate(rows):
        groups.setdefault(row.problem_id or row.question, []).append(k)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    want, val = max(1, round(fraction * len(rows))), set()
    for key in keys:
        if len(val) >= want:
            break
        if len(val) + len(groups[key]) <= 2 * want:
            val.update(groups[key])
    if not val:  # every problem is too big to hold out whole: split rows instead
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        val = set(order[:want])
    return [r for k, r in enumerate(rows) if k not in val], [
        r for k, r in enumerate(rows) if k in val
    ]


def batches(examples: list, batch_size: int, rng: random.Random) -> list[list]:
    """Shuffled batches of similar length (less padding): sort within pools of 50 batches."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool, out = batch_size * 50, []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda k: len(examples[k][0]["input_ids"]))
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return [[examples[k] for k in b] for b in out]


def collate(batch: list, pad_id: int, device: str):
    """Pad a batch to its longest member; returns (model inputs, labels)."""
    import torch

    width = max(len(f["input_ids"]) for f, _, _ in batch)
    inputs: dict[str, list] = {}
    for feats, _, _ in batch:
        for key, ids in feats.items():
            pad = pad_id if key == "input_ids" else 0
            inputs.setdefault(key, []).append(list(ids) + [pad] * (width - len(ids)))
    tensors = {k: torch.tensor(v, device=device) for k, v in inputs.items()}
    labels = torch.tensor([y for _, y, _ in batch], device=device)
    return tensors, labels


def evaluate(model, examples: list, n_rows: int, pad_id: int, cfg: TrainConfig) -> dict:
    """Loss and accuracy / precision / recall / F1 with both orders' P(equivalent) averaged."""
    import torch

    model.eval()
    probs, labels, losses = [[] for _ in range(n_rows)], [0] * n_rows, []
    with torch.inference_mode():
        for start in range(0, len(examples), 64):
            chunk = examples[start : start + 64]
            inputs, y = collate(chunk, pad_id, cfg.device)
            logits = model(**inputs).logits.float()
            losses.append(float(torch.nn.functional.cross_entropy(logits, y)) * len(chunk))
            for (_, label, k), p in zip(
                chunk, torch.softmax(logits, -1)[:, 1].tolist(), strict=True
            ):
                probs[k].append(p)
                labels[k] = label
    model.train()
    pred = [int(sum(p) / len(p) >= 0.5) for p in probs]
    return {"loss": sum(losses) / max(1, len(examples)), **binary_metrics(pred, labels)}


def binary_metrics(pred: Sequence[int], labels: Sequence[int]) -> dict:
    """Accuracy, precision, recall and F1 of 0/1 predictions (1 = equivalent)."""
    pairs = list(zip(pred, labels, strict=True))
    tp = sum(1 for p, y in pairs if p and y)
    fp = sum(1 for p, y in pairs if p and not y)
    fn = sum(1 for p, y in pairs if y and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(1 for p, y in pairs if p == y) / max(1, len(pairs))
    return {
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n": len(pairs),
    }


def _class_weights(examples: list, balance: bool):
    import torch

    counts = [sum(1 for _, y, _ in examples if y == c) for c in (0, 1)]
    if min(counts) == 0:
        raise ValueError(
            f"training needs both labels; got {counts[0]} not / {counts[1]} equivalent"
        )
    if not balance:
        return None
    total = sum(counts)
    return torch.tensor([total / (2 * c) for c in counts])


def _schedule(optimizer, total: int, warmup_fraction: float):
    import torch

    warm = max(1, int(total * warmup_fraction))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _progress(enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]train[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )


class TrainingLoop:
    """One training run's state: the step loop, evaluations, best weights, stopping."""

    def __init__(self, model, cfg: TrainConfig, train_ex, val_ex, n_val, pad_id):
        import torch

        self.model, self.cfg, self.pad_id = model, cfg, pad_id
        self.train_ex, self.val_ex, self.n_val = train_ex, val_ex, n_val
        weights = _class_weights(train_ex, cfg.class_balance)
        self.loss_fn = torch.nn.CrossEntropyLoss(
            weight=None if weights is None else weights.to(cfg.device)
        )
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        per_epoch = math.ceil(len(train_ex) / cfg.batch_size)
        self.total = per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total = min(self.total, cfg.max_steps)
        self.eval_every = cfg.eval_every or max(1, min(per_epoch, 200))
        self.scheduler = _schedule(self.optimizer, self.total, cfg.warmup_fraction)
        self.history: list[dict] = []
        self.best: dict | None = None
        self.best_state: dict | None = None
        self.stale, self.step, self.stopped = 0, 0, "done"
        self.step_seconds: list[float] = []
        self.eval_seconds = 0.0

    def trainable_state(self) -> dict:
        return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def evaluate(self) -> None:
        if not self.val_ex:
            return
        start = time.perf_counter()
        metrics = evaluate(self.model, self.val_ex, self.n_val, self.pad_id, self.cfg)
        self.eval_seconds = time.perf_counter() - start
        metrics["step"] = self.step
        self.history.append(metrics)
        key = (metrics["f1"], -metrics["loss"])
        if self.best is None or key > (self.best["f1"], -self.best["loss"]):
            self.best, self.best_state, self.stale = metrics, self.trainable_state(), 0
        else:
            self.stale += 1

    def out_of_time(self, started: float) -> bool:
        limit = self.cfg.time_limit_minutes
        if limit is None:
            return False
        per_step = sum(self.step_seconds[-20:]) / max(1, len(self.step_seconds[-20:]))
        return time.perf_counter() - started + per_step + self.eval_seconds > limit * 60

    def train_step(self, batch: list) -> float:
        inputs, labels = collate(batch, self.pad_id, self.cfg.device)
        start = time.perf_counter()
        loss = self.loss_fn(self.model(**inputs).logits.float(), labels)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_seconds.append(time.perf_counter() - start)
        return loss.item()

    def run(self, progress: bool) -> None:
        rng, started = random.Random(self.cfg.seed), time.perf_counter()
        self.model.train()
        with _progress(progress) as bar:
            task = bar.add_task("train", total=self.total, status="")
            while self.step < self.total and self.stopped == "done":
                for batch in batches(self.train_ex, self.cfg.batch_size, rng):
                    if self.step >= self.total:
                        break
                    if self.out_of_time(started):
                        self.stopped = "time_limit"
                        break
                    loss = self.train_step(batch)
                    self.step += 1
                    if self.step % self.eval_every == 0 or self.step == self.total:
                        self.evaluate()
                    f1 = f" val F1 {self.best['f1']:.3f}" if self.best else ""
                    bar.update(task, completed=self.step, status=f"loss {loss:.3f}{f1}")
                    if self.stale >= self.cfg.early_stopping_patience:
                        self.stopped = "early_stopping"
                        break
        if self.val_ex and (not self.history or self.history[-1]["step"] != self.step):
            self.evaluate()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state, strict=False)

    def metrics(self) -> dict:
        measured = self.step_seconds[2:] or self.step_seconds
        return {
            "steps": self.step,
            "planned_steps": self.total,
            "stopped": self.stopped,
            "seconds_per_step": sum(measured) / len(measured) if measured else None,
            "best_val": self.best,
            "history": self.history,
        }
