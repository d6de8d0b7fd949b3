"""Labelled step pairs: the record schema, JSONL I/O, dedup, per-problem caps, depth balance.

One record is two candidate next steps (`step_a`, `step_b`) for the same partial solution
(`question` + `prefix`). `level` is the MathEquiv five-level rating (4 exactly equivalent …
0 not equivalent), `label` the binary target (1 = equivalent). `label_source` names who
labelled it and `provenance` keeps the details (each judge's raw level, the template that
made a reference pair, …). The field names match the shared dev-set files, so those load too.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..equiv.normalize import normalize

PAIRS_FORMAT = "equivpruner.pairs/1"


@dataclass
class PairRecord:
    """Two sibling steps with their shared context and (optionally) a label."""

    question: str
    prefix: list[str]
    step_a: str
    step_b: str
    depth: int = 0
    source: str = ""
    model: str = ""
    problem_id: str = ""
    level: int | None = None
    label: int | None = None
    label_source: str = ""
    split: str = ""
    id: str = ""
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prefix = list(self.prefix or [])
        if self.level is not None and self.level not in range(5):
            raise ValueError(f"level must be 0-4, got {self.level!r}")
        if self.label is not None and self.label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {self.label!r}")
        if not self.id:
            self.id = pair_id(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PairRecord:
        """A record from a JSON object; unknown keys go to `provenance["extra"]`."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        for key in ("question", "step_a", "step_b"):
            if not isinstance(known.get(key, "" if key == "question" else None), str):
                raise ValueError(f"missing or non-text field {key!r}")
        check_prefix(known.get("prefix"))
        known.setdefault("question", "")
        known.setdefault("prefix", [])
        known["depth"] = int(known.get("depth") or 0)
        record = cls(**known)
        if extra:
            record.provenance = {**record.provenance, "extra": extra}
        return record


def sibling_pairs(
    question: str, prefix: Sequence[str], texts: Sequence[str], origin: str, **fields
) -> list[PairRecord]:
    """One unlabelled record per pair of `texts` (siblings sharing `prefix`) whose stripped
    texts differ; `fields` fill the rest (source, model, problem_id, split)."""
    rows = []
    for k, a in enumerate(texts):
        for b in texts[k + 1 :]:
            if a.strip() == b.strip():
                continue
            rows.append(
                PairRecord(
                    question=question,
                    prefix=list(prefix),
                    step_a=a,
                    step_b=b,
                    depth=len(prefix),
                    provenance={"origin": origin},
                    **fields,
                )
            )
    return rows


def pair_id(row: PairRecord) -> str:
    """A stable short id from the problem, the context and the unordered pair of texts."""
    key = json.dumps([row.problem_id, row.question, row.prefix, sorted([row.step_a, row.step_b])])
    return "p" + hashlib.sha256(key.encode()).hexdigest()[:12]


def pair_key(a: str, b: str) -> tuple[str, str]:
    """Order-free key of two steps after normalisation (so (A, B) and (B, A) collide)."""
    x, y = normalize(a), normalize(b)
    return (x, y) if x <= y else (y, x)


def row_key(row: PairRecord) -> tuple:
    """Dedup key: the problem plus the normalised unordered pair."""
    return (row.problem_id or row.question, *pair_key(row.step_a, row.step_b))


def check_prefix(prefix) -> None:
    """A prefix is a list of earlier steps (text); None means none. `"abc"` is refused, not
    read as three steps."""
    if prefix is None:
        return
    if not isinstance(prefix, list):
        kind = "text" if isinstance(prefix, str) else type(prefix).__name__
        raise ValueError(f"'prefix' must be a list of earlier steps (text), got {kind}")
    if not all(isinstance(step, str) for step in prefix):
        raise ValueError("'prefix' must be a list of earlier steps (text), not other values")


def json_lines(path: str | Path) -> Iterable[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file; bad bytes, bad JSON
    or a line that is not an object raise ValueError as `FILE:LINE: what`."""
    path = Path(path)
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column "
                    f"{err.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
            except RecursionError:
                raise ValueError(f"{path}:{lineno}: JSON nested too deeply") from None
            if not isinstance(data, dict):
                kind = type(data).__name__
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {kind}")
            yield lineno, data


def read_pairs(path: str | Path) -> list[PairRecord]:
    """Records of a JSONL file; a bad line raises ValueError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pairs file")
    rows = []
    for lineno, data in json_lines(path):
        try:
            rows.append(PairRecord.from_dict(data))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}:{lineno}: {err}") from None
    return rows


def write_pairs(rows: Iterable[PairRecord], path: str | Path, append: bool = False) -> int:
    """Write records as JSONL (one object per line); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def rows_sha256(rows: Iterable[PairRecord]) -> str:
    """A content hash of the records (order-sensitive), for training provenance."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def dedup_pairs(rows: Iterable[PairRecord], drop_identical: bool = False) -> list[PairRecord]:
    """Keep the first record per (problem, normalised unordered pair).

    `drop_identical` also drops pairs whose two steps normalise to the same text.
    """
    seen: set[tuple] = set()
    out = []
    for row in rows:
        key = row_key(row)
        if key in seen or (drop_identical and key[1] == key[2]):
            continue
        seen.add(key)
        out.append(row)
    return out


def _round_robin(groups: dict[Hashable, list], limit: int) -> list:
    """Take one item from each group in turn until `limit` items are taken."""
    queues = [list(g) for _, g in sorted(groups.items(), key=lambda kv: str(kv[0]))]
    out: list = []
    while len(out) < limit and any(queues):
        for queue in queues:
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out


def cap_per_problem(
    rows: Sequence[PairRecord],
    cap: int | None,
    seed: int = 0,
    spread: Callable[[PairRecord], Hashable] = lambda r: r.depth,
) -> list[PairRecord]:
    """At most `cap` records per problem, taken round-robin over `spread` groups (depth by
    default) after a seeded shuffle, so a capped problem keeps a mix. Order is preserved."""
    if cap is None:
        return list(rows)
    if cap < 0:
        raise ValueError(f"cap must be ≥ 0, got {cap}")
    rng = random.Random(seed)
    by_problem: dict[str, list[int]] = defaultdict(list)
    for k, row in enumerate(rows):
        by_problem[row.problem_id or row.question].append(k)
    keep: set[int] = set()
    for members in by_problem.values():
        groups: dict[Hashable, list[int]] = defaultdict(list)
        shuffled = list(members)
        rng.shuffle(shuffled)
        for k in shuffled:
            groups[spread(rows[k])].append(k)
        keep.update(_round_robin(groups, cap))
    return [row for k, row in enumerate(rows) if k in keep]


def balance_depths(
    rows: Sequence[PairRecord],
    per_depth: int | None = None,
    ratio: float = 2.0,
    max_depth: int = 6,
    seed: int = 0,
) -> list[PairRecord]:
    """Downsample deep-or-shallow excess: each depth bucket (depths ≥ `max_depth` share one)
    keeps at most `per_depth` records, by default `ratio` × the smallest bucket."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for k, row in enumerate(rows):
        buckets[min(row.depth, max_depth)].append(k)
    if not buckets:
        return []
    limit = per_depth if per_depth is not None else int(ratio * min(map(len, buckets.values())))
    rng = random.Random(seed)
    keep: set[int] = set()
    for members in buckets.values():
        keep.update(members if len(members) <= limit else rng.sample(members, limit))
    return [row for k, row in enumerate(rows) if k in keep]


def summary(rows: Sequence[PairRecord]) -> dict:
    """Counts by label, level, depth, source and label source."""

    def count(get) -> dict:
        return dict(sorted(Counter(get(r) for r in rows).items(), key=lambda kv: str(kv[0])))

    return {
        "pairs": len(rows),
        "problems": len({r.problem_id for r in rows}),
        "label": count(lambda r: r.label),
        "level": count(lambda r: r.level),
        "depth": count(lambda r: r.depth),
        "source": count(lambda r: r.source),
        "label_source": count(lambda r: r.label_source),
    }
