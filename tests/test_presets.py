"""Presets: the confirmed setting is the benchmark arm it was confirmed as, on the CLI and the
API, and options given explicitly win over it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from equivpruner.api import solve
from equivpruner.bench.config import BenchConfig, BenchError
from equivpruner.presets import PRESETS, preset
from equivpruner.search import SearchConfig
from equivpruner.search.gate import load_gate

from .cli_helpers import RobeBackend, cli

ROOT = Path(__file__).resolve().parents[1]
# each preset and the benchmark arm that confirmed it
CONFIRMED_AS = {"gated-confidence": ("benchmarks/configs/confirm-c-40.yaml", "conf-w4")}


def test_every_preset_names_the_arm_that_confirmed_it():
    assert set(CONFIRMED_AS) == set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_runs_what_the_benchmark_arm_ran(name):
    config_file, arm = CONFIRMED_AS[name]
    bench = BenchConfig.from_yaml(ROOT / config_file)
    ran = asdict(bench.search_config(seed=0, arm=arm))
    chosen = preset(name)
    mine = asdict(chosen.search_config(SearchConfig(temperature=bench.temperature)))
    # the gate is the same fit, shipped in the package rather than read from benchmarks/
    assert load_gate(mine.pop("branch_gate")) == load_gate(ROOT / ran.pop("branch_gate"))
    assert mine == ran
    assert chosen.search == bench.arm_search(arm)
    assert chosen.pruner == bench.arm(arm)["pruner"]
    assert chosen.value == bench.arm_value(arm)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="gated-confidence"):
        preset("fastest")


def _run(tmp_path, *args):
    tree = tmp_path / "t.json"
    result = cli("solve", *args, "--json", "--save-tree", str(tree), "What is 1+1?")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    return out["search"], json.loads(tree.read_text())["meta"]


def test_cli_preset_sets_search_pruner_value_and_options(tmp_path):
    search, meta = _run(tmp_path, "--preset", "gated-confidence")
    chosen = preset("gated-confidence")
    assert search["algorithm"] == "mcts"
    for field, value in chosen.settings.items():
        assert search[field] == value, field
    assert meta["detector"] == "cascade"
    assert meta["value"] == "confidence"


def test_cli_options_given_win_over_the_preset(tmp_path):
    search, meta = _run(
        tmp_path, "--preset", "gated-confidence", "--width", "3", "--prior", "empirical",
        "--pruner", "exact", "--no-arithmetic-check",
    )  # fmt: skip
    assert (search["width"], search["prior_rule"], search["arithmetic_check"]) == (
        3, "empirical", False,
    )  # fmt: skip
    assert meta["detector"] == "exact"
    # what was not given still comes from the preset
    assert search["stop_detector"] == "cascade-strict" and search["single_group_commit"]
    assert search["algorithm"] == "mcts" and meta["value"] == "confidence"


def test_a_width_under_the_presets_least_width_lowers_it(tmp_path):
    search, _ = _run(tmp_path, "--preset", "gated-confidence", "--width", "1")
    assert (search["width"], search["min_width"]) == (1, 1)
    search, _ = _run(tmp_path, "--preset", "gated-confidence", "--width", "3", "--min-width", "3")
    assert (search["width"], search["min_width"]) == (3, 3)


def test_without_a_preset_nothing_changes(tmp_path):
    search, meta = _run(tmp_path)
    assert search == asdict(SearchConfig(algorithm="greedy", min_width=2))
    assert meta["detector"] == "none"


def test_api_solves_with_a_preset():
    result = solve("What is 1+1?", model=RobeBackend(), **preset("gated-confidence").solve_args())
    assert result.answer == "3"
    assert result.tree.meta["search"]["algorithm"] == "mcts"
    assert result.tree.meta["search"]["width"] == 4


def test_a_bench_arm_may_name_a_preset_and_override_it():
    cfg = BenchConfig.from_dict(
        {"arms": [{"name": "gc", "preset": "gated-confidence", "width": 3}, {"name": "none"}]}
    )
    chosen = preset("gated-confidence")
    assert asdict(cfg.search_config(0, "gc")) == asdict(
        chosen.search_config(SearchConfig(temperature=cfg.temperature, width=3), keep={"width"})
    )
    assert (cfg.arm("gc")["pruner"], cfg.arm_value("gc")) == ("cascade", "confidence")
    assert cfg.arm_search("none") == cfg.search and cfg.arm("none")["pruner"] == "none"
    with pytest.raises(BenchError, match="no preset 'fastest'"):
        BenchConfig.from_dict({"arms": [{"name": "x", "preset": "fastest"}]})
