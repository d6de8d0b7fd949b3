"""`solve --file` batches, the progress line, `--verbose` and `--json --merges`, and the
search events behind them (a scripted policy: no model, a few seconds)."""

from __future__ import annotations

import json
import re

import pytest

from equivpruner import SearchConfig, solve
from equivpruner.cli.solve import Display
from equivpruner.equiv.exact import ExactDetector

from .cli_helpers import RobeBackend, cli, one_error_line, real_cli, refuse_models

MCTS = ["--search", "mcts", "--width", "3", "--simulations", "2", "--pruner", "exact"]


def lines_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_jsonl_batch_writes_one_line_per_question_in_order(tmp_path):
    qfile = tmp_path / "questions.jsonl"
    rows = [
        {"id": "a", "question": "A robe takes 2 bolts of blue fiber and half that much white.",
         "answer": "3"},
        {"problem": "Same robe, told another way.", "gold": "#### 4"},
        {"id": 7, "question": "No reference answer here."},
    ]  # fmt: skip
    qfile.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    result = cli("solve", "--file", str(qfile), *MCTS)
    assert result.exit_code == 0, result.output
    out = lines_of(result)
    assert [r["id"] for r in out] == ["a", 2, 7]  # the line number when no id is given
    assert [r["answer"] for r in out] == ["3", "3", "3"]
    assert [r["correct"] for r in out] == [True, False, None]
    assert out[1]["question"] == "Same robe, told another way." and out[1]["gold"] == "4"
    assert all(r["search"]["algorithm"] == "mcts" and r["search"]["width"] == 3 for r in out)


def test_txt_batch_from_stdin():
    result = cli("solve", "--file", "-", input="What is 2 + 1?\n\n  \nAnd 1 + 2?\n")
    assert result.exit_code == 0, result.output
    out = lines_of(result)
    assert [r["id"] for r in out] == [1, 4]
    assert [r["question"] for r in out] == ["What is 2 + 1?", "And 1 + 2?"]
    assert all(r["answer"] == "3" and r["steps"] for r in out)


def test_a_failing_question_gets_an_error_line_and_the_batch_goes_on(tmp_path):
    qfile = tmp_path / "q.txt"
    qfile.write_text("first\nFAIL here\nthird\n")
    result = cli("solve", "--file", str(qfile))
    assert result.exit_code == 1
    out = lines_of(result)
    assert [r["id"] for r in out] == [1, 2, 3]
    assert out[1]["error"] == f"{qfile}:2: the server went away"
    assert out[0]["answer"] == out[2]["answer"] == "3"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", ": holds no questions"),
        ('{"question": "ok"}\n{"question": \n', ":2: invalid JSON"),
        ('{"question": "ok"}\n["a list"]\n', ":2: expected a JSON object, got list"),
        ('{"question": "ok"}\n{"id": 3}\n', ":2: needs a 'question' (or 'problem') text"),
        ('{"question": "   "}\n', ":1: The question is empty"),
        ('{"question": "ok", "answer": [1]}\n', ":1: the answer must be text or a number"),
    ],
)
def test_bad_question_files_name_file_and_line_before_any_model(tmp_path, monkeypatch, text, says):
    refuse_models(monkeypatch)
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(text)
    assert f"error: {qfile}{says}" in one_error_line(real_cli("solve", "--file", str(qfile)))


def test_missing_question_file(tmp_path, monkeypatch):
    refuse_models(monkeypatch)
    missing = tmp_path / "nope.txt"
    assert one_error_line(real_cli("solve", "--file", str(missing))).endswith(
        f"{missing}: no such file"
    )


def test_progress_lines_show_depth_simulations_tokens_and_merges():
    result = cli("solve", *MCTS, "--progress", "--json", "A robe?")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # stdout stays one JSON line
    found = re.findall(
        r"progress: committed depth (\d+)/12 · simulation (\d+) · ([\d,]+) tokens · (\d+) merges",
        result.stderr,
    )
    assert len(found) == 3 * 2  # three committed steps, two simulations each
    depths = [int(d) for d, *_ in found]
    sims = [int(s) for _, s, *_ in found]
    tokens = [int(t.replace(",", "")) for *_, t, _ in found]
    assert sims == list(range(1, 7)) and depths == sorted(depths) and depths[-1] == 2
    assert tokens == sorted(tokens) and tokens[-1] == record["generated_tokens"]
    # one count of merges: identical folds included, split by stage, the same in the JSON
    stats = record["stats"]
    assert stats["merged_by_stage"] == {"identical": stats["exact_duplicates"], "exact": 1}
    assert int(found[-1][3]) == sum(stats["merged_by_stage"].values()) == 5
    assert "· 5 merges (4 identical, 1 exact) ·" in result.stderr.splitlines()[-1]


def test_progress_is_off_without_a_tty_unless_asked():
    assert "progress:" not in cli("solve", *MCTS, "A robe?").stderr
    assert "progress:" not in cli("solve", *MCTS, "--no-progress", "A robe?").stderr
    greedy = cli("solve", "--progress", "A robe?").stderr
    assert re.findall(r"progress: depth (\d+)/12", greedy) == ["1", "2", "3"]


def test_verbose_shows_groups_and_the_deciding_stage():
    result = cli("solve", *MCTS, "-v", "A robe?")
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "expansion of node 0 (depth 1): 3 samples, 1 group, stopped: cap\n" in err
    assert "  node 1: Blue fiber: 2 bolts." in err
    assert "    + merged (exact, p=1.00): blue fiber: 2 bolts" in err
    assert "    + merged (identical, p=1.00): Blue fiber: 2 bolts." in err
    assert "committed step 1" in err
    assert "siblings kept" in result.stdout


def test_json_merges_lists_every_merge_record():
    plain = json.loads(cli("solve", *MCTS, "--json", "A robe?").stdout)
    assert "merges" not in plain
    record = json.loads(cli("solve", *MCTS, "--json", "--merges", "A robe?").stdout)
    exact = [m for m in record["merges"] if m["stage"] == "exact"]
    assert exact == [
        {"node": 1, "depth": 1, "kept": "Blue fiber: 2 bolts.", "text": "blue fiber:  2 bolts",
         "stage": "exact", "probability": 1.0}
    ]  # fmt: skip
    assert {m["stage"] for m in record["merges"]} == {"exact", "identical"}


def test_greedy_prints_no_siblings_kept():
    result = cli("solve", "A robe?")
    assert result.exit_code == 0 and "answer: 3" in result.stdout
    assert "siblings kept" not in result.stdout


def test_knobs_reach_the_search_config_and_the_protocol():
    seen = []

    class Recording(RobeBackend):
        def generate(self, prompts, params):
            seen.append(params)
            return super().generate(prompts, params)

    backend = Recording()
    result = cli(
        "solve", *MCTS, "--top-p", "0.9", "--c-puct", "2.5", "--c-base", "100",
        "--width-rule", "new-group", "--min-width", "2", "--wave-size", "2",
        "--unseen-mass", "0.3", "--single-group-commit", "--stop-confidence", "0.9",
        "--system-prompt", "Be brief.", "--step-delimiter", "\\n\\n", "--json", "A robe?",
        backend=backend,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.stdout)["search"]
    assert cfg["top_p"] == 0.9 and cfg["c_init"] == 2.5 and cfg["c_base"] == 100
    assert cfg["width_rule"] == "new-group" and cfg["min_width"] == 2 and cfg["wave_size"] == 2
    assert cfg["unseen_mass"] == 0.3 and cfg["single_group_commit"] is True
    assert cfg["stop_confidence"] == 0.9 and cfg["adaptive_stop"] is False
    assert all(p.top_p == 0.9 and p.stop == ("\n\n",) for p in seen)
    assert "<|system|>\nBe brief.\n" in backend.prompts_seen[0]


def test_backend_options_reach_the_loader(tmp_path):
    asked = []

    def load(spec, **opts):
        asked.append((spec, opts))
        return RobeBackend()

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    from typer.testing import CliRunner

    from equivpruner.cli.app import app

    args = ["solve", "--model", str(gguf), "--threads", "3", "--n-ctx", "2048", "A robe?"]
    result = CliRunner().invoke(app, args, obj={"load_backend": load})
    assert result.exit_code == 0, result.output
    assert asked == [(str(gguf), {"n_threads": 3, "n_ctx": 2048})]


def test_solve_events_from_the_api():
    events = []
    result = solve(
        "A robe?", model=RobeBackend(), search="mcts", pruner=ExactDetector(),
        value="constant", config=SearchConfig(width=3, simulations=2),
        on_event=lambda kind, data: events.append((kind, data)),
    )  # fmt: skip
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    nodes = [d for k, d in events if k == "node"]
    assert [d["node"] for d in nodes] == list(range(1, len(result.tree.nodes)))
    assert nodes[0]["merged"][0]["stage"] in ("exact", "identical")
    sims = [d for k, d in events if k == "simulation"]
    assert [d["simulations"] for d in sims] == list(range(1, 7))
    assert events[-1][1]["tokens"] == result.stats.generated_tokens
    assert events[-1][1]["steps"] == 3 and events[-1][1]["answer"] == "3"


def test_display_line_names_what_it_counts():
    display = Display(progress=False, verbose=False)
    display("start", {"search": "mcts", "max_depth": 5, "simulations": 2, "tokens": 0})
    display("simulation", {"simulations": 4, "depth": 2, "tokens": 1234, "merges": 3})
    assert display.line().startswith("committed depth 2/5 · simulation 4 · 1,234 tokens · 3 merges")


def test_merges_are_counted_once_with_the_identical_folds():
    from equivpruner.search.stats import SearchStats

    stats = SearchStats(exact_duplicates=2, merged_by_stage={"exact": 1, "features": 3})
    assert stats.merges == 6
    saved = stats.to_dict()
    assert saved["merged_by_stage"] == {"identical": 2, "exact": 1, "features": 3}
    assert SearchStats.from_dict(saved) == stats  # the identical folds are not counted twice
