"""Labelling step pairs: judges give MathEquiv levels, an agreement filter combines them.

Judges (`make_judge(spec)`):

- `exact`: equal normalised text → level 4; otherwise abstains.
- `symbolic`: the symbolic detector's decisive verdicts → 4 (same claims) or 0 (clashing
  values); otherwise abstains.
- `llm:<model spec>`: an LLM rates each pair on the five-level rubric of
  `equiv.llm_judge` (e.g. `llm:openai:https://api.openai.com/v1#gpt-4o`, or
  `llm:embedded:qwen2.5-coder-0.5b` offline); an unparsable answer abstains.
- `file:<path.jsonl>`: judgements made elsewhere (people, or an LLM run outside this tool),
  one JSON object a line with the pair's `id` and its `level`; a pair it lacks abstains. The
  judging model is the file's `judge` field (its rows must agree); the judge's name is
  `<model>@<file stem>`, so two files by one model count as two judgements.

With one judge a pair gets that judge's level. With several, a pair is kept only when at
least `min_agree` sources give the same binary label and none disagrees; its level comes
from the first agreeing source in the order given. A label already on the row (e.g. from
reference templates) counts as a source when `use_existing`. Every row keeps each source's
raw level in `provenance["levels"]`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..equiv.base import Context
from ..equiv.llm_judge import judge_prompt, levels_to_label, parse_level
from ..equiv.normalize import normalize
from ..llm.base import GenerationParams, Message, PolicyBackend
from .pairs import PairRecord

POSITIVE_LEVELS = (3, 4)


class Judge(Protocol):
    """Rates pairs: a level 0-4 per row, or None to abstain."""

    name: str

    def levels(self, rows: Sequence[PairRecord]) -> list[int | None]: ...


class ExactJudge:
    """Equal normalised text → 4; abstains otherwise."""

    name = "exact"

    def levels(self, rows: Sequence[PairRecord]) -> list[int | None]:
        return [4 if normalize(r.step_a) == normalize(r.step_b) else None for r in rows]


class SymbolicJudge:
    """The symbolic detector's decisive verdicts: equivalent → 4, clash → 0."""

    name = "symbolic"

    def __init__(self):
        from ..equiv.symbolic import SymbolicDetector

        self.detector = SymbolicDetector()

    def levels(self, rows: Sequence[PairRecord]) -> list[int | None]:
        out: list[int | None] = []
        for r in rows:
            verdict = self.detector.compare(
                [r.step_a, r.step_b], [(0, 1)], Context(r.question, tuple(r.prefix))
            )[0]
            out.append(None if verdict.equivalent is None else 4 if verdict.equivalent else 0)
        return out


class LLMJudge:
    """An LLM rates each pair with the MathEquiv rubric (greedy, batched prompts)."""

    def __init__(
        self, backend: PolicyBackend, name: str = "llm", batch_size: int = 8, max_tokens=384
    ):
        self.backend = backend
        self.name = name
        self.batch_size = batch_size
        self.max_tokens = max_tokens

    def _prompt(self, r: PairRecord) -> str:
        text = judge_prompt(r.question, r.prefix, r.step_a, r.step_b)
        return self.backend.chat_prompt([Message("user", text)])

    def levels(self, rows: Sequence[PairRecord]) -> list[int | None]:
        params = GenerationParams(n=1, stop=(), temperature=0.0, max_tokens=self.max_tokens)
        out: list[int | None] = []
        for start in range(0, len(rows), self.batch_size):
            prompts = [self._prompt(r) for r in rows[start : start + self.batch_size]]
            for completions in self.backend.generate(prompts, params):
                out.append(parse_level(completions[0].text if completions else None))
        return out


class FileJudge:
    """Levels read from a JSONL file of judgements: `{"id": pair id, "level": 0-4}` a line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.by_id: dict[str, int] = {}
        names: set[str] = set()
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    self._add(line, f"{self.path}:{lineno}", names)
        if len(names) > 1:
            raise ValueError(f"{self.path}: rows name several judges: {sorted(names)}")
        self.model = names.pop() if names else None
        self.name = f"{self.model}@{self.path.stem}" if self.model else self.path.stem

    def _add(self, line: str, where: str, names: set[str]) -> None:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not JSON ({err.msg})") from None
        level = row.get("level") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise ValueError(f"{where}: expected an object with a string 'id'")
        if not isinstance(level, int) or isinstance(level, bool) or level not in range(5):
            raise ValueError(f"{where}: 'level' must be an integer 0-4, got {level!r}")
        if isinstance(row.get("judge"), str):
            names.add(row["judge"])
        self.by_id[row["id"]] = level

    def levels(self, rows: Sequence[PairRecord]) -> list[int | None]:
        return [self.by_id.get(r.id) for r in rows]


def make_judge(spec: str, load_backend=None) -> Judge:
    """A judge from `exact`, `symbolic` or `llm:<model spec>` (`load_backend(spec)` builds
    the LLM backend; default `llm.load_policy`)."""
    spec = spec.strip()
    if spec == "exact":
        return ExactJudge()
    if spec == "symbolic":
        return SymbolicJudge()
    if spec.startswith("file:"):
        return FileJudge(spec[len("file:") :])
    if spec == "llm" or spec.startswith("llm:"):
        from ..llm.registry import DEFAULT_POLICY

        model = spec[len("llm:") :] if spec.startswith("llm:") else ""
        model = model or DEFAULT_POLICY
        if load_backend is None:
            from ..llm.loader import load_policy as load_backend
        return LLMJudge(load_backend(model), name=f"llm:{model}")
    raise ValueError(
        f"unknown judge {spec!r}; use exact, symbolic, llm:<model spec> or file:<path.jsonl>"
    )


def parse_judges(specs: str, load_backend=None) -> list[Judge]:
    """Judges from a comma list (`symbolic,exact`, `llm:openai:…#gpt-4o,symbolic`)."""
    parts = _split_specs(specs)
    if not parts:
        raise ValueError("no judge given; use exact, symbolic or llm:<model spec>")
    return [make_judge(p, load_backend) for p in parts]


def _split_specs(specs: str) -> list[str]:
    """Split on commas, except inside an `llm:` spec's URL part (`openai:http://h:1/v1#m`)."""
    out: list[str] = []
    for piece in (p.strip() for p in specs.split(",")):
        if not piece:
            continue
        if out and out[-1].startswith("llm:") and piece.split(":")[0] not in _JUDGE_HEADS:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


_JUDGE_HEADS = {"exact", "symbolic", "llm", "file"}


def _combine(
    votes: list[tuple[str, int]], positive: Sequence[int], min_agree: int
) -> tuple[int, int, list[str]] | None:
    """(level, label, agreeing sources) from (source, level) votes, or None if rejected."""
    labels = [levels_to_label(level, positive) for _, level in votes]
    if not votes or len(set(labels)) != 1 or len(votes) < min_agree:
        return None
    return votes[0][1], labels[0], [name for name, _ in votes]


def label_pairs(
    rows: Sequence[PairRecord],
    judges: Sequence[Judge],
    positive: Sequence[int] = POSITIVE_LEVELS,
    min_agree: int | None = None,
    use_existing: bool = True,
    keep_unlabelled: bool = False,
) -> list[PairRecord]:
    """Labelled copies of `rows` (see the module docstring for how sources combine).

    `positive`: the levels that mean equivalent ({3, 4} by default). `min_agree`: how many
    sources must agree (default 1 with a single judge, else 2; an existing label can count
    towards it but does not raise it). `keep_unlabelled` keeps rejected rows with
    `label=None` instead of dropping them.
    """
    rows = list(rows)
    raw: dict[str, list[int | None]] = {}
    for judge in judges:
        name, k = judge.name, 2
        while name in raw:  # two judges of one name are still two judgements
            name, k = f"{judge.name}#{k}", k + 1
        raw[name] = judge.levels(rows)
    need = min_agree if min_agree is not None else (1 if len(raw) <= 1 else 2)
    out = []
    for k, row in enumerate(rows):
        votes = [(name, levels[k]) for name, levels in raw.items() if levels[k] is not None]
        if use_existing and row.level is not None:
            votes.append((row.label_source or "existing", row.level))
        result = _combine(votes, positive, need)
        record = PairRecord.from_dict(row.to_dict())
        prov = dict(record.provenance)
        prov["levels"] = {**prov.get("levels", {}), **{n: lv[k] for n, lv in raw.items()}}
        prov["judges"] = list(raw)
        prov["positive_levels"] = list(positive)
        record.provenance = prov
        if result is None:
            if not keep_unlabelled:
                continue
            record.level, record.label, record.label_source = None, None, ""
        else:
            record.level, record.label = result[0], result[1]
            record.label_source = "+".join(result[2])
        out.append(record)
    return out
