"""Shared test setup: offline hub, a scripted policy, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _private_generation_cache(tmp_path, monkeypatch):
    """Benches in tests share a per-test generation cache, never the user's."""
    monkeypatch.setenv("EQUIVPRUNER_GENERATION_CACHE", str(tmp_path / "generations.sqlite"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED
