"""Value functions: score candidate next steps (self-evaluation, rollouts, PRMs)."""

from .base import ConstantValue, ValueFunction
from .confidence import ConfidenceValue
from .http_prm import HttpPRM
from .prm import MathShepherdPRM, QwenPRM, load_prm
from .registry import VALUE_SPECS, make_value
from .rollout import RolloutValue
from .selfeval import SelfEvalValue

__all__ = [
    "VALUE_SPECS",
    "ConfidenceValue",
    "ConstantValue",
    "HttpPRM",
    "MathShepherdPRM",
    "QwenPRM",
    "RolloutValue",
    "SelfEvalValue",
    "ValueFunction",
    "load_prm",
    "make_value",
]
