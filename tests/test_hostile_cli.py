"""Every command against hostile files, outputs and settings: one `error:` line with the exit
code the README promises, no traceback, no model loaded when the input was bad, and no
existing file emptied."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from equivpruner.cli.inputs import output_problem

from .cli_helpers import chain_tree, cli, one_error_line, real_cli, refuse_models, write_tree

Q = "What is 1 + 1?"
KEEP = '{"question": "kept", "step_a": "a", "step_b": "b", "label": 1}\n' * 4
DEV_FULL = Path("/dev/full")


@pytest.fixture
def no_model(monkeypatch):
    refuse_models(monkeypatch)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A file to keep (its bytes are checked after every case), a plain file to write
    under, and a folder no file can be created in (as root: a read-only system folder)."""
    keep = tmp_path / "keep.jsonl"
    keep.write_text(KEEP)
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if output_problem(locked / "x") is None:  # root writes anywhere it may: use /sys
        locked = Path("/sys")
        if not locked.is_dir() or output_problem(locked / "x") is None:
            locked = None
    yield {"keep": keep, "plain": plain, "locked": locked, "tmp": tmp_path}
    (tmp_path / "locked").chmod(0o700)


def _path(spec: str, files: dict) -> str:
    """`{keep}`, `{plain}`, `{locked}`, `{tmp}` in a case's arguments, filled in."""
    if "{locked}" in spec and files["locked"] is None:
        pytest.skip("no folder here refuses new files")
    return spec.format(**{k: v for k, v in files.items() if v is not None})


def error_line(result, code: int = 2) -> str:
    """The one `error:` line of a command that may also print `note:` lines first."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    others = [line for line in result.output.splitlines()
              if line.strip() and not line.startswith(("error: ", "note: "))]  # fmt: skip
    assert len(errors) == 1 and not others, result.output
    return errors[0]


def _pairs(tmp: Path, name: str, *rows) -> Path:
    path = tmp / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# command, arguments, exit code, what the error line says
OUTPUT_CASES = [
    ("harvest --out kept, bad --model", ["harvest", "--model", "embedded:nope", "--out",
     "{keep}", "--dataset", "gsm8k", "--limit", "1"], 2, "unknown embedded model 'nope'"),
    ("harvest --out kept, bad --depths", ["harvest", "--depths", "one,two", "--out", "{keep}"],
     2, "--depths"),
    ("harvest --out kept, --limit 0", ["harvest", "--limit", "0", "--out", "{keep}"], 2,
     "--limit must be ≥ 1"),
    ("harvest --out in a locked folder", ["harvest", "--out", "{locked}/p.jsonl"], 2,
     "--out {locked}/p.jsonl: cannot write in"),
    ("harvest --out under a file", ["harvest", "--out", "{plain}/p.jsonl"], 2,
     "--out {plain}/p.jsonl: {plain} is not a directory"),
    ("solve --save-tree in a locked folder", ["solve", "--save-tree", "{locked}/t.json", Q], 2,
     "--save-tree {locked}/t.json"),
    ("solve --html under a file", ["solve", "--html", "{plain}/t.html", Q], 2,
     "--html {plain}/t.html: has no such folder"),
    ("bench --out on a file", ["bench", "--out", "{plain}", "--limit", "1"], 2,
     "--out {plain}: is not a directory"),
    ("bench --out under a file", ["bench", "--out", "{plain}/run", "--limit", "1"], 2,
     "--out {plain}/run: {plain} is not a directory"),
    ("bench --out /dev/null", ["bench", "--out", "/dev/null", "--limit", "1"], 2,
     "--out /dev/null: is not a directory"),
    ("bench --out in a locked folder", ["bench", "--out", "{locked}/run", "--limit", "1"], 2,
     "--out {locked}/run: cannot write in"),
    ("bench --cache in a locked folder", ["bench", "--out", "{tmp}/run", "--limit", "1",
     "--cache", "{locked}/c.sqlite"], 2, "--no-cache"),
    ("bench --cache under a file", ["bench", "--out", "{tmp}/run", "--limit", "1", "--cache",
     "{plain}/c.sqlite"], 2, "--cache {plain}/c.sqlite: {plain} is not a directory"),
    ("view -o in a locked folder", ["view", "{tmp}/tree.json", "-o", "{locked}/t.html"], 2,
     "--out {locked}/t.html: cannot write in"),
    ("view -o under a file", ["view", "{tmp}/tree.json", "-o", "{plain}/t.html"], 2,
     "--out {plain}/t.html: {plain} is not a directory"),
    ("label --out in a locked folder", ["label", "{keep}", "--out", "{locked}/l.jsonl"], 2,
     "--out {locked}/l.jsonl: cannot write in"),
    ("label --out on a folder", ["label", "{keep}", "--out", "{tmp}"], 2,
     "--out {tmp}: is a directory"),
    ("eval-detector --json in a locked folder", ["eval-detector", "{keep}", "--detectors",
     "exact", "--json", "{locked}/m.json"], 2, "--json {locked}/m.json: cannot write in"),
    ("train-detector --out on a file", ["train-detector", "{keep}", "--kind", "features",
     "--out", "{plain}"], 2, "--out {plain}: is not a directory"),
    ("train-detector --out in a locked folder", ["train-detector", "{keep}", "--out",
     "{locked}/det"], 2, "--out {locked}/det: cannot write in"),
    ("harvest-trees --out under a file", ["harvest-trees", "{tmp}", "--out", "{plain}/p.jsonl"],
     2, "{plain} is not a directory"),
]  # fmt: skip


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize(("name", "args", "code", "says"), OUTPUT_CASES,
                         ids=[c[0] for c in OUTPUT_CASES])  # fmt: skip
def test_outputs_are_checked_before_anything_runs(files, name, args, code, says):
    write_tree(files["tmp"] / "tree.json", chain_tree(3))
    before = {p: p.read_bytes() for p in (files["keep"], files["plain"])}
    line = one_error_line(real_cli(*[_path(a, files) for a in args]), code)
    assert _path(says, files) in line, line
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was changed"


def test_solve_prints_the_answer_before_a_failing_save(tmp_path):
    if not DEV_FULL.exists():
        pytest.skip("no /dev/full here")
    result = cli("solve", "--save-tree", str(DEV_FULL), Q)
    assert result.exit_code == 1, result.output
    assert "answer:" in result.stdout and "3" in result.stdout  # the answer was not lost
    assert "error: --save-tree /dev/full: no space left on the device" in result.output
    assert "Traceback" not in result.output and "Errno" not in result.output


# --- bench settings: wrong types and values, refused before any model loads ------------

BAD_SETTINGS = [
    ("width", "three", "width must be a whole number"),
    ("width", 2.5, "width must be a whole number"),
    ("width", -3, "width must be ≥ 1"),
    ("max_depth", -1, "max_depth must be ≥ 1"),
    ("max_step_tokens", 0, "max_step_tokens must be ≥ 1"),
    ("max_step_tokens", 2.5, "max_step_tokens must be a whole number"),
    ("simulations", -5, "simulations must be ≥ 1"),
    ("beam_width", 0, "beam_width must be ≥ 1"),
    ("n_samples", -2, "n_samples must be ≥ 1"),
    ("concurrency", "2", "concurrency must be a whole number"),
    ("seed", "abc", "seed must be a whole number"),
    ("temperature", "hot", "temperature must be a number ≥ 0"),
    ("temperature", -5, "temperature must be a number ≥ 0"),
    ("model", 5, "model must be non-empty text"),
    ("value", 5, "value must be non-empty text"),
    ("value", "magic", "is not a value spec"),
    ("search", "dfs", "unknown search 'dfs'"),
    ("pruners", 5, "pruners must be a list"),
    ("arms", 5, "arms must be a list"),
    ("datasets", [{"name": "gsm8k", "limit": "two"}], "limit must be a whole number"),
    ("datasets", [{"name": "gsm8k", "limit": 0}], "limit must be ≥ 1"),
    ("arms", [{"name": "a", "width": "x"}], "arm 'a': width must be a whole number"),
]


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize(("key", "value", "says"), BAD_SETTINGS,
                         ids=[f"{k}={v!r}" for k, v, _ in BAD_SETTINGS])  # fmt: skip
def test_bench_yaml_types_and_values_are_checked_first(tmp_path, key, value, says):
    import yaml

    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump({key: value}))
    out = tmp_path / "run"
    line = one_error_line(real_cli("bench", "--out", str(out), "--config", str(config)))
    assert says in line, line
    assert not (out / "config.yaml").exists()


BAD_BENCH_OPTIONS = [
    (["--width", "-1"], "width must be ≥ 1"),
    (["--temperature", "-5"], "temperature must be a number ≥ 0"),
    (["--limit", "0"], "limit must be ≥ 1"),
    (["--samples", "0"], "n_samples must be ≥ 1"),
    (["--max-step-tokens", "0"], "max_step_tokens must be ≥ 1"),
]


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize(("args", "says"), BAD_BENCH_OPTIONS,
                         ids=[" ".join(a) for a, _ in BAD_BENCH_OPTIONS])  # fmt: skip
def test_bench_options_are_checked_like_solves(tmp_path, args, says):
    line = one_error_line(real_cli("bench", "--out", str(tmp_path / "run"), *args))
    assert says in line, line


@pytest.mark.usefixtures("no_model")
def test_arms_as_one_string_are_names(tmp_path):
    from equivpruner.bench.config import BenchConfig

    cfg = BenchConfig(arms="none,exact", out=str(tmp_path))
    assert cfg.pruners == ["none", "exact"]


def test_a_failed_model_load_leaves_no_settings_behind(tmp_path, monkeypatch):
    import equivpruner.llm.loader as loader
    from equivpruner.llm.base import BackendError

    def broken(*args, **kwargs):
        raise BackendError("no such model")

    monkeypatch.setattr(loader, "load_policy", broken)
    out = tmp_path / "run"
    line = error_line(real_cli("bench", "--out", str(out), "--limit", "1"))
    assert "no such model" in line
    assert not (out / "config.yaml").exists()  # a fixed rerun is not "different settings"


# --- corrupt caches ---------------------------------------------------------------------


def _cache(tmp_path: Path, how: str) -> Path:
    from equivpruner.llm.cache import GenerationCache

    path = tmp_path / "gen.sqlite"
    cache = GenerationCache(path)
    cache.put("completions", [(f"k{i}", {"text": "x" * 500}, 0.1) for i in range(200)])
    cache.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 3]
    elif how == "garbage in the middle":
        mid = len(data) // 2
        data[mid : mid + 4096] = os.urandom(4096)
    else:  # a bad header
        data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("how", ["truncated", "garbage in the middle", "bad header"])
def test_a_corrupt_cache_is_named_with_a_way_out(tmp_path, how):
    path = _cache(tmp_path, how)
    before = path.read_bytes()
    args = ["bench", "--out", str(tmp_path / "run"), "--limit", "1", "--cache", str(path)]
    line = error_line(real_cli(*args))
    assert str(path) in line and "--no-cache" in line, line
    assert path.read_bytes() == before  # left for the user to inspect or move aside


# --- datasets, pairs and questions ------------------------------------------------------


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("args", [
    ["bench", "--out", "{tmp}/run", "--dataset", "svamp", "--split", "train", "--limit", "1"],
    ["harvest", "--dataset", "gsm8k", "--split", "validation", "--out", "{tmp}/p.jsonl"],
], ids=["bench svamp/train", "harvest gsm8k/validation"])  # fmt: skip
def test_an_unshipped_split_offline_is_one_line(files, monkeypatch, args):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    line = error_line(real_cli(*[_path(a, files) for a in args]))
    assert "is not shipped" in line and "HF_HUB_OFFLINE" in line, line


ROW = {"question": "Q?", "step_a": "2 + 2 = 4", "step_b": "4 = 2 + 2", "label": 1}
BAD_ROWS = [
    ("prefix 5", {**ROW, "prefix": 5}, "'prefix' must be a list"),
    ('prefix "abc"', {**ROW, "prefix": "abc"}, "'prefix' must be a list of earlier steps"),
    ("prefix [1]", {**ROW, "prefix": [1]}, "'prefix' must be a list"),
    ("question 7", {**ROW, "question": 7}, "'question'"),
    ("a number", 5, "expected a JSON object, got int"),
    ("a list", [ROW], "expected a JSON object, got list"),
]


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("command", ["equiv", "eval-detector", "label"])
@pytest.mark.parametrize(("name", "row", "says"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_pair_rows_of_the_wrong_type_name_file_and_line(tmp_path, command, name, row, says):
    path = _pairs(tmp_path, "pairs.jsonl", ROW, row)
    args = {
        "equiv": ["equiv", "--detector", "exact", "--pairs", str(path)],
        "eval-detector": ["eval-detector", str(path), "--detectors", "exact"],
        "label": ["label", str(path), "--out", str(tmp_path / "l.jsonl")],
    }[command]
    line = one_error_line(real_cli(*args))
    assert f"{path}:2: " in line and says in line, line


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("command", ["equiv", "eval-detector", "label"])
def test_bad_bytes_in_a_pairs_file_name_file_and_line(tmp_path, command):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes((json.dumps(ROW) + "\n").encode() + b'{"question": "\xff"}\n')
    args = {
        "equiv": ["equiv", "--detector", "exact", "--pairs", str(path)],
        "eval-detector": ["eval-detector", str(path), "--detectors", "exact"],
        "label": ["label", str(path), "--out", str(tmp_path / "l.jsonl")],
    }[command]
    line = one_error_line(real_cli(*args))
    assert f"{path}:2: not UTF-8 text (byte 0xff at column 15)" in line, line


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize(("row", "says"), [
    ("5", "expected a JSON object, got int"), ('["a", "b"]', "expected a JSON object, got list"),
    ('{"question": ["a"], "answer": "1"}', "the question must be text or a number"),
], ids=["a number", "a list", "a list question"])  # fmt: skip
def test_harvest_rows_of_the_wrong_type(files, row, says):
    data = _pairs(files["tmp"], "problems.jsonl", '{"question": "1 + 1?", "answer": "2"}', row)
    args = ["harvest", "--dataset", str(data), "--out", str(files["keep"]), "--limit", "5"]
    line = one_error_line(real_cli(*args))
    assert f"{data}:2: {says}" in line, line
    assert files["keep"].read_text() == KEEP


@pytest.mark.usefixtures("no_model")
def test_an_overlong_harvest_question_is_refused_before_the_model(files):
    data = _pairs(files["tmp"], "problems.jsonl", {"question": "7 + " * 50_000, "answer": "1"})
    args = ["harvest", "--dataset", str(data), "--out", str(files["keep"])]
    line = one_error_line(real_cli(*args))
    assert "the limit is 8,000" in line
    assert files["keep"].read_text() == KEEP


@pytest.mark.usefixtures("no_model")
def test_bad_utf8_in_a_question_is_refused_before_the_model():
    line = one_error_line(real_cli("solve", "What is \udcff 1 + 1?"))
    assert "not valid UTF-8 text (character 9" in line


@pytest.mark.usefixtures("no_model")
def test_a_lone_surrogate_in_a_question_file_names_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "1 + 1?"}\n{"question": "bad \\ud800 text"}\n')
    line = one_error_line(real_cli("solve", "--file", str(path)))
    assert f"{path}:2: " in line and "not valid UTF-8" in line


def test_a_lone_surrogate_fails_its_problem_and_the_bench_goes_on(tmp_path):
    from equivpruner.bench.config import BenchConfig
    from equivpruner.bench.runner import run_bench

    from .cli_helpers import RobeBackend

    data = tmp_path / "probs.jsonl"
    data.write_text('{"question": "1 + 2?", "answer": "3"}\n{"question": "bad \\ud800", '
                    '"answer": "1"}\n{"question": "2 + 1?", "answer": "3"}\n')  # fmt: skip
    cfg = BenchConfig(datasets=[{"name": str(data)}], search="greedy", pruners=["none"],
                      value="constant", out=str(tmp_path / "run"))  # fmt: skip
    for _ in range(2):  # a rerun retries it and still goes on
        records = run_bench(cfg, backend=RobeBackend(), progress=False)
        status = [r["status"] for r in records]
        assert status == ["ok", "failed", "ok"], records
        assert "UTF-8" in records[1]["error"] and "\\ud800" in records[1]["question"]


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize(("text", "says"), [
    (b"width: 3\nsearch: [mcts\nvalue: x\n", "bench.yaml:3: invalid YAML"),
    (b"width: \xff\n", "bench.yaml: not UTF-8 text"),
    (b"- width: 3\n", "bench.yaml: expected a mapping of settings"),
], ids=["bad syntax", "bad bytes", "a list"])  # fmt: skip
def test_a_bad_bench_config_file_names_file_and_line(tmp_path, text, says):
    config = tmp_path / "bench.yaml"
    config.write_bytes(text)
    line = one_error_line(real_cli("bench", "--out", str(tmp_path / "run"), "--config",
                                   str(config)))  # fmt: skip
    assert says in line, line
