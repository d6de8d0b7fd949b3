"""Run every arm (pruner) on the same problems with the same seeds; resumable JSONL output.

Each finished (arm, problem) is appended to `OUT/results.jsonl` at once and its tree saved
under `OUT/trees/<arm>/<id>.json`. Rerunning the same command skips finished pairs and retries
failed ones. Backend errors (a server down after its retries) mark the problem "failed", not
wrong, and the run goes on.

Concurrency: `concurrency > 1` solves problems in threads, which pays off against an HTTP
server (vLLM, llama.cpp server). In-process backends (llama.cpp, transformers) are not
thread-safe, so concurrency drops to 1 for them; a backend may declare `thread_safe = True`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..data.problems import Problem, load_problems
from ..llm.base import BackendError
from ..steps import InputError
from .config import BenchConfig, BenchError, problem_seed
from .progress import Tracker
from .store import ResultStore, record_key, safe_name

THREAD_SAFE_BACKENDS = {"OpenAIBackend", "ScriptedBackend"}
FAILURES = (BackendError, InputError)
OnDone = Callable[[dict, object], None]


@dataclass(frozen=True)
class Job:
    """One (arm, problem) to solve; `index` is the problem's place in the run."""

    arm: str
    problem: Problem
    index: int
    seed: int

    @property
    def key(self) -> tuple[str, str]:
        return self.arm, self.problem.id

    def tree_path(self) -> str:
        return f"trees/{safe_name(self.arm)}/{safe_name(self.problem.id)}.json"


def load_all_problems(cfg: BenchConfig) -> list[Problem]:
    """The run's problems, datasets in order; ids must be unique across datasets."""
    problems: list[Problem] = []
    for spec in cfg.datasets:
        start = spec.get("start", 0)
        problems.extend(load_problems(spec["name"], spec["split"], spec["limit"], start=start))
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise BenchError(f"problem id {p.id!r} occurs twice; list each dataset once")
        seen.add(p.id)
    return problems


def _interleaved(problems: list[Problem]) -> list[Problem]:
    """Round-robin across datasets, each in its own order."""
    by_source: dict[str, list[Problem]] = {}
    for p in problems:
        by_source.setdefault(p.source, []).append(p)
    queues = list(by_source.values())
    out = []
    for k in range(max((len(q) for q in queues), default=0)):
        out += [q[k] for q in queues if k < len(q)]
    return out


def plan_jobs(cfg: BenchConfig, problems: list[Problem]) -> list[Job]:
    """Problem-major order, so an interrupted run still has paired results. With `block`
    B > 1, each block of B problems runs arm-major: B workers solve the first arm's problems
    side by side, and the later arms then find those states in the generation cache."""
    if cfg.interleave:
        problems = _interleaved(problems)
    indexed = list(enumerate(problems))
    jobs = []
    for start in range(0, len(indexed), cfg.block):
        block = indexed[start : start + cfg.block]
        jobs += [Job(arm, p, k, problem_seed(cfg.seed, k)) for arm in cfg.pruners for k, p in block]
    return jobs


def _storable(text):
    """Text that encodes as UTF-8: a lone surrogate (bad bytes read from a file) is written
    as its escape, so the record of a problem that failed on it can still be stored."""
    if not isinstance(text, str):
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _base_record(job: Job) -> dict:
    p = job.problem
    return {
        "arm": job.arm,
        "id": p.id,
        "dataset": p.source,
        "index": job.index,
        "seed": job.seed,
        "question": _storable(p.question),
        "gold": _storable(p.answer),
    }


def ok_record(job: Job, result) -> dict:
    """The JSON line of a solved problem (the keys the report reads)."""
    s = result.stats
    return {
        **_base_record(job),
        "answer": result.answer,
        "correct": bool(result.tree.correct),
        "status": "ok",
        "error": None,
        "generated_tokens": s.generated_tokens,
        "tokens": {name: ps.generated_tokens for name, ps in s.phases.items()},
        "prompt_tokens": s.prompt_tokens,
        "expansions": s.expansions,
        "siblings_generated": s.siblings_generated,
        "siblings_kept": s.siblings_kept,
        "exact_duplicates": s.exact_duplicates,
        "detector_pairs": s.detector_pairs,
        "detector_seconds": round(s.phases["detector"].seconds, 4),
        "value_calls": s.phases["value"].calls,
        "value_seconds": round(s.phases["value"].seconds, 4),
        "wall_seconds": round(s.wall_seconds, 4),
        "generation_seconds": round(
            sum(s.phases[p].seconds for p in ("expansion", "rollout", "value")), 4
        ),
        "width_stops": dict(s.width_stops),
        "single_group_commits": s.single_group_commits,
        "arithmetic_rejected": s.arithmetic_rejected,
        "budget_exhausted": bool(result.budget_exhausted),
        "tree": job.tree_path(),
    }


def failed_record(job: Job, err: BaseException, wall: float) -> dict:
    text = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
    zeros = dict.fromkeys(
        (
            "generated_tokens",
            "prompt_tokens",
            "expansions",
            "siblings_generated",
            "siblings_kept",
            "exact_duplicates",
            "detector_pairs",
            "value_calls",
        ),
        0,
    )
    return {
        **_base_record(job),
        "answer": None,
        "correct": None,
        "status": "failed",
        "error": line,
        **zeros,
        "tokens": {},
        "detector_seconds": 0.0,
        "value_seconds": 0.0,
        "wall_seconds": round(wall, 4),
        "budget_exhausted": False,
        "tree": None,
    }


def solve_job(job: Job, cfg: BenchConfig, backend, detector) -> tuple[dict, object]:
    """Solve one job; returns (record, tree or None). Backend failures become a record."""
    from ..api import solve

    start = time.perf_counter()
    take = getattr(backend, "take_counters", None)
    if take is not None:
        take()  # start this problem's cache counters from zero
    try:
        result = solve(
            job.problem.question,
            model=backend,
            search=cfg.arm_search(job.arm),
            pruner=detector,
            value=cfg.arm_value(job.arm),
            config=cfg.search_config(cfg.seed, job.arm),
            protocol=cfg.protocol(),
            gold=job.problem.answer,
            seed=cfg.seed,  # seeds are keyed by state: the run seed and the prompt
        )
    except FAILURES as err:
        return failed_record(job, err, time.perf_counter() - start), None
    record = ok_record(job, result)
    if take is not None:
        counters = take()
        record.update(
            cache_hits=counters.hits,
            cache_misses=counters.misses,
            cache_saved_seconds=round(counters.saved_seconds, 4),
        )
    return record, result.tree


def cache_path(cfg: BenchConfig) -> Path | None:
    """Where the run's generation cache lives (None: no cache)."""
    if not cfg.cache or str(cfg.cache).lower() in ("none", "off", "false"):
        return None
    if cfg.cache == "auto":
        import os

        from ..llm.registry import cache_dir

        env = os.environ.get("EQUIVPRUNER_GENERATION_CACHE")
        return Path(env) if env else cache_dir() / "generations.sqlite"
    return Path(cfg.cache)


def open_cache(cfg: BenchConfig):
    """The run's generation cache (None without one); a corrupt or unwritable cache file
    raises `CacheError` naming it, before any model loads."""
    path = cache_path(cfg)
    if path is None:
        return None
    from ..llm.cache import GenerationCache

    return GenerationCache(path)


def with_cache(cfg: BenchConfig, backend, cache=None):
    """`backend` behind the run's shared generation cache (as it is without one)."""
    if hasattr(backend, "take_counters"):
        return backend
    cache = cache if cache is not None else open_cache(cfg)
    if cache is None:
        return backend
    from ..llm.cache import CachedBackend

    return CachedBackend(backend, cache, backfill_confidence=reads_confidence(cfg))


def reads_confidence(cfg: BenchConfig) -> bool:
    """Whether an arm reads the policy's confidence (confidence priors, a branch gate): then
    cache entries stored before confidence was recorded get it from a forward pass."""
    return any(a.get("prior_rule") == "confidence" or a.get("branch_gate") for a in cfg.arms or [])


def make_detectors(
    names: Iterable[str], overrides: Mapping | None = None, backend=None, pruners=None
):
    """One detector per arm, built once; objects in `overrides` win over registry names.

    `pruners` maps an arm name to its pruner spec (default: the arm's name). `llm-judge`
    judges with the policy `backend`; `cross-encoder:PATH` loads checkpoint PATH.
    """
    overrides = overrides or {}
    pruners = pruners or {}
    out = {}
    for name in names:
        if name in overrides:
            out[name] = overrides[name]
            continue
        from ..equiv.registry import make_detector

        key, _, arg = str(pruners.get(name, name)).partition(":")
        opts: dict = {}
        if key.strip().lower().replace("_", "-") == "llm-judge":
            opts["backend"] = backend
        if arg:
            opts["checkpoint"] = arg
        out[name] = make_detector(key, **opts)
    return out


def arm_pruners(cfg: BenchConfig) -> dict[str, str]:
    return {a["name"]: a["pruner"] for a in cfg.arms or []}


def is_thread_safe(backend) -> bool:
    """A backend's `thread_safe` attribute, else whether its class (or a base) is known to be."""
    inner = getattr(backend, "backend", None)  # a cache wrapper is as safe as what it wraps
    if inner is not None and hasattr(backend, "take_counters"):
        return is_thread_safe(inner)
    flag = getattr(backend, "thread_safe", None)
    if flag is not None:
        return bool(flag)
    return any(cls.__name__ in THREAD_SAFE_BACKENDS for cls in type(backend).__mro__)


def prepare_out(cfg: BenchConfig, out: Path) -> None:
    """Check a resumed dir was made with the same result settings (`write_config` records
    them once the model has loaded, so a run that failed to start leaves no settings)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    if path.is_file():
        old = BenchConfig.from_yaml(path)
        diff = cfg.differences(old)
        if diff:
            raise BenchError(
                f"{out} holds a run with different settings ({'; '.join(diff)}); "
                "resume with the same settings or choose a new --out"
            )


def write_config(cfg: BenchConfig, out: Path) -> None:
    data = {k: v for k, v in cfg.to_dict().items() if k != "out"}
    (out / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _run_threads(jobs: list[Job], solve_one, on_done: OnDone, workers: int) -> None:
    if workers <= 1:
        for job in jobs:
            on_done(*solve_one(job))
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench")
    try:
        futures = [pool.submit(solve_one, job) for job in jobs]
        for fut in as_completed(futures):
            on_done(*fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _load_local(cfg, backend, detectors) -> tuple:
    """The policy (behind the cache) and the arms' detectors, loaded before any progress
    shows; a corrupt or unwritable cache fails first. Then the settings are recorded."""
    cache = open_cache(cfg) if not hasattr(backend, "take_counters") else None
    if backend is None:
        from ..llm.loader import load_policy

        backend = load_policy(cfg.model)
    backend = with_cache(cfg, backend, cache)
    dets = make_detectors(cfg.pruners, detectors, backend, arm_pruners(cfg))
    write_config(cfg, Path(cfg.out))
    return backend, dets


def _run_local(cfg, todo, on_done, backend, dets, tracker) -> None:
    workers = min(cfg.concurrency, max(1, len(todo)))
    if workers > 1 and not is_thread_safe(backend):
        tracker.note(
            f"{type(backend).__name__} is not thread-safe: running one problem at a time "
            "(serve the model over HTTP for concurrency)"
        )
        workers = 1
    _run_threads(todo, lambda job: solve_job(job, cfg, backend, dets[job.arm]), on_done, workers)


def _run_jobs(cfg, jobs: list[Job], store: ResultStore, backend, detectors, progress) -> None:
    done = store.load()
    keys = {j.key for j in jobs}
    kept = {k: r for k, r in done.items() if r.get("status") == "ok" or k not in keys}
    store.compact(kept)  # failed lines go: they are retried now
    todo = [j for j in jobs if j.key not in kept]
    if cfg.ray_address:
        open_cache(cfg)  # the workers share it: a bad file fails here, once
        write_config(cfg, Path(cfg.out))
    else:
        backend, detectors = _load_local(cfg, backend, detectors)
    with Tracker(cfg.pruners, jobs, kept.values(), enabled=progress) as tracker:

        def on_done(record: dict, tree) -> None:
            store.append(record, tree)
            tracker.update(record)

        if cfg.ray_address:
            from .ray_runner import run_on_ray

            run_on_ray(cfg, todo, on_done, backend, detectors)
        else:
            _run_local(cfg, todo, on_done, backend, detectors, tracker)


def run_bench(cfg: BenchConfig, backend=None, progress: bool = True, detectors=None) -> list[dict]:
    """Run (or resume) the benchmark into `cfg.out`; returns the records in plan order.

    `backend` replaces the policy `cfg.model` names (tests pass a scripted one); `detectors`
    maps arm names to ready detector objects instead of registry names.
    """
    if not cfg.out:
        raise BenchError("no output dir: set `out` (--out runs/NAME)")
    out = Path(cfg.out)
    jobs = plan_jobs(cfg, load_all_problems(cfg))
    store = ResultStore(out)
    with store.exclusive():
        prepare_out(cfg, out)
        _run_jobs(cfg, jobs, store, backend, detectors, progress)
    final = store.load()
    return [final[j.key] for j in jobs if j.key in final]


__all__ = ["BenchConfig", "BenchError", "Job", "record_key", "run_bench", "solve_job"]
