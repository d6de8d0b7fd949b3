"""Cut harvested pairs into batches for independent judges, and read their judgements back.

    python benchmarks/detector/judge_batches.py cut PAIRS.jsonl [...] --out DIR [--size 100]
    python benchmarks/detector/judge_batches.py check DIR

`cut` writes DIR/batch-NNN.md (the rubric of `equiv.llm_judge`, then the pairs grouped by
their shared context: problem, solution so far, and the pairs of candidate next steps) for
pairs not yet in an earlier batch (DIR/manifest.jsonl maps pair id → batch). Each batch is
given to two judges who never see each other's work; judge J writes
DIR/batch-NNN.judge-J.jsonl, one `{"id": …, "level": 0-4, "judge": MODEL}` a line.
`check` reports, per batch, which judgement files are complete. The labelled set is then made
by `equivpruner label --judges file:A,file:B --min-agree 2` on the concatenated judgements.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from equivpruner.equiv.llm_judge import RUBRIC
from equivpruner.mathequiv.pairs import PairRecord, read_pairs

INSTRUCTIONS = """\
# Judge batch {name}

Rate every pair below on the rubric. Judge each pair on its own merits and from the text
given here only. Write one JSON object per pair, one per line, to the output file you were
given:
{{"id": "<pair id>", "level": <0-4>, "reason": "<at most 12 words>", "judge": "<model name>"}}

## Rubric
{rubric}

"""


def _context_key(row: PairRecord) -> tuple:
    return (row.problem_id or row.question, tuple(row.prefix))


def render(name: str, rows: list[PairRecord]) -> str:
    """The batch as markdown: pairs under their shared context."""
    rubric = RUBRIC.rsplit("\n\nThink briefly", 1)[0]
    out = [INSTRUCTIONS.format(name=name, rubric=rubric)]
    groups: dict[tuple, list[PairRecord]] = defaultdict(list)
    for row in rows:
        groups[_context_key(row)].append(row)
    for c, members in enumerate(groups.values(), 1):
        first = members[0]
        so_far = "\n\n".join(first.prefix) if first.prefix else "(no steps yet)"
        out.append(f"---\n## Context {c}\n### Problem\n{first.question}\n")
        out.append(f"### Solution so far\n{so_far}\n")
        for row in members:
            out.append(f"#### Pair {row.id}\n**Step A**\n\n{row.step_a}\n")
            out.append(f"**Step B**\n\n{row.step_b}\n")
    return "\n".join(out)


def cut(paths: list[Path], out: Path, size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.jsonl"
    seen = {}
    if manifest.is_file():
        seen = {json.loads(x)["id"]: json.loads(x)["batch"] for x in manifest.open()}
    fresh = [r for p in paths for r in read_pairs(p) if r.id not in seen]
    fresh.sort(key=_context_key)  # pairs of one context stay together
    start = 1 + max((int(b.split("-")[1]) for b in set(seen.values())), default=0)
    with manifest.open("a") as fh:
        for k in range(0, len(fresh) - len(fresh) % size if len(fresh) >= size else 0, size):
            name = f"batch-{start + k // size:03d}"
            rows = fresh[k : k + size]
            (out / f"{name}.md").write_text(render(name, rows))
            (out / f"{name}.pairs.jsonl").write_text(
                "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows)
            )
            fh.writelines(json.dumps({"id": r.id, "batch": name}) + "\n" for r in rows)
            print(f"{name}: {len(rows)} pairs")


def check(out: Path) -> None:
    for pairs in sorted(out.glob("batch-*.pairs.jsonl")):
        name = pairs.name.split(".")[0]
        ids = {json.loads(x)["id"] for x in pairs.open()}
        status = []
        for judged in sorted(out.glob(f"{name}.judge-*.jsonl")):
            got = {json.loads(x)["id"] for x in judged.open() if x.strip()}
            status.append(f"{judged.name.split('.')[1]} {len(got & ids)}/{len(ids)}")
        print(name, "; ".join(status) or "not judged")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cut")
    c.add_argument("pairs", nargs="+", type=Path)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--size", type=int, default=100)
    k = sub.add_parser("check")
    k.add_argument("out", type=Path)
    args = ap.parse_args()
    cut(args.pairs, args.out, args.size) if args.cmd == "cut" else check(args.out)


if __name__ == "__main__":
    main()
