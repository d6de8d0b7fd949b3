"""Detectors by name: `make_detector("cascade")`, as the CLI's `--pruner` uses them."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import EllipsisType

from .base import Context, Detector, Verdict

DETECTORS = [
    "none",
    "exact",
    "symbolic",
    "levenshtein",
    "lexical",
    "embedding",
    "features",
    "cross-encoder",
    "llm-judge",
    "cascade",
    "cascade-strict",
    "cascade-ce",
]
_log = logging.getLogger(__name__)


class NeverEquivalent:
    """The vanilla pruner: no pair is ever equivalent."""

    name = "none"

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        return [Verdict(i, j, False, 0.0, self.name) for i, j in pairs]


def shipped_checkpoint() -> str | None:
    """The shipped trained cross-encoder (`weights.default_checkpoint()`), or None.

    Weights that are present but fail their integrity check raise (never a silent fallback).
    """
    from .weights import default_checkpoint

    path = default_checkpoint()
    return str(path) if path else None


FEATURES_MODEL_ENV = "EQUIVPRUNER_FEATURES_MODEL"


def shipped_features() -> str | None:
    """The features model the cascade ends with: the dir that `EQUIVPRUNER_FEATURES_MODEL`
    names (a `train-detector --kind features` output, e.g. an earlier model that a running
    benchmark was declared with), else the shipped one (`weights.default_features_model()`),
    else None."""
    chosen = os.environ.get(FEATURES_MODEL_ENV)
    if chosen:
        from .features import META_FILE

        if not (Path(chosen) / META_FILE).is_file():
            raise ValueError(f"{FEATURES_MODEL_ENV}={chosen}: not a features model dir")
        return chosen
    from .weights import default_features_model

    path = default_features_model()
    return str(path) if path else None


def cross_encoder(checkpoint: str, **opts) -> Detector:
    """A cross-encoder on a full model dir, or on a trained dir (LoRA adapter + training.json,
    loaded by `train.trained_detector` with the input layout it was trained with)."""
    root = Path(checkpoint)
    if (root / "adapter_config.json").is_file() or (root / "training.json").is_file():
        from ..mathequiv.train import trained_detector

        return trained_detector(checkpoint, **opts)
    from .cross_encoder import CrossEncoderDetector

    return CrossEncoderDetector(checkpoint, **opts)


def features(model_dir: str | None = None, **opts) -> Detector:
    """The features detector on `model_dir`, by default the shipped model."""
    from .features import FeatureDetector

    model_dir = model_dir or shipped_features()
    if not model_dir:
        raise ValueError(
            "no features model is installed; pass model_dir= (make one with "
            "`equivpruner train-detector --kind features`)"
        )
    return FeatureDetector(model_dir, **opts)


def from_dir(path: str | Path) -> Detector:
    """A trained detector dir: a features model (`features.json`) or a cross-encoder."""
    from .features import META_FILE

    if (Path(path) / META_FILE).is_file():
        return features(str(path))
    return cross_encoder(str(path))


def _default_final(operating_point: str = "prune") -> Detector | None:
    """The shipped features model, else the shipped cross-encoder, else None."""
    path = shipped_features()
    if path:
        return features(path, operating_point=operating_point)
    checkpoint = shipped_checkpoint()
    if checkpoint:
        return cross_encoder(checkpoint)
    _log.info("no shipped detector; the cascade ends with a lexical rule")
    return None


def _cascade(
    final: Detector | str | None = None,
    checkpoint: str | None = None,
    lo: float | None | EllipsisType = ...,
    hi: float = 0.95,
    use_default_checkpoint: bool = True,
    operating_point: str = "prune",
    **cross_encoder_opts,
) -> Detector:
    """`lo` (the lexical "not equivalent" band) defaults to none in front of a features model
    and to 0.4 otherwise (the lexical fallback, or a cross-encoder that is slow per pair).
    `operating_point` sets the features model's band: "prune", or the stricter "stop"."""
    from .cascade import CascadeDetector, default_stages
    from .features import FeatureDetector

    if isinstance(final, str):
        final = make_detector(final)
    if final is None and checkpoint:
        final = cross_encoder(checkpoint, **cross_encoder_opts)
    if final is None and use_default_checkpoint:
        final = _default_final(operating_point)
    if isinstance(final, FeatureDetector):
        if final.operating_point != operating_point:
            final.use(operating_point)
    elif operating_point != "prune" and final is not None:
        raise ValueError(
            f"operating_point={operating_point!r} needs the features model as the final stage"
        )
    if lo is ...:
        lo = None if isinstance(final, FeatureDetector) else 0.4
    detector = CascadeDetector(default_stages(lo, hi), final)
    if operating_point == "stop":
        detector.name = "cascade-strict"
    return detector


def _cascade_ce(checkpoint: str | None = None, **opts) -> Detector:
    checkpoint = checkpoint or shipped_checkpoint()
    if not checkpoint:
        raise ValueError("cascade-ce needs checkpoint= (no shipped cross-encoder is installed)")
    detector = _cascade(checkpoint=checkpoint, **opts)
    detector.name = "cascade-ce"
    return detector


def make_detector(name: str, **opts) -> Detector:
    """A detector by name (see `DETECTORS`); `opts` go to its constructor.

    `cross-encoder` needs `checkpoint=`, `llm-judge` needs `backend=`; `features` takes
    `model_dir=` (default: the shipped model). `cascade` takes `final=` (a Detector or a
    name) or `checkpoint=` (a cross-encoder); without either it ends with the shipped
    features model (else the shipped cross-encoder, else a conservative lexical rule);
    `lo=` sets its lexical reject band (None: no band, the default before a features model);
    `operating_point=` "prune" (default) or "stop", the stricter band for adaptive-width
    stopping, which `cascade-strict` names. `cascade-ce` ends with the shipped (or given)
    cross-encoder.
    """
    key = name.strip().lower().replace("_", "-")
    if key == "none":
        return NeverEquivalent()
    if key == "exact":
        from .exact import ExactDetector

        return ExactDetector(**opts)
    if key == "symbolic":
        from .symbolic import SymbolicDetector

        return SymbolicDetector(**opts)
    if key in ("levenshtein", "lexical"):
        from .lexical import LevenshteinDetector

        return LevenshteinDetector(**opts)
    if key == "embedding":
        from .embedding import EmbeddingDetector

        return EmbeddingDetector(**opts)
    if key == "cross-encoder":
        if not opts.get("checkpoint"):
            raise ValueError(
                "the cross-encoder detector needs checkpoint=PATH, a trained model directory "
                "(make one with `equivpruner train-detector`)"
            )
        return cross_encoder(**opts)
    if key == "llm-judge":
        if opts.get("backend") is None:
            raise ValueError("the llm-judge detector needs backend= (a PolicyBackend)")
        from .llm_judge import LLMJudgeDetector

        return LLMJudgeDetector(**opts)
    if key == "features":
        return features(**opts)
    if key == "cascade":
        return _cascade(**opts)
    if key == "cascade-strict":
        return _cascade(**{**opts, "operating_point": "stop"})
    if key == "cascade-ce":
        return _cascade_ce(**opts)
    raise ValueError(f"unknown detector {name!r}; valid names: {', '.join(DETECTORS)}")
