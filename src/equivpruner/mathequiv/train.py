"""Fine-tuning the cross-encoder detector on labelled step pairs (LoRA by default).

The model is `AutoModelForSequenceClassification` (2 labels, 1 = equivalent) on a base
encoder (`embedded:minilm` by default). Inputs are built exactly as `CrossEncoderDetector`
builds them (`cross_encoder.pair_segments`), and every training pair is seen in both orders.
Validation holds out whole problems, scores both orders averaged (as the detector does),
and picks the best checkpoint by F1 (ties: lower loss); training stops early after
`early_stopping_patience` evaluations without improvement, or at the time limit.

The output dir holds the LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`,
~1.4 MB for MiniLM at r=8) and `training.json` (base, input layout, data hashes, recipe,
metrics). `load_trained(dir)` applies it to the locally installed base; `merge=True` also
writes a standalone model to `dir/merged` for users who prefer a plain checkpoint.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from .pairs import PairRecord, row_key, rows_sha256
from .train_loop import TrainConfig, TrainingLoop, encode_pairs, split_rows

__all__ = ["TrainConfig", "TrainResult", "load_trained", "train_cross_encoder", "trained_detector"]

TRAINING_FORMAT = "equivpruner.detector/1"
LORA_TARGETS = r"^(?!.*classifier).*\.(query|key|value|dense)$"


@dataclass
class TrainResult:
    out_dir: Path
    metrics: dict = field(default_factory=dict)


class Trained(NamedTuple):
    model: object
    tokenizer: object
    info: dict


def resolve_base(spec: str) -> str:
    """A local dir for `embedded:` specs and existing paths, else the spec (a hub repo id)."""
    if spec.startswith("embedded:"):
        from ..llm.registry import resolve_model

        return str(resolve_model(spec).path)
    return str(Path(spec).expanduser()) if Path(spec).expanduser().exists() else spec


def base_sha256(path: str) -> str | None:
    """sha256 of the base's weights file when it is local (ties an adapter to its base)."""
    from ..llm.registry import sha256_file

    weights = Path(path) / "model.safetensors"
    return sha256_file(weights) if weights.is_file() else None


def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_base(path: str, seed: int = 0):
    """(tokenizer, model, newly initialised top-level modules) of the base encoder."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _quiet_transformers()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model, info = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=2, output_loading_info=True
    )
    fresh = sorted({k.split(".")[0] for k in info.get("missing_keys", ())})
    return tokenizer, model, fresh


def add_lora(model, cfg: TrainConfig, fresh: Sequence[str]):
    """Wrap `model` with a LoRA adapter; freshly initialised modules are trained in full."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=LORA_TARGETS,
        modules_to_save=sorted({"classifier", *fresh}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, config)


def labelled_rows(
    rows: Sequence[PairRecord], exclude: Sequence[PairRecord], positive: Sequence[int]
) -> list[PairRecord]:
    """Labelled rows only (a level alone maps through `positive`); refuse held-out splits;
    drop rows whose pair of steps appears in `exclude`."""
    held = [r for r in rows if "test" in (r.split or "").lower()]
    if held:
        raise ValueError(
            f"{len(held)} training rows come from a test split (e.g. {held[0].problem_id}); "
            "evaluation data must never be trained on"
        )
    banned = {row_key(r)[1:] for r in exclude}
    out = []
    for row in rows:
        if row.label is None and row.level is not None:
            row = replace(row, label=int(row.level in positive))
        if row.label in (0, 1) and row_key(row)[1:] not in banned:
            out.append(row)
    return out


def _write_info(out_dir: Path, cfg: TrainConfig, info: dict) -> None:
    config_path = out_dir / "adapter_config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = cfg.base
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    (out_dir / "training.json").write_text(json.dumps(info, indent=1, sort_keys=True))


def _layout(cfg: TrainConfig) -> dict:
    return {
        "segments": "cross_encoder.pair_segments (step A, step B; question first when use_context)",
        "use_context": cfg.use_context,
        "context_tokens": cfg.context_tokens,
        "max_length": cfg.max_length,
        "truncation": "longest_first",
        "both_orders": True,
        "label_1": "equivalent",
    }


def train_cross_encoder(
    train_rows: Sequence[PairRecord],
    base: str = "embedded:minilm",
    out_dir: str | Path = "detector",
    exclude: Sequence[PairRecord] = (),
    progress: bool = True,
    **options,
) -> TrainResult:
    """Fine-tune a pair classifier on labelled rows; `options` are `TrainConfig` fields.

    Rows that also appear in `exclude` (e.g. an evaluation set) are dropped; rows from a
    split named "test…" are refused. Returns the output dir and the metrics.
    """
    import torch

    cfg = TrainConfig(base=base, **options)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rows = labelled_rows(train_rows, exclude, cfg.positive_levels)
    train, val = split_rows(rows, cfg.val_fraction, cfg.seed)
    path = resolve_base(cfg.base)
    tokenizer, model, fresh = load_base(path, cfg.seed)
    if cfg.lora:
        model = add_lora(model, cfg, fresh)
    model.to(cfg.device)
    train_ex = encode_pairs(train, tokenizer, cfg, both=True)
    val_ex = encode_pairs(val, tokenizer, cfg, both=True)
    loop = TrainingLoop(model, cfg, train_ex, val_ex, len(val), tokenizer.pad_token_id or 0)
    started = time.perf_counter()
    loop.run(progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    had_readme = (out / "README.md").exists()
    model.save_pretrained(out)
    if not had_readme:
        (out / "README.md").unlink(missing_ok=True)  # peft's placeholder model card
    if not cfg.lora:
        tokenizer.save_pretrained(out)
    metrics = {**loop.metrics(), "seconds": time.perf_counter() - started}
    info = _training_info(cfg, path, train, val, metrics)
    _write_info(out, cfg, info)
    if cfg.merge and cfg.lora:
        merged = model.merge_and_unload()
        merged.save_pretrained(out / "merged")
        tokenizer.save_pretrained(out / "merged")
    return TrainResult(out, metrics)


def _training_info(cfg: TrainConfig, path: str, train, val, metrics: dict) -> dict:
    import peft
    import torch
    import transformers

    def counts(rows) -> dict:
        return {"rows": len(rows), "equivalent": sum(r.label == 1 for r in rows)}

    return {
        "format": TRAINING_FORMAT,
        "kind": "lora" if cfg.lora else "full",
        "base": cfg.base,
        "base_sha256": base_sha256(path),
        "input_layout": _layout(cfg),
        "positive_levels": list(cfg.positive_levels),
        "data": {
            "train": counts(train),
            "val": counts(val),
            "train_sha256": rows_sha256(train),
            "val_sha256": rows_sha256(val),
            "label_sources": sorted({r.label_source for r in train}),
        },
        "recipe": asdict(cfg),
        "metrics": metrics,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def read_info(model_dir: str | Path) -> dict:
    """training.json of a trained detector dir ({} if there is none)."""
    path = Path(model_dir) / "training.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load_trained(model_dir: str | Path, device: str = "cpu") -> Trained:
    """(model, tokenizer, info) of a trained detector: a LoRA adapter is applied to its base
    (resolved locally, checked against the recorded sha256) and merged for fast inference."""
    model_dir = Path(model_dir)
    info = read_info(model_dir)
    adapter = model_dir / "adapter_config.json"
    if not adapter.is_file():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        _quiet_transformers()
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        return Trained(model.to(device).eval(), tokenizer, info)
    from peft import PeftModel

    spec = info.get("base") or json.loads(adapter.read_text())["base_model_name_or_path"]
    path = resolve_base(spec)
    expected = info.get("base_sha256")
    if expected and base_sha256(path) not in (None, expected):
        raise ValueError(
            f"the base model {spec} installed here differs from the one the adapter in "
            f"{model_dir} was trained on (sha256 mismatch); reinstall the base it names"
        )
    tokenizer, base, _ = load_base(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
    return Trained(model.to(device).eval(), tokenizer, info)


def trained_detector(model_dir: str | Path, device: str = "cpu", **options):
    """A `CrossEncoderDetector` on a trained dir (adapter or full model), with the input
    layout recorded at training time unless `options` override it."""
    from ..equiv import cross_encoder

    trained = load_trained(model_dir, device)
    layout = trained.info.get("input_layout", {})
    for key in ("use_context", "context_tokens", "max_length"):
        if key in layout:
            options.setdefault(key, layout[key])
    if "threshold" in trained.info:  # calibrated after training (see the model card)
        options.setdefault("threshold", trained.info["threshold"])
    cross_encoder._LOADED[(str(model_dir), device)] = (trained.tokenizer, trained.model)
    return cross_encoder.CrossEncoderDetector(str(model_dir), device=device, **options)
