"""The benchmark runner and report on a scripted policy (no model, a few seconds)."""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from equivpruner.bench.config import BenchConfig, BenchError, problem_seed
from equivpruner.bench.metrics import paired_bootstrap, wilson
from equivpruner.bench.report import write_report
from equivpruner.bench.runner import is_thread_safe, run_bench
from equivpruner.bench.store import ResultStore, read_results
from equivpruner.llm.base import BackendError
from equivpruner.llm.scripted import EOS, ScriptedBackend

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    ("What is 2 + 5?", "7"),
    ("Add 3 and 4.", "7"),
    ("What is 9 - 4?", "5"),
    ("What is 1 + 6?", "7"),
]


def script(prefix: str):
    """Two root steps equal after normalisation (the exact arm merges them)."""
    if prefix == "":
        return ["Let x be 2.", "let x be 2", "Take x = 2.", "So the answer is \\boxed{7}"]
    if prefix.count("\n\n") >= 2:
        return ["Therefore \\boxed{7}" + EOS]
    return ["Then add 5.", "then add 5", "Hence \\boxed{7}"]


class SlowBackend(ScriptedBackend):
    """Scripted; sleeps per call; raises BackendError for questions containing FAIL."""

    def __init__(self, delay: float = 0.0, fail: bool = True):
        super().__init__(script)
        self.delay, self.fail = delay, fail
        self.seeds: list[tuple[str, int | None]] = []
        self.active = self.max_active = 0
        self.lock = threading.Lock()

    def generate(self, prompts, params):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.fail and any("FAIL" in p for p in prompts):
                raise BackendError("server at http://127.0.0.1:9/v1 is not reachable after 3 tries")
            if self.delay:
                time.sleep(self.delay)
            self.seeds.extend((p, params.seed) for p in prompts)
            return super().generate(prompts, params)
        finally:
            with self.lock:
                self.active -= 1


class UnsafeBackend(SlowBackend):
    thread_safe = False


def write_problems(path: Path, extra: list[tuple[str, str]] = ()) -> Path:
    rows = [*QUESTIONS, *extra]
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in rows))
    return path


def make_cfg(tmp_path: Path, out: str = "out", **kw) -> BenchConfig:
    data = tmp_path / "probs.jsonl"
    if not data.exists():
        write_problems(data)
    base = dict(
        datasets=[{"name": str(data)}],
        search="mcts",
        width=3,
        simulations=2,
        value="constant",
        pruners=["none", "exact"],
        out=str(tmp_path / out),
    )
    return BenchConfig(**{**base, **kw})


def untimed(records) -> set[str]:
    return {
        json.dumps(
            {
                k: v
                for k, v in r.items()
                if not k.endswith("_seconds") and not k.startswith("cache_")
            },
            sort_keys=True,
        )
        for r in records
    }


def test_arms_see_same_problems_and_seeds(tmp_path):
    backend = SlowBackend()
    records = run_bench(make_cfg(tmp_path), backend=backend, progress=False)
    by_arm = {a: [r for r in records if r["arm"] == a] for a in ("none", "exact")}
    assert [r["id"] for r in by_arm["none"]] == [r["id"] for r in by_arm["exact"]]
    assert [r["seed"] for r in by_arm["none"]] == [problem_seed(0, k) for k in range(4)]
    assert [r["seed"] for r in by_arm["exact"]] == [r["seed"] for r in by_arm["none"]]
    first_calls = [(p, s) for p, s in backend.seeds if p.endswith("<|assistant|>\n")]
    # the shared cache: each root is sampled once, the second arm reads the first's siblings
    assert len(first_calls) == 4 and len(set(first_calls)) == 4
    assert all(r["cache_hits"] > 0 for r in by_arm["exact"])
    assert all(r["status"] == "ok" for r in records)
    none, exact = by_arm["none"][0], by_arm["exact"][0]
    assert exact["siblings_kept"] < none["siblings_kept"]
    assert exact["generated_tokens"] < none["generated_tokens"]
    assert (tmp_path / "out" / none["tree"]).is_file()


def test_concurrency_matches_sequential_and_respects_thread_safety(tmp_path):
    seq = run_bench(make_cfg(tmp_path, "seq"), backend=SlowBackend(), progress=False)
    par = run_bench(
        make_cfg(tmp_path, "par", concurrency=3), backend=SlowBackend(0.01), progress=False
    )
    assert untimed(par) == untimed(seq)
    unsafe = UnsafeBackend(0.01)
    assert not is_thread_safe(unsafe) and is_thread_safe(SlowBackend())
    cfg = make_cfg(tmp_path, "unsafe", concurrency=4, cache="none")
    run_bench(cfg, backend=unsafe, progress=False)
    assert unsafe.max_active == 1


class PausingBackend(SlowBackend):
    """Once a problem is on file, says "paused" on stdout and blocks: the parent kills the run
    there, in the middle, however slowly either process is scheduled."""

    def __init__(self, results: Path):
        super().__init__()
        self.results = results

    def generate(self, prompts, params):
        if self.results.is_file() and self.results.read_text().count("\n") >= 1:
            print("paused", flush=True)
            threading.Event().wait()
        return super().generate(prompts, params)


RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from equivpruner.bench.runner import run_bench
from tests.test_bench import PausingBackend, SlowBackend, make_cfg
tmp = Path(sys.argv[2])
pause = sys.argv[3] == "pause"
backend = PausingBackend(tmp / "out" / "results.jsonl") if pause else SlowBackend()
run_bench(make_cfg(tmp), backend=backend, progress=False)
"""


def _run_script(tmp_path: Path, mode: str) -> subprocess.Popen:
    script_file = tmp_path / "run.py"
    script_file.write_text(RUNNER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(script_file), str(ROOT), str(tmp_path), mode]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    results = tmp_path / "out" / "results.jsonl"
    proc = _run_script(tmp_path, "pause")
    ready, _, _ = select.select([proc.stdout], [], [], 600)  # a guard against a hang only
    assert ready and proc.stdout.readline() == b"paused\n", proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = read_results(results)
    assert 1 <= len(partial) < 8
    # mark the finished problems (a rerun that redid them would lose the mark), then add
    # what a kill in the middle of a write leaves
    marked = "".join(json.dumps({**r, "wall_seconds": 12345.0}) + "\n" for r in partial.values())
    results.write_text(marked + '{"arm": "none", "id": "pro')
    proc = _run_script(tmp_path, "run")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    keys = [(r["arm"], r["id"]) for r in lines]
    assert len(keys) == len(set(keys)) == 8
    assert sum(r["wall_seconds"] == 12345.0 for r in lines) == len(partial)  # kept, not redone
    reference = run_bench(make_cfg(tmp_path, "ref"), backend=SlowBackend(), progress=False)
    assert untimed(lines) == untimed(reference)


def test_failed_problems_are_counted_apart_and_retried(tmp_path):
    write_problems(tmp_path / "probs.jsonl", [("FAIL: what is 3 + 4?", "7")])
    cfg = make_cfg(tmp_path)
    records = run_bench(cfg, backend=SlowBackend(), progress=False)
    failed = [r for r in records if r["status"] == "failed"]
    assert len(records) == 10 and len(failed) == 2
    assert all(r["correct"] is None and "not reachable" in r["error"] for r in failed)
    rows = {r["arm"]: r for r in write_report(cfg.out) if r["dataset"] == "all"}
    assert rows["none"]["failed"] == 1 and rows["none"]["problems"] == 4
    assert "Failed problems" in (Path(cfg.out) / "report.md").read_text()
    again = run_bench(cfg, backend=SlowBackend(fail=False), progress=False)
    assert all(r["status"] == "ok" for r in again) and len(again) == 10
    lines = (Path(cfg.out) / "results.jsonl").read_text().splitlines()
    assert len(lines) == 10


def test_resume_refuses_changed_settings(tmp_path):
    run_bench(make_cfg(tmp_path), backend=SlowBackend(), progress=False)
    with pytest.raises(BenchError, match="width: 3 -> 4"):
        run_bench(make_cfg(tmp_path, width=4), backend=SlowBackend(), progress=False)
    again = run_bench(make_cfg(tmp_path, concurrency=2), backend=SlowBackend(), progress=False)
    assert len(again) == 8
    with ResultStore(tmp_path / "out").exclusive():
        with pytest.raises(BenchError, match="another bench run"):
            run_bench(make_cfg(tmp_path), backend=SlowBackend(), progress=False)


def _record(arm, pid, correct, tokens, **kw):
    base = dict(
        arm=arm,
        id=pid,
        dataset="toy",
        index=int(pid[1:]),
        seed=0,
        question="q",
        gold="1",
        answer="1",
        correct=correct,
        status="ok",
        error=None,
        generated_tokens=tokens,
        tokens={"expansion": tokens},
        prompt_tokens=0,
        expansions=2,
        siblings_generated=6,
        siblings_kept=4,
        exact_duplicates=0,
        detector_pairs=3,
        detector_seconds=0.5,
        value_calls=4,
        value_seconds=0.1,
        wall_seconds=2.0,
        budget_exhausted=False,
        tree=None,
    )
    return {**base, **kw}


def test_report_numbers_on_hand_made_results(tmp_path):
    vanilla = [(True, 100), (True, 200), (False, 100), (False, 100), (True, 100)]
    pruned = [(True, 50), (False, 100), (True, 100), (False, 50), (True, 50)]
    records = [_record("none", f"p{k}", c, t) for k, (c, t) in enumerate(vanilla)]
    records += [_record("exact", f"p{k}", c, t) for k, (c, t) in enumerate(pruned)]
    records.append(_record("exact", "p5", None, 0, status="failed", error="BackendError: x"))
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "config.yaml").write_text("pruners: [none, exact]\n")
    write_report(tmp_path)
    with open(tmp_path / "summary.csv") as fh:
        rows = {r["arm"]: r for r in csv.DictReader(fh)}
    assert float(rows["none"]["accuracy"]) == pytest.approx(0.6)
    lo, hi = wilson(3, 5)
    assert float(rows["none"]["acc_lo"]) == pytest.approx(lo, abs=1e-6)
    assert (lo, hi) == pytest.approx((0.2307, 0.8824), abs=1e-4)
    exact = rows["exact"]
    assert exact["failed"] == "1" and exact["problems"] == "5" and exact["paired"] == "5"
    # per-problem differences [0, -1, 1, 0, 0]: see test_paired_bootstrap_closed_forms
    assert float(exact["acc_diff"]) == pytest.approx(0.0)
    assert float(exact["diff_lo"]) == pytest.approx(-0.6, abs=1e-9)
    assert float(exact["diff_hi"]) == pytest.approx(0.6, abs=1e-9)
    assert paired_bootstrap([1, 1, 1]) == (1.0, 1.0, 1.0)
    assert float(exact["token_reduction"]) == pytest.approx(1 - 350 / 600)
    assert float(exact["tokens_median"]) == 50
    assert float(exact["detector_share"]) == pytest.approx(0.25)
    assert float(exact["kept_per_expansion"]) == pytest.approx(2.0)
    md = (tmp_path / "report.md").read_text()
    assert "| `exact` | 5 | 1 | 60.0% [23.1%, 88.2%] | +0.0% [" in md
    assert "✗ 0.50×" in md
    for name in ("tokens_vs_accuracy.png", "token_ratio.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_paired_bootstrap_closed_forms():
    """Checked against the exact resampling distribution and the normal approximation, not
    against the implementation's own steps."""
    # diffs [0, -1, 1, 0, 0]: a resample's sum S = (#+1) - (#-1) over 5 draws; exactly,
    # P(S <= -4) = 0.5 % and P(S <= -3) = 3.6 %, so the 2.5 % quantile of the mean is -3/5
    # (and +3/5 by symmetry), whatever the generator, with 2000 resamples.
    assert paired_bootstrap([0, -1, 1, 0, 0]) == pytest.approx((0.0, -0.6, 0.6), abs=1e-9)
    assert paired_bootstrap([1, 1, 1]) == (1.0, 1.0, 1.0)
    # 100 problems: the percentile interval is close to mean +- 1.96 sd / sqrt(n)
    diffs = [1] * 30 + [-1] * 10 + [0] * 60
    mean, lo, hi = paired_bootstrap(diffs)
    half = 1.959963984540054 * float(np.std(diffs)) / 10
    assert mean == pytest.approx(0.2)
    assert (lo, hi) == pytest.approx((0.2 - half, 0.2 + half), abs=0.012)


def test_report_header_names_only_the_settings_the_search_reads(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps(_record("none", "p0", True, 10)) + "\n")
    for search, present, absent in [
        ("mcts", ["width 5", "simulations 3", "value selfeval"], ["samples"]),
        ("bon", ["samples 8"], ["width", "simulations", "value"]),
    ]:
        (tmp_path / "config.yaml").write_text(
            f"search: {search}\nwidth: 5\nsimulations: 3\nn_samples: 8\nvalue: selfeval\n"
            "pruners: [none]\n"
        )
        write_report(tmp_path)
        header = (tmp_path / "report.md").read_text().split("\n")[2].split("Datasets")[0]
        assert f"search `{search}`" in header
        assert all(s in header for s in present), header
        assert not any(s in header for s in absent), header


def test_report_shows_small_detector_shares():
    from equivpruner.bench.report import share

    assert share(2.3e-5) == "0.0023%" and share(0.25) == "25.0%" and share(0.0) == "0.0%"
    assert share(float("nan")) == "—"


def test_report_links_tree_pages_and_cli_report_only(tmp_path):
    from typer.testing import CliRunner

    cfg = make_cfg(tmp_path)
    run_bench(cfg, backend=SlowBackend(), progress=False)
    out = Path(cfg.out)
    write_report(out)
    md = (out / "report.md").read_text()
    assert "[tree](trees/exact/probs-0.html)" in md
    assert (out / "trees" / "exact" / "probs-0.html").is_file()
    import typer

    from equivpruner.cli.bench import bench

    app = typer.Typer()
    app.command("bench")(bench)
    app.command("other")(lambda: None)
    res = CliRunner().invoke(app, ["bench", "--out", str(out), "--report-only"])
    assert res.exit_code == 0, res.output
    assert "benchmark summary" in res.output
    res = CliRunner().invoke(app, ["bench", "--out", str(tmp_path / "none"), "--report-only"])
    assert res.exit_code == 2 and "no results" in res.output


def test_cli_options_override_yaml(tmp_path):
    from equivpruner.cli.bench import build_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "datasets: [{name: gsm8k, split: test, limit: 30}, {name: svamp, limit: 30}]\n"
        "width: 5\npruners: [none, exact, cascade]\n"
    )
    cfg = build_config(path, {"limit": 2, "width": 3, "seed": None, "out": "x"})
    assert [d["limit"] for d in cfg.datasets] == [2, 2] and cfg.width == 3
    assert cfg.pruners == ["none", "exact", "cascade"]
    cfg = build_config(path, {"dataset": "gsm8k,svamp", "split": "train", "pruners": "none"})
    assert cfg.datasets[1] == {"name": "svamp", "split": "train", "limit": None}
    with pytest.raises(BenchError, match="unknown bench settings"):
        BenchConfig.from_dict({"widht": 3})
    for name in ("cpu-reference.yaml", "smoke.yaml"):
        BenchConfig.from_yaml(ROOT / "benchmarks" / "configs" / name)
