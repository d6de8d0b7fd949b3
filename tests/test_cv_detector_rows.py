"""`benchmarks/detector/cv_detector.training_rows` drops every training row that shares a
pair with a held-out set, from whatever directory it runs (the held-out files are found
from the repository, not the working directory)."""

from __future__ import annotations

from equivpruner.mathequiv.pairs import PairRecord, read_pairs, write_pairs

from .bench_scripts import BENCHMARKS, load_script

cv_detector = load_script("detector/cv_detector.py")
MCTS_TEST = BENCHMARKS / "detector" / "siblings-gsm8k-test-mcts-labelled.jsonl"


def test_held_out_pairs_are_dropped_from_any_directory(tmp_path, monkeypatch):
    held = read_pairs(MCTS_TEST)[0]
    leaked = PairRecord(held.question, list(held.prefix), held.step_b, held.step_a,
                        problem_id="train:gsm8k-1", level=4, label=1, split="train")  # fmt: skip
    other = PairRecord("q", [], "3 × 4 = 12", "12 = 4 × 3", problem_id="train:gsm8k-2",
                       level=4, label=1, split="train")  # fmt: skip
    train = tmp_path / "train.jsonl"
    write_pairs([leaked, other], train)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    kept = cv_detector.training_rows(str(train))
    assert [(r.step_a, r.step_b) for r in kept] == [(other.step_a, other.step_b)]
