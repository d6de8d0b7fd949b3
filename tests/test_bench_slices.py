"""Dataset slices in a bench config: `start` (0-based) with `limit` counting from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from equivpruner.bench.config import BenchConfig, BenchError
from equivpruner.bench.report import dataset_label
from equivpruner.bench.runner import load_all_problems, run_bench
from equivpruner.data.problems import load_problems
from equivpruner.llm.scripted import EOS, ScriptedBackend


def test_gsm8k_slice_keeps_the_datasets_own_ids():
    head = load_problems("gsm8k", "test", limit=22)
    sliced = load_problems("gsm8k", "test", limit=2, start=20)
    assert [p.id for p in sliced] == ["gsm8k-20", "gsm8k-21"]
    assert sliced == head[20:22]
    assert load_problems("svamp", "test", limit=3, start=0) == load_problems("svamp", limit=3)
    rest = load_problems("svamp", "test", start=998)
    assert [p.id for p in rest] == ["svamp-998", "svamp-999"]  # no limit: to the end


def write_rows(path: Path, n: int) -> Path:
    rows = [{"id": f"q{k}", "question": f"{k} + 1?", "answer": str(k + 1)} for k in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_file_slice_keeps_row_ids(tmp_path):
    path = write_rows(tmp_path / "probs.jsonl", 6)
    sliced = load_problems(str(path), limit=2, start=3)
    assert [(p.id, p.answer) for p in sliced] == [("probs-q3", "4"), ("probs-q4", "5")]
    assert load_problems(str(path), start=6) == []


@pytest.mark.parametrize(
    ("start", "message"),
    [(-1, "start must be ≥ 0"), ("20", "start must be a whole number"),
     (True, "start must be a whole number"), (2.5, "start must be a whole number")],
)  # fmt: skip
def test_start_is_validated_like_limit(start, message):
    with pytest.raises(BenchError, match=message):
        BenchConfig(datasets=[{"name": "gsm8k", "start": start, "limit": 2}])


def test_start_is_kept_in_the_config_and_zero_reads_as_before(tmp_path):
    cfg = BenchConfig(datasets=[{"name": "gsm8k", "split": "test", "start": 20, "limit": 20}])
    assert cfg.datasets == [{"name": "gsm8k", "split": "test", "limit": 20, "start": 20}]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert BenchConfig.from_yaml(path).datasets == cfg.datasets
    zero = BenchConfig(datasets=[{"name": "gsm8k", "start": 0, "limit": 20}])
    assert zero.datasets == BenchConfig(datasets=[{"name": "gsm8k", "limit": 20}]).datasets
    ids = [p.id for p in load_all_problems(cfg)]
    assert ids[0] == "gsm8k-20" and ids[-1] == "gsm8k-39" and len(ids) == 20
    assert dataset_label(cfg.datasets[0]) == "gsm8k/test (20: problems 20–39)"
    assert dataset_label(zero.datasets[0]) == "gsm8k/test (20)"


def test_overlapping_slices_of_one_dataset_are_refused():
    cfg = BenchConfig(
        datasets=[{"name": "gsm8k", "limit": 3}, {"name": "gsm8k", "start": 2, "limit": 2}]
    )
    with pytest.raises(BenchError, match="gsm8k-2"):
        load_all_problems(cfg)


def test_cli_start_option():
    from equivpruner.cli.bench import build_config

    cfg = build_config(None, {"dataset": "gsm8k,svamp", "limit": 2, "start": 20})
    assert [(d["name"], d["start"], d["limit"]) for d in cfg.datasets] == [
        ("gsm8k", 20, 2), ("svamp", 20, 2)]  # fmt: skip
    cfg = build_config(None, {"start": 5})
    assert cfg.datasets[0]["start"] == 5 and cfg.datasets[0]["limit"] == 30


def script(prefix: str):
    return ["So \\boxed{1}" + EOS] if prefix == "" else [EOS]


def test_a_resumed_run_at_another_start_adds_problems_and_reuses_none(tmp_path):
    data = write_rows(tmp_path / "probs.jsonl", 6)
    out = tmp_path / "out"

    def cfg(start):
        return BenchConfig(
            datasets=[{"name": str(data), "start": start, "limit": 2}], search="mcts", width=2,
            simulations=1, value="constant", pruners=["none"], out=str(out), cache="none",
        )  # fmt: skip

    first = run_bench(cfg(0), backend=ScriptedBackend(script), progress=False)
    assert [r["id"] for r in first] == ["probs-q0", "probs-q1"]
    saved = yaml.safe_load((out / "config.yaml").read_text())["datasets"]
    assert "start" not in saved[0]
    later = cfg(3)
    assert later.differences(BenchConfig.from_yaml(out / "config.yaml")) == []
    second = run_bench(later, backend=ScriptedBackend(script), progress=False)
    assert [r["id"] for r in second] == ["probs-q3", "probs-q4"]  # solved, not read back
    assert yaml.safe_load((out / "config.yaml").read_text())["datasets"][0]["start"] == 3
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == [f"probs-q{k}" for k in (0, 1, 3, 4)]
