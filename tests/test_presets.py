"""Presets: the confirmed setting is the benchmark arm it was confirmed as, on the CLI, the
API and in bench configs, and what is given explicitly wins over it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import typer

from equivpruner.api import solve
from equivpruner.bench.config import BenchConfig, BenchError
from equivpruner.cli.app import app
from equivpruner.presets import PRESETS, Preset, preset
from equivpruner.search import SearchConfig
from equivpruner.search.gate import load_gate

from .cli_helpers import RobeBackend, cli, one_error_line, real_cli, refuse_models

ROOT = Path(__file__).resolve().parents[1]
# each preset and the benchmark arm that confirmed it
CONFIRMED_AS = {"gated-confidence": ("benchmarks/configs/confirm-c-40.yaml", "conf-w4")}
GC = "gated-confidence"


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
    assert chosen.protocol() == bench.protocol()
    assert chosen.search == bench.arm_search(arm)
    assert chosen.pruner == bench.arm(arm)["pruner"]
    assert chosen.value == bench.arm_value(arm)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_setting_has_a_solve_option_to_override_it(name):
    from equivpruner.cli.app import OPTION_OF_FIELD

    options = {p.name for p in typer.main.get_command(app).get_command(None, "solve").params}
    chosen = preset(name)
    for field in [*chosen.settings, *chosen.limits]:
        assert OPTION_OF_FIELD.get(field, field) in options, field


def test_presets_refuse_what_they_cannot_set_and_stay_fixed():
    with pytest.raises(ValueError, match="preset"):
        preset("fastest")
    with pytest.raises(ValueError, match="colour"):
        Preset("x", "mcts", "none", "constant", {"colour": 1}, {})
    with pytest.raises(ValueError, match="prior"):
        preset(GC).search_config(keep={"prior"})  # the option's name, not the field's
    with pytest.raises(TypeError):
        preset(GC).settings["width"] = 9  # type: ignore[index]


def _run(tmp_path, *args):
    tree = tmp_path / "t.json"
    result = cli("solve", *args, "--json", "--save-tree", str(tree), "What is 1+1?")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    return out["search"], json.loads(tree.read_text())["meta"]


def test_cli_preset_sets_search_pruner_value_and_options(tmp_path):
    search, meta = _run(tmp_path, "--preset", GC)
    assert search["algorithm"] == "mcts"
    for field, value in preset(GC).settings.items():
        assert search[field] == value, field
    assert meta["detector"] == "cascade"
    assert meta["value"] == "confidence"


def test_cli_options_given_win_over_the_preset(tmp_path):
    search, meta = _run(
        tmp_path, "--preset", GC, "--width", "3", "--prior", "empirical",
        "--pruner", "exact", "--no-arithmetic-check", "--search", "beam", "--value", "selfeval",
    )  # fmt: skip
    assert (search["width"], search["prior_rule"], search["arithmetic_check"]) == (
        3, "empirical", False,
    )  # fmt: skip
    assert (search["algorithm"], meta["detector"], meta["value"]) == ("beam", "exact", "selfeval")
    # what was not given still comes from the preset
    assert search["stop_detector"] == "cascade-strict" and search["single_group_commit"]
    search, _ = _run(tmp_path, "--preset", GC, "--branch-gate", "none")
    assert search["branch_gate"] is None and search["width_rule"] == "new-group"


def test_cli_preset_sets_the_step_limits_unless_given(tmp_path):
    def depth_reached(*args):
        deep = RobeBackend(lambda prefix: ["Still thinking."])  # never ends: runs to the cap
        result = cli("solve", *args, "--json", "What is 1+1?", backend=deep)
        assert result.exit_code in (0, 1), result.output
        return len(json.loads(result.output.strip().splitlines()[-1])["steps"])

    assert depth_reached("--preset", GC, "--width", "1") == preset(GC).limits["max_depth"]
    assert depth_reached("--preset", GC, "--width", "1", "--max-depth", "3") == 3


def test_a_width_under_the_presets_least_width_lowers_it(tmp_path):
    search, _ = _run(tmp_path, "--preset", GC, "--width", "1")
    assert (search["width"], search["min_width"]) == (1, 1)
    search, _ = _run(tmp_path, "--preset", GC, "--width", "3", "--min-width", "3")
    assert (search["width"], search["min_width"]) == (3, 3)


def test_a_min_width_over_the_presets_width_is_refused(monkeypatch):
    refuse_models(monkeypatch)
    line = one_error_line(real_cli("solve", "--preset", GC, "--min-width", "5", "What is 1+1?"))
    assert "--min-width 5 is more than --width 4" in line


def test_a_bad_branch_gate_fails_before_a_model_loads(monkeypatch):
    refuse_models(monkeypatch)
    result = real_cli("solve", "--preset", GC, "--branch-gate", "no-such-gate", "What is 1+1?")
    line = one_error_line(result)
    assert "no-such-gate" in line and "embedded-qwen" in line


def test_cli_preset_applies_to_every_question_of_a_batch(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("What is 1+1?\nWhat is 2+2?\n")
    result = cli("solve", "--preset", GC, "--file", str(questions))
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.splitlines() if x.startswith("{")]
    assert len(lines) == 2
    assert all((x["search"]["algorithm"], x["search"]["width"]) == ("mcts", 4) for x in lines)


def test_without_a_preset_the_defaults_stand(tmp_path):
    search, meta = _run(tmp_path)
    assert search == asdict(SearchConfig(algorithm="greedy"))
    assert meta["detector"] == "none"


def test_api_solves_with_a_preset_over_a_config_of_ones_own():
    args = preset(GC).solve_args(SearchConfig(width=3, seed=7), keep={"width"})
    result = solve("What is 1+1?", model=RobeBackend(), **args)
    assert result.answer == "3"
    search = result.tree.meta["search"]
    assert (search["algorithm"], search["width"], search["seed"]) == ("mcts", 3, 7)
    assert search["branch_gate"] == "embedded-qwen" and args["protocol"].max_depth == 10


def test_a_bench_arm_may_name_a_preset_and_override_it():
    cfg = BenchConfig.from_dict(
        {"arms": [{"name": "gc", "preset": GC, "width": 3, "pruner": "exact"}, {"name": "none"}]}
    )
    chosen = preset(GC)
    assert asdict(cfg.search_config(0, "gc")) == asdict(
        chosen.search_config(SearchConfig(temperature=cfg.temperature, width=3), keep={"width"})
    )
    assert (cfg.arm("gc")["pruner"], cfg.arm_value("gc")) == ("exact", "confidence")
    assert cfg.arm_search("none") == cfg.search and cfg.arm("none")["pruner"] == "none"
    with pytest.raises(BenchError, match="no preset 'fastest'"):
        BenchConfig.from_dict({"arms": [{"name": "x", "preset": "fastest"}]})
