"""The policy-state probe (`benchmarks/detector/policy_state_probe.py`) on the real tiny
model: a step's states read after its siblings (the prefix reused from the KV cache) are the
states read from scratch, and they survive a save."""

from __future__ import annotations

import numpy as np
import pytest

from .bench_scripts import load_script

pytestmark = pytest.mark.slow

probe = load_script("detector/policy_state_probe.py")

SPEC = "embedded:smollm2-135m"
QUESTION = "Tom has 3 boxes of 4 apples. How many apples does he have?"
PREFIX = ["Each box holds 4 apples."]
STEPS = ["3 boxes times 4 apples is 12 apples.", "Multiply 4 by 3 to get 12.", "He has 7 apples."]


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    from equivpruner.llm.loader import clear_loaded

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EQUIVPRUNER_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield lambda path=None: probe.PolicyStates(1, path, model=SPEC)
    clear_loaded()


def test_states_read_after_siblings_equal_states_read_from_scratch(states, tmp_path):
    shared = states(tmp_path / "s.npz")
    rows = [{"question": QUESTION, "prefix": PREFIX, "step_a": a, "step_b": b, "label": 0}
            for a, b in ((STEPS[0], STEPS[1]), (STEPS[1], STEPS[2]))]  # fmt: skip
    probe.compute_states(rows, shared)
    assert len(shared.cache) == 3
    for step in STEPS:
        reused = shared.state(QUESTION, PREFIX, step)
        alone = states().state(QUESTION, PREFIX, step)
        assert reused.shape == alone.shape == (3, reused.shape[1])
        for k in range(3):  # last, mean, prefix state: llama.cpp's batch shapes aside
            assert _cos(reused[k], alone[k]) > 0.999
    # the prefix state is one state for all siblings; the steps' own states differ
    first, second = (shared.state(QUESTION, PREFIX, s) for s in STEPS[:2])
    assert _cos(first[2], second[2]) > 0.999
    assert _cos(first[0], second[0]) < 0.999

    again = probe.load_states(tmp_path / "s.npz")
    cos = probe.state_cosines(rows, again)
    assert cos.shape == (2, 3)
    assert np.allclose(cos, probe.state_cosines(rows, shared.cache))
