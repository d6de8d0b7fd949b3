"""The Python API the CLI is a thin layer over."""

from __future__ import annotations

import time
from dataclasses import replace

from .answers import answers_match
from .equiv.base import Detector
from .llm.base import PolicyBackend
from .search import SearchConfig, SearchEnv, SearchResult, make_search
from .steps import StepProtocol, check_question
from .value.base import ValueFunction

DEFAULT_MODEL = "embedded:qwen2.5-coder-0.5b"


def _backend(model: str | PolicyBackend) -> PolicyBackend:
    if isinstance(model, str):
        from .llm.loader import load_policy

        return load_policy(model)
    return model


def _detector(pruner: str | Detector) -> Detector:
    if isinstance(pruner, str):
        from .equiv.registry import make_detector

        return make_detector(pruner)
    return pruner


def _value(value: str | ValueFunction, backend: PolicyBackend, protocol: StepProtocol):
    if isinstance(value, str):
        from .value.registry import make_value

        return make_value(value, backend, protocol)
    return value


def solve(
    question: str,
    model: str | PolicyBackend = DEFAULT_MODEL,
    search: str = "greedy",
    pruner: str | Detector = "none",
    value: str | ValueFunction = "selfeval",
    config: SearchConfig | None = None,
    protocol: StepProtocol | None = None,
    gold: str | None = None,
    seed: int | None = None,
) -> SearchResult:
    """Solve one problem with the given search; the tree records everything it did.

    `model`, `pruner` and `value` take names (see the CLI's help) or ready objects.
    With `gold`, the result's tree says whether the answer is correct.
    """
    question = check_question(question)
    config = config or SearchConfig(algorithm=search)
    config = replace(config, algorithm=search, seed=config.seed if seed is None else seed)
    protocol = protocol or StepProtocol()
    backend = _backend(model)
    if search in ("greedy", "sampled") and isinstance(value, str):
        value = "constant"  # a single path needs no value model
    env = SearchEnv(
        question=question,
        backend=backend,
        detector=_detector(pruner),
        value=_value(value, backend, protocol),
        config=config,
        protocol=protocol,
    )
    start = time.perf_counter()
    result = make_search(search).run(env)
    env.stats.wall_seconds = time.perf_counter() - start
    result.tree.meta["stats"] = env.stats.to_dict()
    if gold is not None:
        result.tree.gold = gold
        result.tree.correct = answers_match(result.answer, gold)
    return result
