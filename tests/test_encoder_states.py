"""`benchmarks/detector/encoder_states.py`: a sentence encoder's view of each step, saved in
the policy probe's format so `cv_state_head.py` reads it like the policy's states."""

from __future__ import annotations

import numpy as np

from equivpruner.mathequiv.pairs import PairRecord

from .bench_scripts import load_script

encoder_states = load_script("detector/encoder_states.py")
pair_matrix = load_script("detector/cv_state_head.py").pair_matrix
probe = load_script("detector/policy_state_probe.py")
load_states, step_key = probe.load_states, probe.step_key

Q = "Tom has 3 bags of 4 apples. How many apples?"


def _rows():
    return [
        PairRecord(Q, [], "3 × 4 = 12 apples.", "Multiply 4 by 3 to get 12 apples.", label=1),
        PairRecord(Q, ["3 × 4 = 12"], "The answer is 12.", "Tom sails to Paris.", label=0),
        PairRecord(Q, [], "3 × 4 = 12 apples.", "Tom sails to Paris.", label=0),
    ]


def test_states_are_keyed_as_the_probe_keys_them_and_round_trip(tmp_path):
    rows = _rows()
    found = encoder_states.encoder_states(rows, "embedded:minilm")
    expected = {step_key(r.question, list(r.prefix), s) for r in rows for s in (r.step_a, r.step_b)}
    assert set(found) == expected
    last, mean, prefix = found[step_key(Q, [], "3 × 4 = 12 apples.")]
    assert np.allclose(last, mean) and not prefix.any()
    assert abs(float(np.linalg.norm(last)) - 1.0) < 1e-4
    # the same text after another prefix is the same embedding (the encoder reads the step)
    paris = [found[step_key(Q, p, "Tom sails to Paris.")] for p in ([], ["3 × 4 = 12"])]
    assert np.allclose(paris[0], paris[1])
    keys = sorted(found)
    path = tmp_path / "states.npz"
    np.savez(path, keys=np.asarray(keys), states=np.stack([found[k] for k in keys]))
    loaded = load_states(path)
    assert set(loaded) == expected
    cols = pair_matrix(rows, loaded)
    assert cols.shape == (3, 4 * last.shape[0])
    # a paraphrase is closer than an unrelated step: larger product, smaller difference
    width = last.shape[0]
    products = cols[:, :width].sum(axis=1)
    differences = cols[:, width : 2 * width].sum(axis=1)
    assert products[0] > products[2] and differences[0] < differences[2]
