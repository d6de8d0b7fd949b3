"""The Python API the CLI is a thin layer over."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def build_detector(pruner: str | Detector, backend: PolicyBackend | None = None) -> Detector:
    """A detector by name (ready objects pass through): `llm-judge` judges with `backend`
    (the policy), `cross-encoder` runs the shipped cross-encoder."""
    if not isinstance(pruner, str):
        return pruner
    from .equiv.registry import make_detector, shipped_checkpoint

    key = pruner.strip().lower().replace("_", "-")
    if key == "llm-judge":
        if backend is None:
            raise ValueError("the llm-judge detector needs a policy model to judge with")
        return make_detector(key, backend=backend)
    if key == "cross-encoder":
        checkpoint = shipped_checkpoint()
        if not checkpoint:
            raise ValueError("no cross-encoder is installed (train one with train-detector)")
        return make_detector(key, checkpoint=checkpoint)
    return make_detector(pruner)


def build_value(value: str | ValueFunction, backend: PolicyBackend, protocol: StepProtocol):
    """A value function by spec (see `value.registry`); ready objects pass through."""
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
    on_event: Callable[[str, dict], None] | None = None,
) -> SearchResult:
    """Solve one problem with the given search; the tree records everything it did.

    `model`, `pruner` and `value` take names (see the CLI's help) or ready objects.
    With `gold`, the result's tree says whether the answer is correct. `on_event(kind, data)`
    hears the search as it runs (steps added, MCTS simulations: see `events`).
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
        detector=build_detector(pruner, backend),
        value=build_value(value, backend, protocol),
        config=config,
        protocol=protocol,
    )
    algorithm, emit = make_search(search), None
    if on_event is not None:
        from .events import Emitter, ObservedTree, observed_search

        emit = Emitter(on_event, env.stats)
        env.tree = ObservedTree(question, emit)
        algorithm = observed_search(search, emit)
        emit("start", search=search, max_depth=protocol.max_depth, simulations=config.simulations)
    start = time.perf_counter()
    result = algorithm.run(env)
    env.stats.wall_seconds = time.perf_counter() - start
    result.tree.meta["stats"] = env.stats.to_dict()
    if gold is not None:
        result.tree.gold = gold
        result.tree.correct = answers_match(result.answer, gold)
    if emit is not None:
        emit("done", steps=len(result.steps), answer=result.answer)
    return result
