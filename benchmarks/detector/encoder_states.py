"""A sentence encoder's view of each training step, saved as `policy_state_probe.py` saves
the policy's states, so that `cv_state_head.py` can score it the same way.

    python benchmarks/detector/encoder_states.py TRAIN.jsonl OUT.npz [--model embedded:minilm]
    python benchmarks/detector/cv_state_head.py TRAIN.jsonl OUT.npz --stack --head

Per step the .npz holds the unit sentence embedding twice (in the places of the policy's
last and mean states) and zeros as the prefix state; `cv_state_head.py`'s head then reads
each column twice, so under its L2 penalty `--c` acts as about twice its value. Only the
real sibling rows are encoded. Training rows only; nothing here reads a held-out set.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cv_detector import training_rows  # noqa: E402
from policy_state_probe import step_key  # noqa: E402

from equivpruner.equiv.embedding import load_sentence_model  # noqa: E402


def encoder_states(rows, model: str, batch_size: int = 32) -> dict[str, np.ndarray]:
    """step key → (embedding, embedding, zeros) for every step of `rows`."""
    steps: dict[str, str] = {}
    for r in rows:
        for text in (r.step_a, r.step_b):
            steps[step_key(r.question, list(r.prefix or []), text)] = text
    keys = sorted(steps)
    texts = sorted(set(steps.values()))
    vectors = load_sentence_model(model).encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    of = dict(zip(texts, vectors, strict=True))
    return {k: np.stack([of[steps[k]], of[steps[k]], np.zeros_like(of[steps[k]])]) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("out")
    ap.add_argument("--model", default="embedded:minilm")
    args = ap.parse_args()
    rows = [r for r in training_rows(args.train) if r.provenance.get("origin") == "policy-siblings"]
    found = encoder_states(rows, args.model)
    keys = sorted(found)
    np.savez(args.out, keys=np.asarray(keys), states=np.stack([found[k] for k in keys]))
    print(f"{len(rows)} rows, {len(keys)} steps -> {args.out}")


if __name__ == "__main__":
    main()
