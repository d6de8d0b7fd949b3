"""The public pruner API: `from equivpruner import Pruner`, one call per expansion."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from equivpruner import Context, Pruner, Verdict
from equivpruner.equiv.base import group_steps
from equivpruner.equiv.registry import make_detector

Q = "A shop sells 3 boxes of 4 pens. How many pens?"
CANDS = ["3 × 4 = 12 pens.", "3 * 4 = 12 pens.", "4 * 3 = 12", "3 + 4 = 7 pens.",
         "3 × 4 = 12 pens."]


def test_group_gives_index_groups_and_a_record_per_merge():
    grouping = Pruner("exact").group(Q, ["Each box holds 4 pens."], CANDS)
    assert grouping.groups == [[0, 1, 4], [2], [3]]
    assert grouping.keep == [0, 2, 3]
    assert grouping.survivors() == [CANDS[0], CANDS[2], CANDS[3]]
    assert [(m.kept, m.merged, m.stage) for m in grouping.merges] == [
        (0, 1, "exact"), (0, 4, "exact")]
    assert all(m.probability == 1.0 for m in grouping.merges)


def test_cascade_names_the_deciding_stage():
    grouping = Pruner("cascade").group(Q, [], ["3 × 4 = 12", "4 * 3 = 12", "3 + 4 = 7"])
    assert grouping.groups == [[0, 1], [2]]
    [merge] = grouping.merges
    assert (merge.kept, merge.merged, merge.stage) == (0, 1, "symbolic")
    assert 0.5 < merge.probability <= 1.0


def test_group_is_group_steps_on_the_same_detector():
    detector = make_detector("cascade")
    context = Context(Q, ("Each box holds 4 pens.",))
    expected = group_steps(CANDS, detector, context)
    got = Pruner(detector).group(Q, ["Each box holds 4 pens."], CANDS)
    assert got.groups == expected.groups and got.verdicts == expected.verdicts


def test_incremental_matches_the_one_shot_grouping():
    pruner = Pruner("cascade")
    inc = pruner.incremental(Q, ["Each box holds 4 pens."])
    opened = [inc.add(CANDS[:2]), inc.add(CANDS[2:4]), inc.add(CANDS[4:])]
    once = pruner.group(Q, ["Each box holds 4 pens."], CANDS)
    assert inc.groups == once.groups and sum(opened) == len(once.groups)
    assert opened[-1] == 0  # a repeat opens no group: adaptive width would stop here
    assert [(m.kept, m.merged) for m in inc.result().merges] == [
        (m.kept, m.merged) for m in once.merges]


def test_detector_options_and_misuse():
    assert Pruner("levenshtein", threshold=0.5).detector.threshold == 0.5
    with pytest.raises(ValueError, match="unknown detector"):
        Pruner("bogus")
    with pytest.raises(ValueError, match="needs a policy model"):
        Pruner("llm-judge")
    with pytest.raises(TypeError, match="list of step texts"):
        Pruner("exact").group(Q, "one string", CANDS)


class OneAtATime:
    """A detector that fails if two calls overlap (it sleeps to give them the chance)."""

    name = "one-at-a-time"

    def __init__(self):
        self.inside, self.overlaps, self.calls = 0, 0, 0
        self.lock = threading.Lock()

    def compare(self, steps, pairs, context):
        with self.lock:
            self.inside += 1
            self.calls += 1
            self.overlaps += self.inside > 1
        time.sleep(0.002)
        with self.lock:
            self.inside -= 1
        return [Verdict(i, j, steps[i] == steps[j], float(steps[i] == steps[j]), self.name)
                for i, j in pairs]


def test_one_pruner_serves_concurrent_searches():
    detector = OneAtATime()
    pruner = Pruner(detector)

    def search(k: int):
        cands = [f"step {k}", f"step {k}", f"other {k}"]
        return [pruner.group(f"question {k}", [f"prefix {k}"], cands).groups for _ in range(5)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(search, range(16)))
    assert all(r == [[[0, 1], [2]]] * 5 for r in results)
    assert detector.calls == 16 * 5 and detector.overlaps == 0


def test_concurrent_cascade_agrees_with_sequential():
    pruner = Pruner("cascade")
    batches = [[c, c.replace("×", "*"), f"{k} + 1 = {k + 1}"] for k, c in
               enumerate(["3 × 4 = 12", "5 × 6 = 30", "7 × 8 = 56", "2 × 9 = 18"] * 4)]
    sequential = [pruner.group(Q, [], b).groups for b in batches]
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(lambda b: pruner.group(Q, [], b).groups, batches))
    assert concurrent == sequential and all(g[0] == [0, 1] for g in sequential)
