"""equivpruner: prune semantically equivalent steps in LLM reasoning search."""

from .answers import answers_match, extract_boxed, majority_vote
from .api import DEFAULT_MODEL, solve
from .data.problems import Problem, load_problems
from .equiv.base import Context, Detector, Verdict, group_steps
from .presets import preset
from .pruner import Pruner
from .search import SearchConfig, SearchResult, Tree
from .steps import StepProtocol

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "Context",
    "Detector",
    "Problem",
    "Pruner",
    "SearchConfig",
    "SearchResult",
    "StepProtocol",
    "Tree",
    "Verdict",
    "__version__",
    "answers_match",
    "extract_boxed",
    "group_steps",
    "load_problems",
    "majority_vote",
    "preset",
    "solve",
]
