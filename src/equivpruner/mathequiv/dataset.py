"""MathEquiv (the paper's GPT-4o + human labelled step pairs) as our pair records.

Online: `datasets.load_dataset("Jiawei1222/MathEquiv", <split>, split=<split>)` (its configs
and splits are named train / valid / test). Offline: a local JSON / JSONL / Parquet file in
the same schema. The column names are detected from common spellings (the first statement,
the second, the five-level result, GPT-4o's reasoning); pass `fields=` to name them when a
file spells them otherwise. Levels: 4 exactly … 0 not equivalent; {3, 4} → label 1.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from pathlib import Path

from ..data.problems import DatasetError, read_records
from ..equiv.llm_judge import levels_to_label, parse_level
from .pairs import PairRecord

HUB_ID = "Jiawei1222/MathEquiv"
SPLITS = {"train": "train", "valid": "valid", "validation": "valid", "dev": "valid", "test": "test"}
LABEL_SOURCE = "mathequiv"
CANDIDATES = {
    "step_a": ("step_a", "sentence1", "sentence_1", "statement1", "statement_1", "text1",
               "text_1", "step1", "step_1", "input1", "s1", "a"),
    "step_b": ("step_b", "sentence2", "sentence_2", "statement2", "statement_2", "text2",
               "text_2", "step2", "step_2", "input2", "s2", "b"),
    "level": ("level", "result", "equivalence", "equivalence_level", "score", "rating",
              "output"),
    "reasoning": ("reasoning", "reasoning_step", "reasoning_steps", "reason", "explanation",
                  "analysis"),
    "question": ("question", "problem"),
    "id": ("id", "idx", "uid"),
}  # fmt: skip
_NAMED_LEVELS = (
    ("not equivalent", 0),
    ("unlikely equivalent", 1),
    ("indeterminable", 2),
    ("likely equivalent", 3),
    ("exactly equivalent", 4),
)


def _norm_key(key: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", key.lower().replace(" ", "_").replace("-", "_"))


def detect_fields(row: dict, fields: dict | None = None) -> dict[str, str]:
    """Our field → the row's column, for step_a, step_b, level (+ reasoning, question, id)."""
    by_norm = {_norm_key(k): k for k in row}
    found = {}
    for ours, options in CANDIDATES.items():
        given = (fields or {}).get(ours)
        if given is not None:
            if given not in row:
                raise DatasetError(f"MathEquiv row has no column {given!r} (has {sorted(row)})")
            found[ours] = given
            continue
        hit = next((by_norm[o] for o in options if o in by_norm), None)
        if hit is not None:
            found[ours] = hit
    missing = [k for k in ("step_a", "step_b", "level") if k not in found]
    if missing:
        raise DatasetError(
            f"cannot find MathEquiv columns for {', '.join(missing)} among {sorted(row)}; "
            "name them with fields={'step_a': …, 'step_b': …, 'level': …}"
        )
    return found


def level_of(value) -> int | None:
    """A level 0-4 from an int, a digit string, "Level 3", or a level name."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and 0 <= value <= 4:
        return int(value)
    if not isinstance(value, str):
        return None
    parsed = parse_level(value)
    if parsed is not None:
        return parsed
    digit = re.search(r"(?<![\d.])([0-4])(?![\d.])", value)
    if digit:
        return int(digit.group(1))
    text = value.lower()
    return next((level for name, level in _NAMED_LEVELS if name in text), None)


def convert(
    rows: Iterable[dict], split: str, fields: dict | None = None, positive=(3, 4)
) -> list[PairRecord]:
    """MathEquiv rows → records (rows whose level can't be read are skipped)."""
    out, mapping = [], None
    for k, row in enumerate(rows):
        mapping = mapping or detect_fields(row, fields)
        level = level_of(row.get(mapping["level"]))
        a, b = row.get(mapping["step_a"]), row.get(mapping["step_b"])
        if level is None or not isinstance(a, str) or not isinstance(b, str):
            continue
        rid = row.get(mapping["id"]) if "id" in mapping else None
        prov = {"origin": HUB_ID, "levels": {LABEL_SOURCE: level}}
        if "reasoning" in mapping and row.get(mapping["reasoning"]):
            prov["reasoning"] = str(row[mapping["reasoning"]])
        out.append(
            PairRecord(
                question=str(row.get(mapping.get("question", ""), "") or ""),
                prefix=[],
                step_a=a,
                step_b=b,
                depth=-1,
                source="mathequiv",
                model="",
                problem_id=f"mathequiv-{split}-{rid if rid is not None else k}",
                level=level,
                label=levels_to_label(level, positive),
                label_source=LABEL_SOURCE,
                split=split,
                provenance=prov,
            )
        )
    return out


def load_mathequiv(
    split: str = "train",
    path: str | Path | None = None,
    limit: int | None = None,
    fields: dict | None = None,
    positive=(3, 4),
) -> list[PairRecord]:
    """MathEquiv pairs from a local file (`path`) or, without one, from the hub."""
    if split not in SPLITS:
        raise DatasetError(f"unknown MathEquiv split {split!r}; use train, valid or test")
    name = SPLITS[split]
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: no such file")
        rows = read_records(path)
    else:
        rows = _hub_rows(name)
    if limit is not None:
        rows = itertools.islice(rows, limit)
    return convert(rows, name, fields, positive)


def _hub_rows(split: str) -> Iterable[dict]:
    try:
        from datasets import load_dataset
    except ImportError as err:
        raise DatasetError("loading MathEquiv from the hub needs: pip install datasets") from err
    try:
        return load_dataset(HUB_ID, split, split=split)
    except Exception as err:  # offline, renamed, auth: the user has to act
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatasetError(
            f"could not load {HUB_ID} ({split}) from the hub: {first}. Check the connection "
            "(unset HF_HUB_OFFLINE) or pass a local file with path="
        ) from err
