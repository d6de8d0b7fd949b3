"""The generation cache: keyed by model, prompt, sampling and sample index; survives kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from equivpruner.llm.base import GenerationParams
from equivpruner.llm.cache import CachedBackend, GenerationCache
from equivpruner.llm.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[1]


class CountingBackend(ScriptedBackend):
    def __init__(self, *a, **kw):
        super().__init__(*a, rotate_by_seed=True, **kw)
        self.drawn = 0
        self.probed = 0

    def generate(self, prompts, params):
        self.drawn += params.n * len(prompts)
        return super().generate(prompts, params)

    def next_token_probs(self, prompts, candidates):
        self.probed += len(prompts)
        return super().next_token_probs(prompts, candidates)


SCRIPT = {"": ["a", "b", "c", "d", "e"]}


def cached(tmp_path, name="c.sqlite", backend=None):
    return CachedBackend(backend or CountingBackend(SCRIPT), GenerationCache(tmp_path / name))


def test_hits_return_the_same_completions_and_count_their_tokens(tmp_path):
    b = cached(tmp_path)
    params = GenerationParams(n=3, seed=5, stop=("\n\n",))
    first = b.generate(["<|assistant|>\n"], params)[0]
    again = b.generate(["<|assistant|>\n"], params)[0]
    assert [c.text for c in again] == [c.text for c in first]
    assert [c.tokens for c in again] == [c.tokens for c in first]
    assert b.backend.drawn == 3
    counters = b.take_counters()
    assert (counters.hits, counters.misses) == (3, 3)
    assert b.take_counters().hits == 0  # taken counters start again


def test_a_wider_wave_draws_only_the_new_sample_indices(tmp_path):
    b = cached(tmp_path)
    two = b.generate(["<|assistant|>\n"], GenerationParams(n=2, seed=5))[0]
    five = b.generate(["<|assistant|>\n"], GenerationParams(n=5, seed=5))[0]
    assert [c.text for c in five[:2]] == [c.text for c in two]
    assert b.backend.drawn == 5  # 2, then only indices 2..4


def test_key_separates_models_seeds_and_sampling(tmp_path):
    other = cached(tmp_path, backend=CountingBackend(SCRIPT, name="other"))
    b = cached(tmp_path)
    p = ["<|assistant|>\n"]
    b.generate(p, GenerationParams(n=2, seed=5))
    other.generate(p, GenerationParams(n=2, seed=5))
    b.generate(p, GenerationParams(n=2, seed=6))
    b.generate(p, GenerationParams(n=2, seed=5, temperature=0.3))
    assert b.backend.drawn == 6 and other.backend.drawn == 2


def test_unseeded_sampling_is_not_cached_and_probs_are(tmp_path):
    b = cached(tmp_path)
    b.generate(["<|assistant|>\n"], GenerationParams(n=2))
    b.generate(["<|assistant|>\n"], GenerationParams(n=2))
    assert b.backend.drawn == 4
    b.next_token_probs(["x", "y"], ["Yes", "No"])
    assert b.next_token_probs(["y", "x"], ["Yes", "No"])[0]["Yes"] == 0.5
    assert b.backend.probed == 2


WRITER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from equivpruner.llm.cache import GenerationCache
cache = GenerationCache(sys.argv[2])
k = 0
while True:
    cache.put("completions", [(f"k{k}", {"text": "x" * 2000, "k": k}, 0.1)])
    k += 1
    if k == 50:
        print("ready", flush=True)
"""


def test_a_writer_killed_mid_write_leaves_a_readable_cache(tmp_path):
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ROOT / "src"), str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cache = GenerationCache(path)
    n = cache.size()
    assert n >= 50
    got = cache.get("completions", [f"k{k}" for k in range(n)])
    assert all(got[f"k{k}"][0]["k"] == k for k in range(n))  # every committed row is whole
    cache.put("completions", [("after", {"text": "y"}, 0.0)])
    assert "after" in cache.get("completions", ["after"])


class FixedBackend(ScriptedBackend):
    """Draws `text` for every sample: two of these stand for two processes whose draws of
    one key differ (llama.cpp's samples depend on its earlier KV state)."""

    def __init__(self, text):
        super().__init__({"": [text]})


class RacingCache(GenerationCache):
    """A cache whose first lookup misses what another writer is storing at that moment."""

    looked = False

    def get(self, table, keys):
        if table == "completions" and not self.looked:
            self.looked = True
            return {}
        return super().get(table, keys)


def test_a_key_drawn_at_once_by_two_writers_gives_both_the_first_stored_sample(tmp_path):
    prompt, params = "<|assistant|>\n", GenerationParams(n=1, seed=5)
    first = cached(tmp_path, backend=FixedBackend("first draw"))
    late = CachedBackend(FixedBackend("late draw"), RacingCache(tmp_path / "c.sqlite"))
    assert first.generate([prompt], params)[0][0].text == "first draw"
    assert late.generate([prompt], params)[0][0].text == "first draw"
    assert late.take_counters().misses == 1  # it drew (and paid for) its own sample
    again = cached(tmp_path, backend=FixedBackend("x")).generate([prompt], params)[0][0]
    assert again.text == "first draw"
