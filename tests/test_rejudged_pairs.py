"""Judging labelled pairs again (`benchmarks/detector/judge_batches.py`) and applying the
new labels to the training set (`benchmarks/detector/make_trainset.py`): a re-judged pair
takes the label both new judges agree on, keeps its earlier label under `earlier`, and is
left out of training where the new judges disagree."""

from __future__ import annotations

import json
from pathlib import Path

from equivpruner.mathequiv.pairs import PairRecord, read_pairs, write_pairs

from .bench_scripts import BENCHMARKS, load_script

HERE = BENCHMARKS / "detector"

judge_batches = load_script("detector/judge_batches.py")
make_trainset = load_script("detector/make_trainset.py")


def _pair(n: int, level: int) -> PairRecord:
    return PairRecord(
        question=f"Q{n}?", prefix=[], step_a="Let's solve it step by step:",
        step_b=f"First compute {n} + {n}.", level=level, label=int(level >= 3),
        label_source="old judge", provenance={"origin": "policy-siblings", "reason": "old"},
    )  # fmt: skip


def _judge(path: Path, levels: dict[str, int]) -> None:
    path.write_text("".join(
        json.dumps({"id": i, "level": v, "reason": "r", "judge": "claude"}) + "\n"
        for i, v in levels.items()
    ))  # fmt: skip


def test_rejudged_pairs_take_the_agreed_label_and_keep_the_earlier_one(tmp_path, monkeypatch):
    rows = [_pair(n, 4) for n in range(3)]
    write_pairs(rows, tmp_path / "pairs.jsonl")
    judge_batches.cut([tmp_path / "pairs.jsonl"], tmp_path / "judged", size=3)
    a, b, c = (r.id for r in rows)
    _judge(tmp_path / "judged" / "batch-001.judge-1.jsonl", {a: 1, b: 4, c: 1})
    _judge(tmp_path / "judged" / "batch-001.judge-2.jsonl", {a: 0, b: 3, c: 4})
    judge_batches.merge(tmp_path / "judged", tmp_path / "judged" / "train-relabelled.jsonl")

    new = {r.id: r for r in read_pairs(tmp_path / "judged" / "train-relabelled.jsonl")}
    assert set(new) == {a, b}  # c: the new judges disagree
    assert (new[a].label, new[a].level, new[b].label) == (0, 1, 1)
    assert new[a].provenance["earlier"] == {"level": 4, "label": 1, "label_source": "old judge"}
    assert "reason" not in new[a].provenance and new[a].provenance["judgements"] == 2

    other = _pair(9, 0)
    applied = judge_batches.apply_rejudged(
        [r.to_dict() for r in rows] + [other.to_dict()],
        tmp_path / "judged",
        "train-relabelled.jsonl",
    )
    assert [(r["id"], r["label"]) for r in applied] == [(a, 0), (b, 1), (other.id, 0)]


def test_the_training_set_takes_the_openers_round():
    """The shipped training recipe applies the committed round: every re-judged opener is
    its new row (the earlier label kept under `earlier`), or gone where the judges split."""
    real = [json.loads(x) for name in make_trainset.REAL for x in (HERE / name).open()]
    applied = make_trainset.apply_rejudged(
        real, HERE / make_trainset.REJUDGED, "train-relabelled.jsonl"
    )
    new = {r.id for r in read_pairs(HERE / make_trainset.REJUDGED / "train-relabelled.jsonl")}
    redone = {
        json.loads(x)["id"] for x in (HERE / make_trainset.REJUDGED / "manifest.jsonl").open()
    }
    assert len(real) - len(applied) == len(redone) - len(new) > 0
    again = [r for r in applied if r["id"] in redone]
    assert len(again) == len(new)
    assert all(r["provenance"]["earlier"]["label"] == 1 for r in again)
    assert any(r["label"] == 0 for r in again)
