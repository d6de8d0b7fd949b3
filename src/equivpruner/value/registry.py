"""Value specs: what a string like `rollout:4` or `prm:peiyi9979/math-shepherd-mistral-7b-prm`
means."""

from __future__ import annotations

from ..llm.base import PolicyBackend
from ..steps import StepProtocol
from .base import ConstantValue, ValueFunction

VALUE_SPECS = (
    "selfeval",
    "rollout",
    "rollout:<k>",
    "prm:<model id or path>",
    "prm-http:<url>[#<model>][&style=qwen|shepherd][&task=<task>]",
    "constant",
    "constant:<value>",
    "learned:<model dir>",
    "confidence",
)


def _number(text: str, kind, what: str):
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None


def make_value(
    spec: str, backend: PolicyBackend, protocol: StepProtocol | None = None
) -> ValueFunction:
    """Build the value function `spec` names (ValueError listing the valid specs otherwise)."""
    protocol = protocol or StepProtocol()
    name, _, arg = spec.strip().partition(":")
    arg = arg.strip()
    if name == "selfeval" and not arg:
        from .selfeval import SelfEvalValue

        return SelfEvalValue(backend, protocol)
    if name == "rollout":
        from .rollout import RolloutValue

        k = _number(arg, int, "rollout k") if arg else 2
        if k < 1:
            raise ValueError(f"rollout k must be >= 1, got {k}")
        return RolloutValue(backend, protocol, k=k)
    if name == "prm" and arg:
        from .prm import load_prm

        return load_prm(arg)
    if name == "prm-http" and arg:
        from .http_prm import HttpPRM

        return HttpPRM.from_spec(arg)
    if name == "confidence" and not arg:
        from .confidence import ConfidenceValue

        return ConfidenceValue()
    if name == "learned" and arg:
        from .learned import LearnedValue

        return LearnedValue.load(arg)
    if name == "constant":
        value = _number(arg, float, "constant value") if arg else 0.5
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"constant value must lie in [0, 1], got {value}")
        return ConstantValue(value)
    raise ValueError(f"unknown value spec {spec!r}; valid ones: " + ", ".join(VALUE_SPECS))
