"""The resumable results file: one JSON line per finished (arm, problem), fsync'd at once."""

from __future__ import annotations

import json
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

from .config import BenchError

RESULTS = "results.jsonl"


def safe_name(text: str) -> str:
    """A file-name-safe version of an arm name or problem id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


def record_key(record: dict) -> tuple[str, str]:
    return record["arm"], record["id"]


def read_results(path: str | Path) -> dict[tuple[str, str], dict]:
    """The last record per (arm, id); a truncated last line (a killed writer) is ignored."""
    path = Path(path)
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").split("\n")
    last = max((k for k, line in enumerate(lines) if line.strip()), default=-1)
    out: dict[tuple[str, str], dict] = {}
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = record_key(record)
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            if k == last:
                break
            raise BenchError(f"{path}:{k + 1}: corrupt result line ({err})") from err
        out[key] = record
    return out


class ResultStore:
    """Appends records to `OUT/results.jsonl`; safe to call from several threads."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.path = self.dir / RESULTS
        self.lock = threading.Lock()

    @contextmanager
    def exclusive(self):
        """Hold `OUT/.lock` for the run, so two runs never write one dir at once."""
        try:
            import fcntl
        except ImportError:  # not on a Unix: no guard
            yield
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                raise BenchError(f"another bench run is writing to {self.dir}") from err
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def load(self) -> dict[tuple[str, str], dict]:
        return read_results(self.path)

    def compact(self, records: dict[tuple[str, str], dict]) -> None:
        """Rewrite the file with one line per key (atomically), dropping a truncated tail."""
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for record in records.values():
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def append(self, record: dict, tree=None) -> None:
        """Save the tree (if any), then append the record line and fsync it."""
        with self.lock:
            if tree is not None and record.get("tree"):
                target = self.dir / record["tree"]
                target.parent.mkdir(parents=True, exist_ok=True)
                tree.save(target)
            line = json.dumps(record, ensure_ascii=False) + "\n"
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
