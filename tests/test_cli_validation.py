"""Every bad input fails at once: exit code 2, one `error:` line, and no model loaded."""

from __future__ import annotations

import json

import pytest

from equivpruner.cli.app import app
from equivpruner.cli.inputs import hub_problem

from .cli_helpers import (
    EOS,
    TRUNCATED,
    ScriptedBackend,
    cli,
    one_error_line,
    real_cli,
    refuse_models,
    runner,
)

Q = "What is 1 + 1?"


@pytest.fixture
def no_model(monkeypatch):
    refuse_models(monkeypatch)


checks_first = pytest.mark.usefixtures("no_model")


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """An empty HF cache and a hub that refuses connections at once (a closed local port)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "hub"


BAD_OPTIONS = [
    (["--width", "0"], "--width"),
    (["--width", "-3"], "--width"),
    (["--simulations", "0"], "--simulations"),
    (["--simulations", "-1"], "--simulations"),
    (["--samples", "0"], "--samples"),
    (["--max-depth", "0"], "--max-depth"),
    (["--beam-width", "0"], "--beam-width"),
    (["--max-step-tokens", "0"], "--max-step-tokens"),
    (["--token-budget", "0"], "--token-budget"),
    (["--temperature", "-1"], "--temperature"),
    (["--temperature", "nan"], "--temperature"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--c-init", "-1"], "--c-init"),
    (["--c-puct", "-1"], "--c-init"),
    (["--c-base", "0"], "--c-base"),
    (["--prune-order", "nope"], "'after', 'before'"),
    (["--keep", "nope"], "'first', 'prior', 'value', 'medoid'"),
    (["--search", "dfs"], "'mcts'"),
    (["--pruner", "magic"], "'cascade'"),
    (["--value", "nope"], "rollout[:K]"),
    (["--search", "greedy", "--value", "nope"], "--value"),
    (["--value", "rollout:0"], "--value"),
    (["--value", "rollout:two"], "--value"),
    (["--value", "prm:"], "--value"),
    (["--value", "selfeval:3"], "--value"),
    (["--value", "constant:2"], "--value"),
    (["--width-rule", "nope"], "'good-turing'"),
    (["--min-width", "0"], "--min-width"),
    (["--width", "3", "--min-width", "4"], "--min-width 4 is more than --width 3"),
    (["--wave-size", "0"], "--wave-size"),
    (["--unseen-mass", "0"], "--unseen-mass"),
    (["--unseen-mass", "1"], "--unseen-mass"),
    (["--stop-confidence", "0.5"], "--stop-confidence"),
    (["--stop-confidence", "1"], "--stop-confidence"),
    (["--threads", "0"], "--threads"),
    (["--n-ctx", "0"], "--n-ctx"),
    (["--system-prompt", "  "], "system prompt is empty"),
    (["--step-delimiter", ""], "delimiter is empty"),
    (["--model", "embedded:gpt-5"], "embedded:qwen2.5-coder-0.5b"),
    (["--model", "openai:http://127.0.0.1:9/v1#m", "--threads", "2"], "--threads applies"),
    (["--model", "openai:http://127.0.0.1:9/v1#m", "--n-ctx", "512"], "--n-ctx applies"),
]


@checks_first
@pytest.mark.parametrize(("args", "says"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_option_is_one_line_before_any_model(args, says):
    line = one_error_line(real_cli("solve", *args, Q))
    assert says in line


@checks_first
@pytest.mark.parametrize("question", ["", "   ", "x" * 100_000])
def test_bad_question_is_refused_before_the_model_loads(question):
    line = one_error_line(real_cli("solve", question))
    assert "question is empty" in line or "limit is 8,000" in line


@checks_first
def test_no_question_and_conflicting_inputs(tmp_path):
    qfile = tmp_path / "q.txt"
    qfile.write_text("What is 2 + 2?\n")
    assert "give a question" in one_error_line(real_cli("solve"))
    assert "not both" in one_error_line(real_cli("solve", "--file", str(qfile), Q))
    line = one_error_line(real_cli("solve", "--file", str(qfile), "--gold", "4"))
    assert "--gold takes one question" in line
    line = one_error_line(real_cli("solve", "--file", str(qfile), "--save-tree", "t.json"))
    assert "--save-tree" in line
    assert "give --json too" in one_error_line(real_cli("solve", "--merges", Q))
    line = one_error_line(real_cli("solve", "--save-tree", str(tmp_path / "no" / "t.json"), Q))
    assert "has no such folder" in line
    assert "is a directory" in one_error_line(real_cli("solve", "--html", str(tmp_path), Q))


@checks_first
def test_unknown_hub_id_fails_fast_when_offline(offline_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = one_error_line(real_cli("solve", "--model", "nobody/no-such-model", Q))
    assert "nobody/no-such-model" in line and "HF_HUB_OFFLINE is set" in line


@checks_first
def test_unreachable_hub_fails_fast_and_says_so(offline_hub, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    line = one_error_line(real_cli("solve", "--model", "nobody/no-such:model.gguf", Q))
    assert "cannot be reached" in line and "127.0.0.1:9" in line
    line = one_error_line(real_cli("solve", "--search", "mcts", "--value", "prm:nobody/prm", Q))
    assert "--value prm: nobody/prm" in line


def test_a_cached_hub_model_passes_the_check(offline_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (offline_hub / "models--org--name" / "snapshots" / "abc123").mkdir(parents=True)
    assert hub_problem("org/name") is None
    assert "HF_HUB_OFFLINE" in hub_problem("org/name", "model.gguf")
    result = cli("solve", "--model", "org/name", "--json", Q)  # the check lets it load
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "3"


def test_help_lists_the_choices():
    wide = {"COLUMNS": "400"}
    text = runner.invoke(app, ["solve", "--help"], env=wide).output
    for choice in ("cascade-ce", "levenshtein", "medoid", "before", "good-turing", "bon"):
        assert choice in text
    text = runner.invoke(app, ["equiv", "--help"], env=wide).output
    assert "symbolic, levenshtein" in text and "cascade-ce" in text


@checks_first
def test_equiv_errors_are_one_line(tmp_path):
    assert "give two steps" in one_error_line(real_cli("equiv", "2 + 2 = 4"))
    assert "first step is empty" in one_error_line(real_cli("equiv", "", ""))
    assert "second step is empty" in one_error_line(real_cli("equiv", "2 + 2 = 4", " "))
    assert "'cascade'" in one_error_line(real_cli("equiv", "--detector", "nope", "a", "b"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert one_error_line(real_cli("equiv", "--pairs", str(empty))).endswith(
        f"{empty}: holds no pairs"
    )
    rows = [{"step_a": "a", "step_b": "b", "label": 1}, {"step_a": "a", "step_b": "c"}]
    unlabelled = tmp_path / "pairs.jsonl"
    unlabelled.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    line = one_error_line(real_cli("equiv", "--pairs", str(unlabelled)))
    assert f"{unlabelled}:3: needs a 'label'" in line
    missing = tmp_path / "missing.jsonl"
    assert one_error_line(real_cli("equiv", "--pairs", str(missing))).endswith(
        f"{missing}: no such file"
    )


@checks_first
def test_eval_detector_and_label_file_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    line = one_error_line(real_cli("eval-detector", str(empty), "--detectors", "exact"))
    assert line.endswith(f"{empty}: holds no labelled pairs")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step_a": "a", "step_b": "b"}\nnot json\n')
    line = one_error_line(real_cli("label", str(bad), "--out", str(tmp_path / "o.jsonl")))
    assert f"{bad}:2: invalid JSON" in line


def test_a_first_step_that_runs_too_long_says_why():
    backend = ScriptedBackend(lambda prefix: ["A very long restatement" + TRUNCATED])
    result = cli("solve", "--max-step-tokens", "8", Q, backend=backend)
    line = one_error_line(result, code=1)
    assert "could not start" in line and "--max-step-tokens 8" in line


def test_an_empty_first_step_says_why_also_in_json():
    backend = ScriptedBackend(lambda prefix: [EOS])
    line = one_error_line(cli("solve", Q, backend=backend), code=1)
    assert "wrote no first step" in line
    result = cli("solve", "--json", Q, backend=backend)
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert record["steps"] == [] and "wrote no first step" in record["reason"]


def test_a_backend_failure_during_the_search_is_one_line_exit_1():
    line = one_error_line(cli("solve", "--search", "mcts", "FAIL on this question"), code=1)
    assert line == "error: the server went away"
