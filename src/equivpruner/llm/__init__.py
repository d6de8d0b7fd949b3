"""Language-model backends behind one Protocol, and the specs that name models."""

from .base import BackendError, Completion, GenerationParams, Message, PolicyBackend
from .loader import clear_loaded, load_policy
from .registry import (
    DEFAULT_ENCODER,
    DEFAULT_POLICY,
    EMBEDDED_MODELS,
    ModelRef,
    resolve_model,
)

__all__ = [
    "BackendError",
    "Completion",
    "DEFAULT_ENCODER",
    "DEFAULT_POLICY",
    "EMBEDDED_MODELS",
    "GenerationParams",
    "Message",
    "ModelRef",
    "PolicyBackend",
    "clear_loaded",
    "load_policy",
    "resolve_model",
]
