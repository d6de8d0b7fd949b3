"""Compare the spread of paired per-problem token ratios between bench runs on the same problems.

With `--decompose RUN`, instead split each arm's token ratio to vanilla on RUN's paired problems
into expansions × samples per expansion × tokens per sample (each relative to vanilla).

Each RUN is a bench `--out` folder; `RUN@VANILLA_RUN` takes the vanilla (`none`) records from
another run (as `cpu-reference-v2`/`-v3` reuse those of `cpu-reference`). Only problems that
every run has for both arms are compared, so the rows are paired on the same problems:

    python benchmarks/paired_spread.py benchmarks/runs/cpu-reference \
        benchmarks/runs/cpu-reference-v3@benchmarks/runs/cpu-reference \
        benchmarks/runs/adaptive-40b --arm cascade
"""

from __future__ import annotations

import argparse
from pathlib import Path

from equivpruner.bench.metrics import VANILLA
from equivpruner.bench.paired import paired_token_ratio
from equivpruner.bench.store import read_results


def load(spec: str, arm: str) -> tuple[str, list[dict], list[dict]]:
    run, _, vanilla_run = spec.partition("@")
    records = read_results(Path(run) / "results.jsonl")
    base = read_results(Path(vanilla_run or run) / "results.jsonl")
    ok = lambda rs: {r["id"]: r for r in rs if r.get("status") == "ok"}  # noqa: E731
    arm_records = ok(r for (a, _), r in records.items() if a == arm)
    vanilla = ok(r for (a, _), r in base.items() if a == VANILLA)
    return spec, list(arm_records.values()), list(vanilla.values())


def _totals(records: list[dict]) -> tuple[float, float, float]:
    tokens = sum(r["generated_tokens"] for r in records)
    expansions = sum(r["expansions"] for r in records)
    samples = sum(r["siblings_generated"] for r in records)
    return tokens, expansions, samples


def decompose(run: str) -> None:
    """Token ratio = expansions ratio × samples-per-expansion ratio × tokens-per-sample ratio."""
    records = [r for r in read_results(Path(run) / "results.jsonl").values()
               if r.get("status") == "ok"]
    vanilla = {r["id"]: r for r in records if r["arm"] == VANILLA}
    arms = sorted({r["arm"] for r in records} - {VANILLA})
    print("| arm | paired | token ratio | = expansions | × samples/expansion | × tokens/sample |")
    print("|---|---|---|---|---|---|")
    for arm in arms:
        mine = [r for r in records if r["arm"] == arm and r["id"] in vanilla]
        if not mine:
            continue
        t, e, s = _totals(mine)
        vt, ve, vs = _totals([vanilla[r["id"]] for r in mine])
        print(f"| {arm} | {len(mine)} | {t / vt:.3f} | {e / ve:.3f} | {(s / e) / (vs / ve):.3f} "
              f"| {(t / s) / (vt / vs):.3f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="RUN or RUN@VANILLA_RUN")
    ap.add_argument("--arm", default="cascade")
    ap.add_argument("--decompose", metavar="RUN", help="decompose RUN's token ratios instead")
    args = ap.parse_args(argv)
    if args.decompose:
        decompose(args.decompose)
        return
    if not args.runs:
        ap.error("give at least one RUN")
    loaded = [load(spec, args.arm) for spec in args.runs]
    common = set.intersection(*(
        {r["id"] for r in arm} & {r["id"] for r in vanilla} for _, arm, vanilla in loaded
    ))
    if not common:
        raise SystemExit("no problem has both arms in every run")
    print(f"{args.arm} vs {VANILLA} on {len(common)} common problems: {', '.join(sorted(common))}")
    print("| run | token ratio [95 % CI] | per-problem median [IQR] | IQR width |")
    print("|---|---|---|---|")
    for spec, arm, vanilla in loaded:
        keep = lambda rs: [r for r in rs if r["id"] in common]  # noqa: E731
        p = paired_token_ratio(keep(arm), keep(vanilla))
        print(f"| {spec} | {p['ratio']:.3f} [{p['lo']:.3f}, {p['hi']:.3f}] "
              f"| {p['median']:.2f} [{p['q1']:.2f}, {p['q3']:.2f}] | {p['q3'] - p['q1']:.2f} |")


if __name__ == "__main__":
    main()
