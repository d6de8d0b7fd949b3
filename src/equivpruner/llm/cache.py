"""A content-addressed cache of completions and next-token probabilities, shared by arms.

`CachedBackend(backend, GenerationCache(path))` is a `PolicyBackend` that answers a sample
from the cache when the same model already drew it: the key is the model's identity (the
GGUF's sha256 for llama.cpp, the server URL and model name for HTTP), the prompt, the
sampling parameters, the seed and the sample's index at its prompt. An entry keeps the
sample's confidence (mean / min token log-prob, entropy: `Completion`); entries stored before
confidence was recorded get it from a forward pass with `backfill_confidence=True`.
With state-keyed seeds (`state_seed`), every bench arm that reaches a state reads the
siblings another arm drew there, so arms differ only by what they do with them, and a rerun
after changing only the detector pays only for the states it has not seen.

Completions come back with their original token counts, so searches count tokens as if
every sample had been generated: the cache saves benchmarking time, never reported tokens.
It also keeps the seconds each entry took to generate, so a run can say what it would have
spent. Unseeded sampling (`seed=None`, temperature > 0) is never cached: it is meant to be
random.

Storage is sqlite in WAL mode with one transaction per insert: a writer killed with
`kill -9` loses at most the entry in flight, and several processes (Ray workers) can share
one file. A file that is not a usable cache (truncated, overwritten, unwritable) raises
`CacheError` naming it and the way out: `--no-cache`, or move the file aside (a new one is
built on the next run).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .base import Completion, GenerationParams, Message

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, data TEXT NOT NULL,"
    " seconds REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS probs (key TEXT PRIMARY KEY, data TEXT NOT NULL,"
    " seconds REAL NOT NULL)",
)


class CacheError(ValueError):
    """The cache file cannot be used (the message names it and says what to do)."""

    def __init__(self, path: Path, err: BaseException):
        what = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        super().__init__(
            f"{path}: the generation cache cannot be used ({what}); rerun with --no-cache, "
            "or move the file aside and a new cache is built"
        )


@dataclass
class CacheCounters:
    """What one thread's calls got from the cache since the counters were last taken."""

    hits: int = 0
    misses: int = 0
    saved_seconds: float = 0.0  # generation time the hits originally cost

    def to_dict(self) -> dict:
        return {**asdict(self), "saved_seconds": round(self.saved_seconds, 4)}


class GenerationCache:
    """A sqlite key-value store for completions and probabilities (thread- and process-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=60, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._check()
        except (sqlite3.Error, OSError) as err:
            raise CacheError(self.path, err) from err

    def _check(self) -> None:
        """Refuse a damaged file now, not in the middle of a run (sqlite's quick check)."""
        found = self._db.execute("PRAGMA quick_check").fetchone()
        if not found or found[0] != "ok":
            raise sqlite3.DatabaseError(f"damaged file: {found[0] if found else 'no answer'}")

    def _run(self, sql: str, args=()) -> list:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise CacheError(self.path, err) from err

    def get(self, table: str, keys: Sequence[str]) -> dict[str, tuple[dict, float]]:
        """The stored (data, seconds) of each key present."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._run(
                f"SELECT key, data, seconds FROM {_table(table)} WHERE key IN ({marks})",
                list(keys),
            )
        try:
            return {k: (json.loads(d), float(s)) for k, d, s in rows}
        except (TypeError, ValueError) as err:
            raise CacheError(self.path, err) from err

    def put(self, table: str, items: Sequence[tuple[str, dict, float]]) -> None:
        """Store (key, data, seconds) items; an existing key keeps its first value."""
        with self._lock:
            for key, data, seconds in items:
                self._run(
                    f"INSERT OR IGNORE INTO {_table(table)} (key, data, seconds) VALUES (?, ?, ?)",
                    (key, json.dumps(data, ensure_ascii=False), float(seconds)),
                )

    def replace(self, table: str, key: str, data: dict) -> None:
        """Overwrite the data of a stored key (its seconds stay)."""
        with self._lock:
            self._db.execute(
                f"UPDATE {_table(table)} SET data = ? WHERE key = ?",
                (json.dumps(data, ensure_ascii=False), key),
            )

    def size(self, table: str = "completions") -> int:
        with self._lock:
            return int(self._run(f"SELECT COUNT(*) FROM {_table(table)}")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def stored_completion(c: Completion) -> dict:
    """What the cache keeps of a completion: all but its per-token lists (the confidence
    summaries stay)."""
    data = asdict(c)
    data.pop("token_ids", None)
    data.pop("token_logprobs", None)
    return data


def _table(name: str) -> str:
    if name not in ("completions", "probs"):
        raise ValueError(f"no cache table {name!r}")
    return name


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def model_identity(backend) -> str:
    """What names the model's weights: `model_id` when the backend has one, else its name."""
    return str(getattr(backend, "model_id", None) or getattr(backend, "name", type(backend)))


class CachedBackend:
    """Wraps a policy backend; same interface, cached `generate` and `next_token_probs`."""

    def __init__(self, backend, cache: GenerationCache, backfill_confidence: bool = False):
        self.backend = backend
        self.cache = cache
        self.backfill_confidence = backfill_confidence
        self.name = getattr(backend, "name", "?")
        self._identity: str | None = None
        self._local = threading.local()

    def __getattr__(self, attr: str):  # thread_safe, n_ctx, chat_template, …
        if attr in ("backend", "cache", "_local"):
            raise AttributeError(attr)
        return getattr(self.backend, attr)

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = model_identity(self.backend)
        return self._identity

    # ---- counters (per thread, so concurrent problems don't mix) -------------------------
    def counters(self) -> CacheCounters:
        if not hasattr(self._local, "counters"):
            self._local.counters = CacheCounters()
        return self._local.counters

    def take_counters(self) -> CacheCounters:
        """This thread's counters since the last call; they start again from zero."""
        out = self.counters()
        self._local.counters = CacheCounters()
        return out

    # ---- PolicyBackend ------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        return self.backend.chat_prompt(messages, assistant_prefix)

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def _sample_key(self, prompt: str, params: GenerationParams, k: int) -> str:
        seed = None if params.temperature <= 0 else params.seed
        return _digest(
            "completion", self.identity, prompt, list(params.stop), params.temperature,
            params.top_p, params.max_tokens, seed, k,
        )

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        if params.seed is None and params.temperature > 0:
            return self.backend.generate(prompts, params)
        return [self._generate_one(p, params) for p in prompts]

    def _generate_one(self, prompt: str, params: GenerationParams) -> list[Completion]:
        index = range(params.index, params.index + params.n)
        keys = [self._sample_key(prompt, params, k) for k in index]
        found = self.cache.get("completions", keys)
        missing = [k for k, key in zip(index, keys, strict=True) if key not in found]
        fresh = self._draw(prompt, params, missing)
        out = []
        counters = self.counters()
        for k, key in zip(index, keys, strict=True):
            if key in found:
                data, seconds = found[key]
                counters.hits += 1
                counters.saved_seconds += seconds
                c = Completion(**data)
                out.append(self._with_confidence(c, prompt, key, _stop_of(c, params)))
            else:
                counters.misses += 1
                out.append(fresh[k])
        return out

    def _with_confidence(
        self, c: Completion, prompt: str, key: str, stop: str | None = None
    ) -> Completion:
        """With `backfill_confidence`, an entry stored before confidence was recorded gets
        it from the backend's forward pass over its text and the stop string that ended it
        (stored for the next reader)."""
        score = getattr(self.backend, "continuation_confidence", None)
        if not self.backfill_confidence or score is None or c.mean_logprob is not None:
            return c
        if not c.text:
            return c
        found = score(prompt, c.text, stop)
        if found.get("mean_logprob") is None:
            return c
        for name, value in found.items():
            setattr(c, name, value)
        self.cache.replace("completions", key, stored_completion(c))
        return c

    def _draw(self, prompt: str, params: GenerationParams, missing: list[int]) -> dict:
        """Generate the missing sample indices (contiguous runs in one call) and store them.

        The stored sample is the one returned: where another process stored the same key
        first (both missed it at once), its sample replaces this draw, so every reader of a
        key sees one sample even though llama.cpp's draws depend on its earlier KV state."""
        fresh: dict[int, Completion] = {}
        for start, count in _runs(missing):
            begin = time.perf_counter()
            batch = self.backend.generate([prompt], replace(params, n=count, index=start))[0]
            seconds = time.perf_counter() - begin
            total = sum(max(1, c.tokens) for c in batch) or 1
            items = []
            for j, c in enumerate(batch):
                fresh[start + j] = c
                share = seconds * max(1, c.tokens) / total
                key = self._sample_key(prompt, params, start + j)
                items.append((key, stored_completion(c), share))
            self.cache.put("completions", items)
            stored = self.cache.get("completions", [key for key, _, _ in items])
            for j, (key, data, _) in enumerate(items):
                if key in stored and stored[key][0] != json.loads(json.dumps(data)):
                    fresh[start + j] = Completion(**stored[key][0])
        return fresh

    def next_token_probs(self, prompts: Sequence[str], candidates: Sequence[str]) -> list[dict]:
        keys = [_digest("probs", self.identity, p, list(candidates)) for p in prompts]
        found = self.cache.get("probs", keys)
        counters = self.counters()
        todo = [i for i, key in enumerate(keys) if key not in found]
        fresh: dict[int, dict] = {}
        if todo:
            begin = time.perf_counter()
            probs = self.backend.next_token_probs([prompts[i] for i in todo], candidates)
            share = (time.perf_counter() - begin) / len(todo)
            fresh = dict(zip(todo, probs, strict=True))
            self.cache.put("probs", [(keys[i], fresh[i], share) for i in todo])
        out = []
        for i, key in enumerate(keys):
            if key in found:
                counters.hits += 1
                counters.saved_seconds += found[key][1]
                out.append(found[key][0])
            else:
                counters.misses += 1
                out.append(fresh[i])
        return out


def _stop_of(c: Completion, params: GenerationParams) -> str | None:
    """The stop string that ended `c` (the first of `params.stop`: the stored text no longer
    shows which one matched), None when it ended otherwise."""
    return params.stop[0] if c.finish_reason == "stop" and params.stop else None


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted indices as (start, length)."""
    runs: list[tuple[int, int]] = []
    for k in indices:
        if runs and runs[-1][0] + runs[-1][1] == k:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((k, 1))
    return runs
