"""Verdicts depend on the pair, never on the clock or the machine's load.

Every limit in the detectors counts operations (characters, lexer steps, tokens per
expression, nesting), so: the same pairs give the same verdicts across 50 runs while every
core is busy; a clock that jumps by hours between calls changes nothing; and hostile steps of
20–200 kB cost each detector a bounded amount of CPU (measured with `time.process_time`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from equivpruner.equiv.base import Context
from equivpruner.equiv.features import MAX_FUZZY_CHARS, FeatureExtractor
from equivpruner.equiv.mathfacts import MAX_STEP_CHARS
from equivpruner.equiv.normalize import normalize
from equivpruner.equiv.quantity import clear_cache
from equivpruner.equiv.registry import make_detector, shipped_features
from equivpruner.equiv.symbolic import SHARED_FACTS, SymbolicDetector, analyse

QUESTION = "A shop sells 24 muffins at $3 each and twice as many cookies at $1.50. Total?"
# A long step near the symbolic stage's length cap: the kind of pair that used to flip
# between "equivalent" and "undecided" when its parse overran a CPU-time budget.
LONG = " ".join(f"Item {k}: {k} * 3 = {3 * k} dollars, and {k} + 7 = {k + 7}." for k in range(90))
LONG = LONG[: MAX_STEP_CHARS - 10]
STEPS = [
    "Muffins bring in 24 * 3 = 72 dollars.",
    "The muffins earn 3 × 24 = $72.",
    "Cookies: 2 × 24 = 48 cookies, and 48 × 1.5 = $72.",
    "So the total is \\frac{144}{1} = \\boxed{144}.",
    "Total: $72 + $72 = $144. The answer is \\boxed{144}.",
    LONG,
    LONG.replace("dollars", "dollars in all"),
    "Let's break the problem down step by step.",
]
SHORT = [0, 1, 2, 3, 4, 7]
PAIRS = [(i, j) for i in SHORT for j in SHORT if i < j] + [(5, 6), (0, 5), (5, 7)]
DETECTORS = ["symbolic", "exact", "levenshtein"]
if shipped_features():
    DETECTORS += ["features", "cascade", "cascade-strict"]


def _forget() -> None:
    """Drop every memo, so each run analyses the steps afresh."""
    SHARED_FACTS.clear()
    normalize.cache_clear()
    clear_cache()


def _verdicts(detector, pairs=PAIRS) -> list[tuple]:
    _forget()
    context = Context(QUESTION, ("The shop sells two things.",))
    found = detector.compare(STEPS, pairs, context)
    return [(v.i, v.j, v.equivalent, round(v.probability, 9), v.stage) for v in found]


@pytest.fixture
def busy_cores():
    """One busy-looping process per core, for the length of the test."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores or 2)
    ]
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
        for proc in loops:
            proc.wait()


# The symbolic stage on every pair (the long ones are where a time budget used to bite);
# the whole cascade (exact, symbolic, lexical, features) on the short ones, to keep the
# test's own CPU small on a machine it deliberately overloads.
BUSY = [("symbolic", PAIRS)]
if shipped_features():
    BUSY.append(("cascade", [(i, j) for i, j in PAIRS if i in SHORT and j in SHORT]))


@pytest.mark.parametrize(("name", "pairs"), BUSY, ids=[name for name, _ in BUSY])
def test_same_pairs_same_verdicts_across_50_runs_on_busy_cores(busy_cores, name, pairs):
    detector = make_detector(name)
    first = _verdicts(detector, pairs)
    assert any(v[2] is True for v in first)
    for run in range(49):
        assert _verdicts(detector, pairs) == first, f"run {run + 2} of {name} changed a verdict"


@pytest.mark.parametrize("name", DETECTORS)
def test_a_jumping_clock_changes_no_verdict(monkeypatch, name):
    """Any budget in seconds would trip here: every clock read is an hour later."""
    detector = make_detector(name)
    calm = _verdicts(detector)
    hours = iter(range(0, 10**12, 3600))
    for clock in ("time", "monotonic", "perf_counter", "process_time", "thread_time"):
        monkeypatch.setattr(time, clock, lambda: float(next(hours)))
    assert _verdicts(detector) == calm


def test_the_symbolic_stage_has_no_time_parameters():
    import inspect

    from equivpruner.equiv import mathfacts, symbolic

    for func in (SymbolicDetector.__init__, analyse):
        names = inspect.signature(func).parameters
        assert not any("budget" in p or p.endswith("_s") for p in names)
    for module in (mathfacts, symbolic):
        assert "import time" not in inspect.getsource(module)


def test_the_long_step_is_analysed_completely():
    facts = analyse(LONG)
    assert facts.complete and not facts.over_budget and len(facts.claims) > 100


def test_length_caps_leave_real_steps_whole(monkeypatch):
    """The caps sit above every step of the shipped training pairs (the longest is under
    900 characters), so the shipped features model sees the features it was trained on."""
    import json
    from pathlib import Path

    import equivpruner.equiv.features as features

    data = Path(__file__).parents[1] / "benchmarks" / "detector"
    rows = [json.loads(line) for f in sorted(data.glob("*.jsonl")) for line in f.open()]
    rows.sort(key=lambda r: -max(len(r["step_a"]), len(r["step_b"])))
    longest = rows[:20]
    assert max(len(r["step_a"]) for r in longest) < min(MAX_FUZZY_CHARS, MAX_STEP_CHARS)

    def features_of(rows):
        _forget()
        out = []
        for r in rows:
            ctx = Context(r["question"], tuple(r.get("prefix") or ()))
            out += FeatureExtractor().rows([r["step_a"], r["step_b"]], [(0, 1)], ctx)
        return out

    capped = features_of(longest)
    monkeypatch.setattr(features, "MAX_FUZZY_CHARS", 10**9)
    monkeypatch.setattr(features, "MAX_SCAN_CHARS", 10**9)
    assert features_of(longest) == capped
    monkeypatch.setattr(features, "MAX_FUZZY_CHARS", 200)  # a cap too low is seen
    assert features_of(longest) != capped


# --- hostile steps: bounded CPU per pair, whatever the text ---------------------------

HOSTILE = {
    "nested fractions (20 kB)": "\\frac{" * 2_000 + "1" + "}{2}" * 2_000 + " = 5",
    "nested boxes (24 kB)": "\\boxed{" * 3_000 + "1" + "}" * 3_000,
    "percent chain (40 kB)": "5% of " * 6_000 + "100 = 3",
    "huge decimal (200 kB)": "x = 1." + "3" * 200_000 + " = 2",
    "equation soup (60 kB)": " ".join(f"{k}*{k + 1} = {k * (k + 1)}" for k in range(5_000)),
    "open brackets (50 kB)": "\\[ 1 = 1 " * 5_000,
    "blank lines (100 kB)": "a = 1" + "\n" * 100_000 + "b = 2",
    "prose (120 kB)": "The cookies cost more than the muffins, it seems. " * 2_400,
    "code lines (80 kB)": "".join(f"x{k} = {k} + 1\n" for k in range(8_000)),
    "dollars (30 kB)": "$5 and $10 = $15 " * 1_800,
}
NORMAL = "Muffins bring in 24 * 3 = 72 dollars."
CPU_SECONDS = 3.0


@pytest.mark.parametrize("name", DETECTORS)
def test_hostile_steps_cost_bounded_cpu(name):
    detector = make_detector(name)
    for what, text in HOSTILE.items():
        near = text[:-3] + "abc"  # a near-copy: the costliest case for fuzzy ratios
        for steps in ([text, NORMAL], [text, near]):
            _forget()
            start = time.process_time()
            (v,) = detector.compare(steps, [(0, 1)], Context(text[:5_000], (text,)))
            spent = time.process_time() - start
            assert spent < CPU_SECONDS, f"{name} on {what}: {spent:.1f} s of CPU"
            assert v.equivalent in (True, False, None)
