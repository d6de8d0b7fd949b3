"""Help and summaries that read at 80 and 120 columns.

`--help` of every command, rendered at each width, must show every option name whole, never
break a word of its help or a choice across lines, never show a `<bool>` (or any `<type>`)
placeholder, and keep every line within the width. The bench summary of a committed run
(six arms, long names, cache hits) must fit 80 columns without cutting a cell.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from equivpruner.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "runs" / "adaptive-40b"
WIDTHS = (80, 120)
COMMANDS = sorted(typer.main.get_command(app).commands)
TYPE_LABEL = re.compile(r"<(bool|int|float|str|path|text|[a-z]+ range|[\w-]+(\|[\w-]+)+)>", re.I)


def render(args: list[str], width: int):
    result = CliRunner().invoke(app, args, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def help_words(param) -> list[str]:
    """The words of a parameter's own help text, and its choices."""
    words = (param.help or "").split()
    label = "" if getattr(param, "is_flag", False) else param.display_type(None).strip("<>")
    return words + (label.split("|") if "|" in label else [])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_reads_at_the_width(command, width):
    args = [command, "--help"] if command else ["--help"]
    text = render(args, width)
    group = typer.main.get_command(app)
    cmd = group.commands[command] if command else group
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width, "a line runs past the terminal"
    own = sum((p.help or "").count("…") for p in cmd.params) + (cmd.help or "").count("…")
    assert text.count("…") == own, "a cell was cut short"
    assert not TYPE_LABEL.search(text), "a <type> placeholder"
    tokens = set(text.replace("\u00a0", " ").split())
    stripped = {t.strip(".,;:()[]") for t in tokens}
    for param in cmd.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert name in stripped, f"option name {name} is cut or missing"
        for word in help_words(param):
            assert word.strip(".,;:()[]") in stripped, f"{word!r} is broken across lines"
    if command is None:
        for name in COMMANDS:
            assert any(ln.split()[:1] == [name] for ln in lines), f"command {name} missing"


@pytest.mark.parametrize("width", WIDTHS)
def test_top_level_help_wraps_only_to_fit(width):
    """The solve summary (two source lines in its docstring) fills each line it can."""
    lines = render(["--help"], width).splitlines()
    start = next(k for k, ln in enumerate(lines) if ln.split()[:1] == ["solve"])
    more = itertools.takewhile(lambda ln: ln[:3] == "   ", lines[start + 1 :])
    entry = [lines[start], *more]
    summary = " ".join(" ".join(entry).split()[1:])
    assert summary.endswith("(--file: one JSON line per question of a .txt or .jsonl file).")
    for this, after in itertools.pairwise(entry):  # no line ends early
        assert len(this) + 1 + len(after.split()[0]) > width


def test_version():
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"equivpruner {version('equivpruner')}\n"


SIX_ARMS = ("none", "cascade", "cascade-adaptive", "cascade-adaptive-sgc", "bon5", "bon5-adaptive")


def _summary(tmp_path: Path, width: int) -> str:
    """The bench summary of the committed run's six original arms (the run dir also holds
    the dev arms of later issues, some still partial)."""
    out = tmp_path / "run"
    out.mkdir()
    config = yaml.safe_load((RUN / "config.yaml").read_text(encoding="utf-8"))
    config["arms"] = [a for a in config["arms"] if a["name"] in SIX_ARMS]
    config["pruners"] = [p for p in config.get("pruners") or [] if p in SIX_ARMS]
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with (RUN / "results.jsonl").open(encoding="utf-8") as src:
        rows = [line for line in src if json.loads(line)["arm"] in SIX_ARMS]
    (out / "results.jsonl").write_text("".join(rows), encoding="utf-8")
    return render(["bench", "--out", str(out), "--report-only"], width)


def test_the_bench_summary_fits_80_columns_and_explains_cached_arms(tmp_path):
    text = _summary(tmp_path, 80)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 80 and "…" not in text
    arms = SIX_ARMS
    rows = [ln.split() for ln in lines]
    for arm in arms:  # one row per arm and dataset (all, gsm8k, svamp), the name whole
        assert sum(1 for r in rows if r[:1] == [arm]) == 3, arm
    assert ["all", "(40", "problems)"] in rows and ["gsm8k", "(20", "problems)"] in rows
    cascade = next(r for r in rows if r[:1] == ["cascade"])  # the committed run's figures
    assert cascade[1:] == ["45.0%", "+7.5", "[-10,", "+25]", "2,809", "+2%", "238.3", "24%"]
    assert "cached: share of the samples read from the generation cache" in " ".join(lines)
    assert "report: " in text


def test_the_wide_bench_summary_has_every_column(tmp_path):
    text = _summary(tmp_path, 160)
    header = next(ln for ln in text.splitlines() if "dataset" in ln and "arm" in ln)
    for col in ("failed", "accuracy", "reduction", "s/problem", "cached", "detector"):
        assert col in header
