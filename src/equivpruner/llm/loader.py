"""`load_policy(spec)`: pick and build the backend a model spec calls for (cached per process)."""

from __future__ import annotations

import threading

from .base import BackendError, PolicyBackend
from .registry import DEFAULT_POLICY, EMBEDDED_MODELS, resolve_model

_LOADED: dict[tuple, PolicyBackend] = {}
_LOCK = threading.Lock()


def _key(spec: str, opts: dict) -> tuple:
    return (spec, tuple(sorted((k, repr(v)) for k, v in opts.items())))


def load_policy(spec: str = DEFAULT_POLICY, **opts) -> PolicyBackend:
    """The backend for `spec`; options go to its constructor. Same (spec, opts) → same object.

    gguf (embedded:…, *.gguf, org/name:file.gguf) → LlamaCppBackend; hf (dir, org/name) →
    TransformersBackend; openai:<url>#<model> → OpenAIBackend; vllm:<id> → VLLMBackend.
    """
    key = _key(spec, opts)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _build(spec, dict(opts))
        return _LOADED[key]


def clear_loaded() -> None:
    """Forget cached backends (their memory is freed once nothing else holds them)."""
    with _LOCK:
        _LOADED.clear()


def _build(spec: str, opts: dict) -> PolicyBackend:
    if spec.startswith("vllm:"):
        from .vllm_backend import VLLMBackend

        return VLLMBackend(spec[len("vllm:") :], **opts)
    ref = resolve_model(spec, model=opts.pop("model", None))
    if ref.kind == "gguf":
        from .llamacpp import LlamaCppBackend

        opts.setdefault("name", ref.spec)
        return LlamaCppBackend(ref.path, **opts)
    if ref.kind == "openai":
        from .openai_chat import model_and_options
        from .openai_http import OpenAIBackend

        model, spec_opts = model_and_options(ref.model or "")
        return OpenAIBackend(ref.base_url, model, **{**spec_opts, **opts})
    embedded = EMBEDDED_MODELS.get(ref.name) if spec.startswith("embedded:") else None
    if embedded is not None and embedded.role != "policy":
        raise BackendError(f"{spec} is an {embedded.role}, not a language model policy")
    from .hf import TransformersBackend

    return TransformersBackend(ref.location, **opts)
