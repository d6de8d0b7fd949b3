"""Semantic signals of a pair's two steps, as extra feature columns for the ablation of a
semantic stage (`cv_detector.py --semantic ...`).

- `minilm`: the cosine of the two steps' MiniLM sentence embeddings (mean-pooled);
- `minilm-align`: that cosine, plus a greedy token alignment of the two steps in MiniLM's
  contextual token space (BERTScore-style: each token's best cosine in the other step,
  averaged each way; precision, recall and their harmonic mean). A pooled vector blurs
  "meals" against "deliveries"; the alignment keeps the token that has no partner.

Steps are read as the runtime detectors read them (`normalize_math`). Embeddings are
cached by step text in a .npz (`cache`), reused and extended.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def _encoder():
    from equivpruner.equiv.embedding import load_sentence_model

    return load_sentence_model("embedded:minilm")


def _steps(rows) -> list[str]:
    return sorted({t for r in rows for t in (r.step_a, r.step_b)})


def minilm_cosines(rows, cache: str | None = None) -> list[float]:
    """Cosine of the MiniLM sentence embeddings of each row's two steps."""
    from equivpruner.equiv.normalize import normalize_math

    vectors = {}
    if cache and os.path.exists(cache):
        with np.load(cache) as data:
            vectors = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    texts = sorted(set(_steps(rows)) - set(vectors))
    if texts:
        start = time.perf_counter()
        found = _encoder().encode(
            [normalize_math(t) for t in texts], batch_size=32, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip
        took = time.perf_counter() - start
        print(f"embedded {len(texts)} steps in {took:.0f} s", file=sys.stderr)
        vectors.update(zip(texts, found, strict=True))
        if cache:
            keys = sorted(vectors)
            np.savez(cache, texts=np.asarray(keys), vectors=np.stack([vectors[k] for k in keys]))
    return [float(np.dot(vectors[r.step_a], vectors[r.step_b])) for r in rows]


def token_vectors(texts: list[str]) -> dict[str, np.ndarray]:
    """Unit-length contextual token vectors of each text (special tokens dropped)."""
    from equivpruner.equiv.normalize import normalize_math

    start = time.perf_counter()
    found = _encoder().encode(
        [normalize_math(t) for t in texts], batch_size=32, output_value="token_embeddings",
        convert_to_numpy=False, show_progress_bar=False,
    )  # fmt: skip
    out = {}
    for text, tokens in zip(texts, found, strict=True):
        v = tokens.detach().cpu().numpy()[1:-1] if len(tokens) > 2 else tokens.numpy()
        out[text] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    print(f"token vectors of {len(texts)} steps in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)  # fmt: skip
    return out


def alignment(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of the greedy token alignment of `a` to `b`."""
    sim = a @ b.T
    precision, recall = float(sim.max(axis=1).mean()), float(sim.max(axis=0).mean())
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def minilm_alignment(rows, cache: str | None = None) -> np.ndarray:
    """Columns: sentence cosine, alignment min(P, R), alignment F1."""
    cosines = minilm_cosines(rows, cache)
    vectors = token_vectors(_steps(rows))
    cols = []
    for r, cos in zip(rows, cosines, strict=True):
        p, q, f1 = alignment(vectors[r.step_a], vectors[r.step_b])
        cols.append((cos, min(p, q), f1))
    return np.asarray(cols)
