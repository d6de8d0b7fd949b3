"""Cut harvested pairs into batches for independent judges, and read their judgements back.

    python benchmarks/detector/judge_batches.py cut PAIRS.jsonl [...] --out DIR [--size 100]
    python benchmarks/detector/judge_batches.py check DIR
    python benchmarks/detector/judge_batches.py merge DIR OUT.jsonl
    python benchmarks/detector/judge_batches.py stats LABELLED.jsonl

`cut` writes DIR/batch-NNN.md (the rubric of `equiv.llm_judge`, then the pairs grouped by
their shared context: problem, solution so far, and the pairs of candidate next steps) for
pairs not yet in an earlier batch (DIR/manifest.jsonl maps pair id → batch). Each batch is
given to two judges who never see each other's work; judge J writes
DIR/batch-NNN.judge-J.jsonl, one `{"id": …, "level": 0-4, "judge": MODEL}` a line.
`check` reports, per batch, which judgement files are complete. `merge` takes the batches
both judges finished and keeps a pair only when the two judges give the same binary label
({3, 4} equivalent) and neither says 2 (indeterminable), as in the first round; the level is
the first judge's, both levels and reasons stay in `provenance`. It writes DIR/agreement.json
(binary and exact-level agreement). The same filter is `equivpruner label --judges
file:A,file:B --min-agree 2`.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from equivpruner.equiv.llm_judge import RUBRIC
from equivpruner.mathequiv.label import FileJudge, label_pairs
from equivpruner.mathequiv.pairs import PairRecord, read_pairs, write_pairs

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


def _judged(out: Path) -> list[tuple[Path, list[Path]]]:
    """(pairs file, its two judgement files) for every batch that two judges finished."""
    done = []
    for pairs in sorted(out.glob("batch-*.pairs.jsonl")):
        name = pairs.name.split(".")[0]
        ids = {json.loads(x)["id"] for x in pairs.open()}
        files = sorted(out.glob(f"{name}.judge-*.jsonl"))[:2]
        if len(files) == 2 and all(ids <= set(FileJudge(f).by_id) for f in files):
            done.append((pairs, files))
    return done


def apply_rejudged(rows: list[dict], folder: Path, relabelled: str) -> list[dict]:
    """`rows` after a round that judged some of them again (`folder`'s manifest names them):
    each takes its row in `folder/relabelled` (both new judges agreed), or is left out."""
    manifest = Path(folder) / "manifest.jsonl"
    if not manifest.is_file():
        return rows
    redone = {json.loads(x)["id"] for x in manifest.read_text(encoding="utf-8").splitlines()}
    path = Path(folder) / relabelled
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    new = {r["id"]: r for r in map(json.loads, lines)}
    return [new.get(r["id"], r) for r in rows if r["id"] not in redone or r["id"] in new]


def _earlier(row: PairRecord) -> dict:
    """The provenance of a pair judged again: its origin, and its earlier label under
    `earlier` (the earlier judges' levels and reasons no longer describe this label)."""
    if row.level is None:
        return dict(row.provenance)
    keep = {k: v for k, v in row.provenance.items() if k == "origin"}
    return {**keep, "earlier": {"level": row.level, "label": row.label,
                                "label_source": row.label_source}}  # fmt: skip


def merge(out: Path, dest: Path) -> None:
    kept, stats = [], {"pairs": 0, "either_2": 0, "binary_agree": 0, "level_agree": 0}
    for pairs, files in _judged(out):
        rows = read_pairs(pairs)
        j1, j2 = (FileJudge(f) for f in files)
        reasons = [{json.loads(x)["id"]: json.loads(x).get("reason") for x in f.open()}
                   for f in files]  # fmt: skip
        for row in rows:
            a, b = j1.by_id[row.id], j2.by_id[row.id]
            stats["pairs"] += 1
            stats["either_2"] += 2 in (a, b)
            stats["binary_agree"] += 2 not in (a, b) and (a >= 3) == (b >= 3)
            stats["level_agree"] += a == b
        sure = [r for r in rows if 2 not in (j1.by_id[r.id], j2.by_id[r.id])]
        before = {r.id: _earlier(r) for r in sure}
        for row in label_pairs(sure, [j1, j2], min_agree=2, use_existing=False):
            model = j1.model or "unknown"
            row.label_source = f"{model} x2 (MathEquiv 5-level rubric, agreement-filtered)"
            row.provenance = {
                **before[row.id], "judge": model, "judgements": 2,
                "levels": {"judge1": j1.by_id[row.id], "judge2": j2.by_id[row.id]},
                "reasons": [reasons[0].get(row.id), reasons[1].get(row.id)],
                "batch": pairs.name.split(".")[0],
            }  # fmt: skip
            kept.append(row)
    decided = stats["pairs"] - stats["either_2"]
    stats.update(
        kept=len(kept),
        binary_agreement=round(stats["binary_agree"] / max(decided, 1), 4),
        level_agreement=round(stats["level_agree"] / max(stats["pairs"], 1), 4),
    )
    write_pairs(kept, dest)
    (out / "agreement.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(json.dumps(stats))


def _kind(row: PairRecord) -> str:
    code = re.compile(r"```|\bdef |print\(|^\s*import ", re.M)
    if code.search(row.step_a) or code.search(row.step_b):
        return "code"
    return "opening" if not row.prefix else "later"


def stats(path: Path) -> None:
    """The datasheet's counts: pairs by source, depth, level, label and kind."""
    rows = read_pairs(path)
    tables = {
        "source": Counter(r.source for r in rows),
        "depth": Counter(r.depth for r in rows),
        "level": Counter(r.level for r in rows),
        "label by source": Counter(f"{r.source}/{r.label}" for r in rows),
        "kind": Counter(_kind(r) for r in rows),
        "label by kind": Counter(f"{_kind(r)}/{r.label}" for r in rows),
        "problems": Counter(r.source for r in {r.problem_id: r for r in rows}.values()),
    }
    print(f"{len(rows)} pairs")
    for name, counts in tables.items():
        print(f"{name}: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cut")
    c.add_argument("pairs", nargs="+", type=Path)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--size", type=int, default=100)
    k = sub.add_parser("check")
    k.add_argument("out", type=Path)
    m = sub.add_parser("merge")
    m.add_argument("out", type=Path)
    m.add_argument("dest", type=Path)
    st = sub.add_parser("stats")
    st.add_argument("labelled", type=Path)
    args = ap.parse_args()
    if args.cmd == "stats":
        return stats(args.labelled)
    if args.cmd == "cut":
        cut(args.pairs, args.out, args.size)
    elif args.cmd == "check":
        check(args.out)
    else:
        merge(args.out, args.dest)


if __name__ == "__main__":
    main()
