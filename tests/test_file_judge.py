"""Judgements made elsewhere (`file:` judges) and the two-judge agreement filter."""

from __future__ import annotations

import json

import pytest

from equivpruner.mathequiv.label import FileJudge, label_pairs, make_judge
from equivpruner.mathequiv.pairs import PairRecord


def _rows() -> list[PairRecord]:
    q = "Tom has 3 bags of 4 apples. How many apples?"
    return [
        PairRecord(q, [], "3 * 4 = 12", "Multiply 4 by 3 to get 12."),
        PairRecord(q, [], "3 * 4 = 12", "3 + 4 = 7"),
        PairRecord(q, [], "Let's count the bags.", "First find the apples per bag."),
    ]


def _write(path, judge: str, levels: dict[str, int]) -> str:
    path.write_text("".join(json.dumps({"id": k, "level": v, "judge": judge}) + "\n"
                            for k, v in levels.items()))
    return str(path)


def test_two_file_judges_keep_only_agreed_pairs(tmp_path):
    rows = _rows()
    a = _write(tmp_path / "a.jsonl", "judge-model", {rows[0].id: 4, rows[1].id: 0, rows[2].id: 3})
    b = _write(tmp_path / "b.jsonl", "judge-model", {rows[0].id: 3, rows[1].id: 1, rows[2].id: 1})
    judges = [make_judge(f"file:{a}"), FileJudge(b)]
    assert judges[0].model == "judge-model" and judges[0].name == "judge-model@a"
    out = label_pairs(rows, judges, use_existing=False)
    # pair 3: one judge says equivalent (3), the other not (1): dropped
    assert [r.id for r in out] == [rows[0].id, rows[1].id]
    assert [(r.level, r.label) for r in out] == [(4, 1), (0, 0)]


def test_missing_judgement_abstains_and_two_are_required(tmp_path):
    rows = _rows()
    a = _write(tmp_path / "a.jsonl", "m", {rows[0].id: 4})
    b = _write(tmp_path / "b.jsonl", "m2", {rows[0].id: 4, rows[1].id: 0})
    out = label_pairs(rows, [FileJudge(a), FileJudge(b)], use_existing=False)
    assert [r.id for r in out] == [rows[0].id]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "x", "level": 7}', "integer 0-4"),
        ('{"id": 5, "level": 1}', "string 'id'"),
        ("[1, 2]", "string 'id'"),
        ("{not json", "not JSON"),
        ('{"id": "x", "level": true}', "integer 0-4"),
    ],
)
def test_bad_judgement_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "j.jsonl"
    path.write_text('{"id": "ok", "level": 2}\n' + line + "\n")
    with pytest.raises(ValueError, match=rf"j\.jsonl:2: .*{message}"):
        FileJudge(path)


def test_one_file_names_one_judge(tmp_path):
    path = tmp_path / "j.jsonl"
    rows = ['{"id": "a", "level": 2, "judge": "x"}', '{"id": "b", "level": 2, "judge": "y"}']
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="several judges"):
        FileJudge(path)


def test_two_judges_of_one_name_are_two_judgements(tmp_path):
    rows = _rows()[:1]
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a = _write(tmp_path / "x" / "j.jsonl", "m", {rows[0].id: 4})
    b = _write(tmp_path / "y" / "j.jsonl", "m", {rows[0].id: 0})
    assert label_pairs(rows, [FileJudge(a), FileJudge(b)], use_existing=False) == []
