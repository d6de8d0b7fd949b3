"""The README's command lines, run as written.

The `bash` block of "## Use" runs line by line in a scratch git checkout that holds the
project's `.gitignore` (and its `benchmarks/`), on a scripted policy that knows the answer of
each README question: the commands and all their options are the README's, only the weights
are swapped, and the loader records which `--model` each command asked for. Afterwards
`git status` must show nothing: every file an example writes is ignored. Every `solve` and
`bench` example states its expected time. The `$ equivpruner equiv ...` examples must print
what the README shows. Slow tests run the tiny-model examples on the real model.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from equivpruner.api import DEFAULT_MODEL
from equivpruner.cli.app import app

from .cli_helpers import EOS, ScriptedBackend

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TIME = re.compile(r"~\s?\d+(\.\d+)?\s?(s|min)\b")

# question (a phrase in it) -> the scripted solution, a list of sibling steps per depth
SOLUTIONS = {
    "bolts in total": [
        ["Blue fiber: 2 bolts.", "blue fiber:  2 bolts", "Blue fiber: 2 bolts."],
        ["White fiber is half of that: 2 / 2 = 1.", "Half of 2 is 1 bolt of white."],
        ["Total: 2 + 1 = \\boxed{3}" + EOS],
    ],
    "Olivia": [
        ["She had 78 dollars and spent 15.", "Olivia starts with 78 dollars and spends 15."],
        ["78 - 15 = 63, so she has \\boxed{63} dollars left." + EOS],
    ],
    "17 + 25": [["17 + 25 = 42.", "17 + 25 = 42."], ["The answer is \\boxed{42}." + EOS]],
    "6 times 7": [["6 × 7 = 42.", "6 * 7 = 42."], ["The answer is \\boxed{42}." + EOS]],
}
ANSWERS = {"bolts in total": "3", "Olivia": "63", "17 + 25": "42", "6 times 7": "42"}
UNKNOWN = [["I cannot tell: \\boxed{0}" + EOS]]


class ReadmeBackend(ScriptedBackend):
    """Answers each README question with its scripted solution; named after its spec."""

    def __init__(self, name: str):
        super().__init__(self._steps, name=name)
        self.solution = UNKNOWN

    def _steps(self, prefix: str) -> list[str]:
        depth = prefix.count("\n\n")
        return self.solution[min(depth, len(self.solution) - 1)]

    def generate(self, prompts, params):
        out = []
        for prompt in prompts:
            user = prompt.split("<|assistant|>")[0]
            key = next((k for k in SOLUTIONS if k in user), None)
            self.solution = SOLUTIONS.get(key, UNKNOWN)
            out += super().generate([prompt], params)
        return out


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def bash_lines(text: str, keep_comments: bool = False) -> list[str]:
    """The lines of the ```bash blocks (continuations joined; comments kept if asked)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        lines += [
            ln.strip() for ln in joined.splitlines()
            if ln.strip() and (keep_comments or not ln.strip().startswith("#"))
        ]  # fmt: skip
    return lines


def printf(fmt: str) -> str:
    return fmt.replace("\\n", "\n").replace("\\t", "\t")


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A scratch git checkout with the project's .gitignore and benchmarks/, as the cwd."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    (repo / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    (repo / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", ".gitignore", "benchmarks"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "scratch"], check=True)
    monkeypatch.chdir(repo)
    return repo


class Runner:
    """Runs README lines; records the model spec each load asked for."""

    def __init__(self, cwd: Path, monkeypatch):
        import equivpruner.llm.loader as loader

        self.cwd, self.models = cwd, []
        monkeypatch.setattr(loader, "load_policy", self.load)  # what `bench` loads through

    def load(self, spec: str = DEFAULT_MODEL, **opts):
        self.models.append(spec)
        return ReadmeBackend(spec)

    def run(self, line: str):
        """`printf X > F`, `echo X | equivpruner ...`, `equivpruner ... [> F]`; `source` is
        skipped. Returns the result of an equivpruner run."""
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
            out, words = self.cwd / words[words.index(">") + 1], words[: words.index(">")]
        if words[0] == "printf":
            out.write_text(printf(words[1]))
            return None
        assert words[0] == "equivpruner", f"the README test cannot run: {line}"
        result = CliRunner().invoke(app, words[1:], obj={"load_backend": self.load}, input=stdin)
        assert result.exit_code == 0, f"{line}\n{result.output}"
        if out is not None:
            out.write_text(result.stdout)
        return result


def model_of(line: str) -> str:
    words = shlex.split(line, comments=True)
    return words[words.index("--model") + 1] if "--model" in words else DEFAULT_MODEL


def answer_of(line: str) -> str:
    return next(a for k, a in ANSWERS.items() if k in line)


def test_the_use_section_runs_as_written_and_leaves_the_checkout_clean(checkout, monkeypatch):
    lines = bash_lines(section("Use"))
    assert not any("..." in ln for ln in lines)  # every example is a full command
    runner = Runner(checkout, monkeypatch)
    results = {ln: runner.run(ln) for ln in lines}
    solves = [ln for ln in lines if " solve " in f" {ln} "]
    assert len(solves) >= 6 and any("bench --config" in ln for ln in lines)
    assert [m for m in runner.models if m != "embedded:smollm2-135m"] and all(
        m in {DEFAULT_MODEL, "embedded:smollm2-135m"} for m in runner.models
    )
    for line in solves:
        result = results[line]
        if "--json" in line or "--file -" in line:
            record = json.loads(result.stdout)
            assert record["answer"] == answer_of(record["question"]), line
            assert record["model"] == model_of(line), line
        elif "--file" not in line:
            assert f"answer: {answer_of(line)}" in result.stdout, line
    tiny_mcts = next(ln for ln in solves if "smollm2" in ln and "mcts" in ln)
    assert "siblings kept" in results[tiny_mcts].stdout
    showcase = next(ln for ln in solves if "--gold" in ln)
    shown = results[showcase].stdout
    assert "answer: 63 (correct)" in shown and "siblings kept" in shown
    tree = json.loads((checkout / "t.json").read_text())
    assert tree["chosen_path"] and tree["meta"]["model"] == DEFAULT_MODEL
    assert (checkout / "t.html").read_text().startswith("<!DOCTYPE")
    batch = [json.loads(x) for x in (checkout / "answers.jsonl").read_text().splitlines()]
    assert [r["question"] for r in batch] == ["What is 17 + 25?", "What is 6 times 7?"]
    assert [r["answer"] for r in batch] == ["42", "42"]
    piped = next(r for ln, r in results.items() if ln.startswith("echo"))
    assert "progress: question 1/1 · committed depth" in piped.stderr
    assert "expansion of node 0" in piped.stderr
    assert (checkout / "runs" / "smoke" / "report.md").is_file()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert status.stdout == "", f"the examples left files in the checkout:\n{status.stdout}"


def test_the_python_example_runs_and_reports_progress(monkeypatch, capsys):
    import equivpruner.llm.loader as loader

    monkeypatch.setattr(loader, "load_policy", lambda spec, **opts: ReadmeBackend(spec))
    code = re.search(r"```python\n(from equivpruner import solve.*?)```", section("Use"),
                     re.S).group(1)  # fmt: skip
    assert TIME.search(code)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    sims = [ln for ln in lines if ln.startswith("simulation ")]
    assert sims and sims[0].startswith("simulation 1: ")
    assert re.fullmatch(r"0 (True|False) \d+", lines[-1])  # UNKNOWN's answer, 0, to GSM8K


def test_every_solve_and_bench_example_states_its_time():
    last_comment = ""
    for line in bash_lines(section("Use"), keep_comments=True):
        if line.startswith("#"):
            last_comment = line
        elif re.match(r"(echo .*\| )?equivpruner (solve|bench)\b", line):
            assert TIME.search(last_comment), f"no expected time above: {line}"


def test_every_accepted_pruner_is_in_the_readme():
    from equivpruner.equiv.registry import DETECTORS

    text = README.read_text(encoding="utf-8")
    missing = [name for name in DETECTORS if f"`{name}`" not in text]
    assert missing == []


def test_the_equiv_examples_print_what_the_readme_shows(checkout):
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
        else:  # the shipped labelled file: every pair scored, each stage accounted for
            pairs = Path(words[words.index("--pairs") + 1])
            n = sum(1 for ln in pairs.read_text().splitlines() if ln.strip())
            assert re.search(rf"^\| cascade \| {n} \| 0\.\d{{3}} \|", result.stdout, re.M)
            assert "| deciding stage |" in result.stdout


@pytest.mark.slow
def test_the_tiny_model_examples_on_the_real_model():
    lines = [ln for ln in bash_lines(section("Use")) if "embedded:smollm2-135m" in ln]
    assert len(lines) >= 2
    for line in lines:
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, result.output
        if "--json" in line:
            record = json.loads(result.stdout)
            assert record["steps"] and record["model"] == "embedded:smollm2-135m"
        else:
            assert "answer:" in result.stdout and "None" not in result.stdout
