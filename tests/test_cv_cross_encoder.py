"""`benchmarks/detector/cv_cross_encoder.py` with a whole encoder fine-tuned (`--full`,
`--base`): every row gets one out-of-fold probability from the fold model that never saw
its problem, and the fold models record the recipe they were trained with."""

from __future__ import annotations

import json
import sys

import pytest

from equivpruner.mathequiv.pairs import PairRecord, write_pairs
from equivpruner.mathequiv.train_features import source_folds

from .bench_scripts import load_script

cv_cross_encoder = load_script("detector/cv_cross_encoder.py")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from equivpruner.equiv.cross_encoder import init_random_checkpoint
    from equivpruner.equiv.embedding import resolve_model

    out = str(tmp_path_factory.mktemp("tiny-base"))
    return init_random_checkpoint(out, resolve_model("embedded:minilm"))


def _rows() -> list[PairRecord]:
    rows = []
    for p in range(8):
        source = "math" if p % 2 else "gsm8k"
        for j in range(3):
            same = j != 2
            rows.append(PairRecord(
                f"Question {p}: {j + 2} bags of {p + 3} apples?", [],
                f"{j + 2} × {p + 3} = {(j + 2) * (p + 3)}",
                f"Multiply to get {(j + 2) * (p + 3)}" if same else "Tom sails to Paris.",
                source=source, problem_id=f"{source}-train-{p}", level=4 if same else 0,
                label=int(same), split="train",
            ))  # fmt: skip
    return rows


def test_full_fine_tune_scores_every_row_out_of_fold(tmp_path, tiny_base, monkeypatch):
    train = tmp_path / "train.jsonl"
    rows = _rows()
    write_pairs(rows, train)
    out = tmp_path / "cv"
    argv = ["cv_cross_encoder.py", str(train), "--out", str(out), "--folds", "2",
            "--epochs", "1", "--max-length", "32", "--base", tiny_base, "--full",
            "--lr", "1e-4", "--batch-size", "8"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    cv_cross_encoder.main()
    scored = [json.loads(line) for line in (out / "oof.jsonl").open()]
    assert sorted(r["key"] for r in scored) == sorted(cv_cross_encoder.key_of(r) for r in rows)
    fold_of = dict(zip(map(cv_cross_encoder.key_of, rows), source_folds(rows, 2, 0), strict=True))
    assert all(r["fold"] == fold_of[r["key"]] for r in scored)  # scored by the other fold's model
    assert all(0.0 <= r["probability"] <= 1.0 for r in scored)
    for k in (0, 1):
        info = json.loads((out / f"fold-{k}" / "training.json").read_text())
        assert info["kind"] == "full" and info["base"] == tiny_base
        data = info["data"]
        trained_on = data["train"]["rows"] + data["val"]["rows"]
        assert trained_on == sum(f != k for f in fold_of.values())
        assert info["recipe"]["lr"] == 1e-4 and info["recipe"]["batch_size"] == 8
    # a rerun finds both folds done and trains nothing more
    cv_cross_encoder.main()
    assert len((out / "oof.jsonl").read_text().splitlines()) == len(rows)
