"""The command line: JSON output on the real tiny model, and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from equivpruner.cli.app import app
from equivpruner.search import Tree

runner = CliRunner()


def run_cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_a_one_line_error(question):
    result = run_cli("solve", "--model", "embedded:smollm2-135m", question)
    assert result.exit_code == 2
    assert "question is empty" in result.output
    assert "Traceback" not in result.output


def test_long_question_is_refused():
    result = run_cli("solve", "--model", "embedded:smollm2-135m", "x" * 100_000)
    assert result.exit_code == 2 and "limit is 8,000" in result.output


def test_unknown_model_lists_valid_ones():
    result = run_cli("solve", "--model", "embedded:gpt-5", "What is 1+1?")
    assert result.exit_code == 2
    assert "embedded:qwen2.5-coder-0.5b" in result.output and "Traceback" not in result.output


def test_unknown_search_and_pruner_are_clear():
    result = run_cli("solve", "--model", "embedded:smollm2-135m", "--search", "dfs", "1+1?")
    assert result.exit_code == 2 and "'dfs' is not one of" in result.output
    assert "mcts" in result.output
    result = run_cli("solve", "--model", "embedded:smollm2-135m", "--pruner", "magic", "1+1?")
    assert result.exit_code == 2 and "cascade" in result.output


def test_corrupted_gguf_is_refused(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    result = run_cli("solve", "--model", str(bad), "What is 1+1?")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_equiv_command_prints_verdict_and_stage():
    result = run_cli("equiv", "--detector", "symbolic", "48 / 2 = 24", "48 / 2 = 25")
    assert result.exit_code == 0
    assert "not equivalent" in result.output and "stage=symbolic" in result.output


def test_view_renders_saved_tree(tmp_path):
    tree = Tree("What is 2+2?")
    tree.add_child(tree.root, "2 + 2 = \\boxed{4}", terminal=True)
    tree.save(tmp_path / "t.json")
    result = run_cli("view", str(tmp_path / "t.json"), "-o", str(tmp_path / "t.html"))
    assert result.exit_code == 0 and (tmp_path / "t.html").read_text().startswith("<!DOCTYPE")


@pytest.mark.slow
def test_solve_json_on_the_tiny_model(tmp_path):
    tree_file = tmp_path / "t.json"
    out = subprocess.run(
        [sys.executable, "-m", "equivpruner", "solve", "--model", "embedded:smollm2-135m",
         "--json", "--max-depth", "4", "--save-tree", str(tree_file), "What is 17 + 25?"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    data = json.loads(out.stdout)
    assert data["steps"] and data["generated_tokens"] > 0
    assert data["stats"]["phases"]["expansion"]["generated_tokens"] == data["generated_tokens"]
    assert "answer" in data and data["model"] == "embedded:smollm2-135m"
    assert Tree.load(tree_file).chosen_path


def solve_tiny(tmp_path, *options: str):
    """`solve` on the tiny model with `options`, its output and the saved tree."""
    tree_file = tmp_path / "t.json"
    result = run_cli(
        "solve", "--model", "embedded:smollm2-135m", "--max-step-tokens", "32", "--pruner",
        "exact", *options, "--save-tree", str(tree_file), "What is 17 + 25?",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result, Tree.load(tree_file)


@pytest.mark.slow
def test_mcts_with_exact_pruner_on_the_tiny_model(tmp_path):
    result, tree = solve_tiny(
        tmp_path, "--search", "mcts", "--width", "3", "--simulations", "2", "--max-depth", "2",
        "--value", "selfeval",
    )  # fmt: skip
    assert "tokens by phase" in result.output
    assert tree.meta["stats"]["phases"]["value"]["calls"] > 0
    assert len(tree.nodes) > 1


@pytest.mark.slow
def test_shared_chains_on_the_tiny_model(tmp_path):
    _, tree = solve_tiny(
        tmp_path, "--search", "chains", "--samples", "3", "--width", "3", "--width-rule",
        "new-group", "--max-depth", "3",
    )  # fmt: skip
    assert tree.root.visits == 3  # three chains, each from the root
    assert 1 <= tree.root.expansion["samples"] <= 3
    assert tree.meta["stats"]["phases"]["value"]["calls"] == 0  # no value model is asked
    drawn = sum(n.tokens + sum(m.tokens for m in n.merged) for n in tree.nodes)
    assert tree.meta["stats"]["phases"]["expansion"]["generated_tokens"] >= drawn > 0
