"""The paired part of the bench report: token ratios, their spread, width and cache figures."""

from __future__ import annotations

import math

import pytest

from equivpruner.bench.paired import paired_section, paired_token_ratio, width_and_cache


def rec(pid, tokens, *, arm="none", status="ok", **extra):
    base = {"id": pid, "arm": arm, "status": status, "generated_tokens": tokens,
            "expansions": 2, "siblings_generated": 10, "wall_seconds": 10.0,
            "generation_seconds": 8.0, "cache_hits": 0, "cache_misses": 10,
            "cache_saved_seconds": 0.0}
    return {**base, **extra}


VANILLA = [rec("a", 100), rec("b", 200), rec("c", 400), rec("d", 300)]


def test_ratio_is_of_sums_and_spread_is_of_per_problem_ratios():
    arm = [rec("a", 50), rec("b", 200), rec("c", 100), rec("d", 600)]
    p = paired_token_ratio(arm, VANILLA)
    assert p["paired"] == 4
    assert p["ratio"] == pytest.approx(950 / 1000)
    # per-problem ratios 0.5, 1, 0.25, 2 -> quartiles by linear interpolation
    assert p["median"] == pytest.approx(0.75)
    assert p["q1"] == pytest.approx(0.4375)
    assert p["q3"] == pytest.approx(1.25)
    assert p["lo"] <= p["ratio"] <= p["hi"]
    assert p["lo"] < p["hi"]


def test_only_problems_both_arms_solved_are_paired():
    arm = [rec("a", 50), rec("b", 1, status="error"), rec("z", 999)]
    vanilla = [*VANILLA[:3], rec("d", 300, status="error")]
    p = paired_token_ratio(arm, vanilla)
    assert p["paired"] == 1
    assert p["ratio"] == pytest.approx(0.5)


def test_no_pairs_gives_nan_not_an_error():
    p = paired_token_ratio([rec("z", 5)], VANILLA)
    assert p["paired"] == 0 and math.isnan(p["ratio"])


def test_identical_arms_have_ratio_one_with_a_degenerate_interval():
    p = paired_token_ratio(VANILLA, VANILLA)
    assert (p["ratio"], p["lo"], p["hi"], p["q1"], p["q3"]) == (1.0, 1.0, 1.0, 1.0, 1.0)


def test_width_and_cache_figures():
    records = [
        rec("a", 1, expansions=2, siblings_generated=6, cache_hits=3, cache_misses=1,
            width_stops={"no-new-group": 2}, single_group_commits=1,
            generation_seconds=5.0, cache_saved_seconds=15.0, wall_seconds=6.0),
        rec("b", 1, expansions=2, siblings_generated=4, cache_hits=1, cache_misses=3,
            width_stops={"no-new-group": 1, "cap": 1}, generation_seconds=5.0,
            wall_seconds=7.0),
        rec("c", 1, status="error", expansions=50, cache_hits=100, wall_seconds=99.0),
    ]
    w = width_and_cache(records)
    assert w["samples_per_expansion"] == pytest.approx(10 / 4)
    assert w["stops"] == {"no-new-group": 3, "cap": 1}
    assert w["single_group_commits"] == 1
    assert w["hit_rate"] == pytest.approx(0.5)
    assert w["generation_seconds"] == pytest.approx(10.0)
    assert w["would_have_spent"] == pytest.approx(25.0)
    assert w["worker_seconds"] == pytest.approx(13.0)


def test_section_has_a_row_per_arm_and_compares_worker_time_with_vanilla_alone():
    cascade = [rec(r["id"], r["generated_tokens"] // 2, arm="cascade", wall_seconds=2.0)
               for r in VANILLA]
    lines = paired_section({"none": VANILLA, "cascade": cascade})
    rows = [line for line in lines if line.startswith("| none") or line.startswith("| cascade")]
    assert len(rows) == 2
    assert "0.500 [0.500, 0.500]" in rows[1]
    assert rows[0].split("|")[3].strip() == "—"  # no ratio for vanilla against itself
    assert any("48 worker-seconds, 1.20× the vanilla arm alone without a cache (40 s)" in line
               for line in lines)


def test_vanilla_alone_counts_what_its_cache_hits_saved():
    vanilla = [rec(r["id"], r["generated_tokens"], wall_seconds=1.0, generation_seconds=0.5,
                   cache_saved_seconds=99.5) for r in VANILLA]
    cascade = [rec(r["id"], 1, arm="cascade", wall_seconds=10.0) for r in VANILLA]
    lines = paired_section({"none": vanilla, "cascade": cascade})
    assert any("44 worker-seconds, 0.11× the vanilla arm alone without a cache (402 s)" in line
               for line in lines)
