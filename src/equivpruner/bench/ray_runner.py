"""Spread a benchmark over a Ray cluster: one remote task per (arm, problem).

Each task builds its backend from the model spec (e.g. `openai:http://host:8000/v1#model`, so
every worker talks to the same server; an embedded/GGUF spec loads the model once per worker
process), solves one problem and returns its record and tree. The driver appends records as
they complete, so the output is the same resumable `results.jsonl` as a local run's.
Workers must be able to import `equivpruner` (same venv on a local cluster; on a remote one
install it on every node or pass a Ray runtime_env).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..data.problems import Problem
from .config import BenchConfig, BenchError
from .runner import Job, arm_pruners, make_detectors, solve_job, with_cache

_DETECTORS: dict[str, object] = {}  # per worker process
_CACHED: dict[int, object] = {}  # the policy behind the generation cache, per worker process


def _solve_remote(cfg_data: dict, job_data: dict, backend=None, detectors=None):
    """Runs inside a Ray worker: one job → (record, tree dict or None)."""
    cfg = BenchConfig.from_dict(cfg_data)
    job = Job(job_data["arm"], Problem(**job_data["problem"]), job_data["index"], job_data["seed"])
    if backend is None:
        from ..llm.loader import load_policy

        backend = load_policy(cfg.model)  # cached per worker process
    key = id(backend)
    if key not in _CACHED:
        _CACHED[key] = with_cache(cfg, backend)  # every worker shares the one sqlite file
    backend = _CACHED[key]
    if detectors and job.arm in detectors:
        detector = detectors[job.arm]
    else:
        if job.arm not in _DETECTORS:
            _DETECTORS.update(
                make_detectors([job.arm], backend=backend, pruners=arm_pruners(cfg))
            )
        detector = _DETECTORS[job.arm]
    record, tree = solve_job(job, cfg, backend, detector)
    return record, tree.to_dict() if tree is not None else None


def connect(address: str):
    """`ray.init` for "local" (a fresh local instance), "auto" or a cluster address;
    an already initialised Ray is reused."""
    try:
        import ray
    except ImportError as err:
        raise BenchError("--ray needs Ray: pip install 'equivpruner[bench]'") from err
    if not ray.is_initialized():
        if address == "local":
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    return ray


def _job_data(job: Job) -> dict:
    return {"arm": job.arm, "problem": job.problem.to_dict(), "index": job.index, "seed": job.seed}


def run_on_ray(
    cfg: BenchConfig,
    jobs: list[Job],
    on_done: Callable[[dict, object], None],
    backend=None,
    detectors=None,
    max_in_flight: int | None = None,
) -> None:
    """Submit `jobs` as Ray tasks (a bounded number in flight); `on_done` gets each result.

    A ready `backend` or `detectors` object is shipped to the workers (it must pickle);
    otherwise workers build them from `cfg.model` and the arm names.
    """
    from ..search import Tree

    if not jobs:
        return
    ray = connect(cfg.ray_address or "local")
    task = ray.remote(num_cpus=1)(_solve_remote)
    cfg_data = cfg.to_dict()
    backend_ref = ray.put(backend) if backend is not None else None
    detectors_ref = ray.put(dict(detectors)) if detectors else None
    cpus = int(ray.cluster_resources().get("CPU", 1))
    limit = max_in_flight or 2 * max(cfg.concurrency, cpus)
    queue, pending = list(jobs), {}
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                job = queue.pop(0)
                ref = task.remote(cfg_data, _job_data(job), backend_ref, detectors_ref)
                pending[ref] = job
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                pending.pop(ref)
                record, tree = ray.get(ref)
                on_done(record, Tree.from_dict(tree) if tree is not None else None)
    finally:
        for ref in pending:
            ray.cancel(ref)
