"""The README's command lines, run as written.

The `bash` blocks of "## Use" run line by line in a temporary folder, on the scripted
policy (the commands and all their options are the README's; only the weights are swapped).
The `$ equivpruner equiv ...` examples must print what the README shows. A slow test runs the
tiny-model example on the real model.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from equivpruner.cli.app import app

from .cli_helpers import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def bash_lines(text: str) -> list[str]:
    """The command lines of the ```bash blocks (continuations joined, comments dropped)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        lines += [ln.strip() for ln in joined.splitlines() if ln.strip() and ln[0] != "#"]
    return lines


def printf(fmt: str) -> str:
    return fmt.replace("\\n", "\n").replace("\\t", "\t")


def run_line(line: str, cwd: Path):
    """Run one README line: `printf X > F`, `echo X | equivpruner ...`,
    `equivpruner ... [> F]`; `source` is skipped. Returns the result of an equivpruner run."""
    words = shlex.split(line, comments=True)
    if words[0] == "source":
        return None
    stdin = None
    if "|" in words:
        bar = words.index("|")
        assert words[0] == "echo", line
        stdin, words = " ".join(words[1:bar]) + "\n", words[bar + 1 :]
    out = None
    if ">" in words:
        out, words = cwd / words[words.index(">") + 1], words[: words.index(">")]
    if words[0] == "printf":
        out.write_text(printf(words[1]))
        return None
    assert words[0] == "equivpruner", f"the README test cannot run: {line}"
    result = cli(*words[1:], input=stdin)
    assert result.exit_code == 0, f"{line}\n{result.output}"
    if out is not None:
        out.write_text(result.stdout)
    return result


def test_the_use_section_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = bash_lines(section("Use"))
    assert not any("..." in ln for ln in lines)  # every example is a full command
    results = {ln: run_line(ln, tmp_path) for ln in lines}
    solved = [r for ln, r in results.items() if r is not None and " solve " in f" {ln} "]
    assert len(solved) == 5
    for line, result in results.items():
        if result is None or "--json" not in line:
            continue
        assert json.loads(result.stdout)["answer"] == "3"
    mcts = next(r for ln, r in results.items() if "--gold 3" in ln)
    assert "answer: 3 (correct)" in mcts.stdout and "siblings kept" in mcts.stdout
    assert json.loads((tmp_path / "t.json").read_text())["chosen_path"]
    assert (tmp_path / "t.html").read_text().startswith("<!DOCTYPE")
    batch = [json.loads(x) for x in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [r["question"] for r in batch] == ["What is 17 + 25?", "What is 6 times 7?"]
    piped = next(r for ln, r in results.items() if ln.startswith("echo"))
    assert "progress: question 1/1 · committed depth" in piped.stderr
    assert "expansion of node 0" in piped.stderr
    assert json.loads(piped.stdout)["question"] == "What is 17 + 25?"


def test_the_equiv_examples_print_what_the_readme_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = [{"step_a": "3 × 4 = 12", "step_b": "4 * 3 = 12", "label": 1},
             {"step_a": "48 / 2 = 24", "step_b": "48 / 2 = 25", "label": 0}]  # fmt: skip
    (tmp_path / "my_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    block = re.search(r"```bash\n(\$ equivpruner equiv .*?)```", section("Equivalence detectors"),
                      re.S).group(1)  # fmt: skip
    examples = re.findall(r"^\$ (.*)\n((?:[^$].*\n)*)", block, re.M)
    assert len(examples) == 3
    for command, shown in examples:
        words = shlex.split(command, comments=True)
        result = CliRunner().invoke(app, words[1:])
        assert result.exit_code == 0, f"{command}\n{result.output}"
        if shown.strip():
            assert result.stdout.strip() == shown.strip(), command
        else:
            assert "accuracy" in result.stdout


@pytest.mark.slow
def test_the_tiny_model_example_on_the_real_model():
    line = next(ln for ln in bash_lines(section("Use")) if "embedded:smollm2-135m" in ln)
    result = CliRunner().invoke(app, shlex.split(line)[1:])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["steps"] and record["model"] == "embedded:smollm2-135m"
