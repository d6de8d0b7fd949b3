"""Inputs every command checks before it opens an output or loads anything: model specs,
the hub, question files, and the files and folders it will write."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..llm.base import BackendError
from ..steps import check_question

_TRUE = {"1", "on", "yes", "true"}
HUB_TIMEOUT_S = 3.0


def check_model(spec: str, what: str = "--model"):
    """Resolve `spec` without loading or downloading; a hub id must be cached or reachable."""
    from ..llm.registry import resolve_model

    ref = resolve_model(spec, fetch=False)
    if ref.repo_id and not ref.path:
        problem = hub_problem(ref.repo_id, ref.filename)
        if problem:
            raise BackendError(f"{what} {spec}: {problem}")
    return ref


def backend_options(ref, threads: int | None, n_ctx: int | None) -> dict:
    """Constructor options for the backend `ref` names (threads and context size)."""
    if threads is None and n_ctx is None:
        return {}
    if ref.kind == "gguf":
        opts = {"n_threads": threads, "n_ctx": n_ctx}
        return {k: v for k, v in opts.items() if v is not None}
    if ref.kind == "vllm" and threads is None:
        return {"max_model_len": n_ctx}
    flag = "--threads" if threads is not None else "--n-ctx"
    raise ValueError(
        f"{flag} applies to llama.cpp (GGUF) models{' and vLLM' if flag == '--n-ctx' else ''}; "
        f"a {ref.kind} model sets it where it runs"
    )


def server_options(ref, tokenizer: str | None, timeout: float | None) -> dict:
    """`--tokenizer` and `--timeout` for an `openai:` model (refused for any other)."""
    opts = {"tokenizer": tokenizer, "timeout": timeout}
    opts = {k: v for k, v in opts.items() if v is not None}
    if opts and ref.kind != "openai":
        flag = "--tokenizer" if tokenizer is not None else "--timeout"
        raise ValueError(f"{flag} applies to openai: server models; a {ref.kind} model runs here")
    return opts


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_cache() -> Path:
    """The Hugging Face hub cache, found as huggingface_hub finds it."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface"
    )
    return Path(home).expanduser() / "hub"


def in_hub_cache(repo_id: str, filename: str | None = None) -> bool:
    snapshots = hub_cache() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return False
    if filename is None:
        return any(snapshots.iterdir())
    return any((snap / filename).exists() for snap in snapshots.iterdir())


def hub_address() -> tuple[str, int]:
    """Where a hub request goes first: the HTTPS proxy if one is set, else the endpoint."""
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if os.environ.get(var):
            url = urlparse(os.environ[var] if "//" in os.environ[var] else "//" + os.environ[var])
            return url.hostname or "localhost", url.port or 80
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection(hub_address(), timeout=timeout):
            return True
    except OSError:
        return False


def hub_problem(repo_id: str, filename: str | None = None) -> str | None:
    """Why `repo_id` cannot be had now (None when it is cached or the hub answers)."""
    if in_hub_cache(repo_id, filename):
        return None
    if hub_offline():
        return (
            "not in the local Hugging Face cache and HF_HUB_OFFLINE is set; download it once "
            "online, or unset HF_HUB_OFFLINE"
        )
    if not hub_reachable():
        host, port = hub_address()
        return (
            f"not in the local Hugging Face cache and the hub ({host}:{port}) cannot be "
            "reached; check the connection (set HF_HUB_OFFLINE=1 to use cached models only)"
        )
    return None


@dataclass(frozen=True)
class Item:
    """One question of a batch: where it came from, and its reference answer if given."""

    question: str
    id: str | int
    where: str
    gold: str | None = None


def read_questions(path: str) -> list[Item]:
    """Questions from a .txt (one per line) or .jsonl file (`question` or `problem`, optional
    `answer`/`gold` and `id`); `-` reads stdin. A bad line raises `FILE:LINE: what`."""
    name = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8 text") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ValueError(f"{name}: holds no questions")
    as_json = Path(path).suffix.lower() in (".jsonl", ".json", ".ndjson") or (
        Path(path).suffix.lower() != ".txt" and lines[0][1].lstrip().startswith("{")
    )
    items = []
    for n, line in lines:
        where = f"{name}:{n}"
        try:
            items.append(_json_item(line, n, where) if as_json else _text_item(line, n, where))
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    return items


def _text_item(line: str, n: int, where: str) -> Item:
    return Item(check_question(line), n, where)


def _json_item(line: str, n: int, where: str) -> Item:
    from ..answers import normalize_gold

    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    question = row.get("question", row.get("problem"))
    if not isinstance(question, str):
        raise ValueError("needs a 'question' (or 'problem') text")
    gold = row.get("answer", row.get("gold"))
    if gold is not None and not isinstance(gold, (str, int, float)):
        raise ValueError(f"the answer must be text or a number, got {type(gold).__name__}")
    item_id = row.get("id", n)
    if not isinstance(item_id, (str, int)):
        raise ValueError(f"the id must be text or a number, got {type(item_id).__name__}")
    gold = None if gold is None else normalize_gold(str(gold))
    return Item(check_question(question), item_id, where, gold)


# --- outputs: checked up front, so a bad path never costs a run or empties a file ---------

_WHY = {
    errno.EACCES: "permission denied", errno.EPERM: "permission denied",
    errno.ENOTDIR: "not a directory", errno.EISDIR: "is a directory",
    errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device",
    errno.ENOENT: "no such file or folder", errno.EEXIST: "already exists",
}  # fmt: skip


def why(err: OSError) -> str:
    """An OS error in a few words (no errno, no repeated file name)."""
    return _WHY.get(err.errno, (err.strerror or type(err).__name__).lower())


def _nearest_existing(path: Path) -> Path:
    """`path`'s nearest ancestor that exists (a file or a folder)."""
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _probe(folder: Path) -> str | None:
    """Why no file can be created in `folder` (None: one was created and removed)."""
    if not folder.is_dir():
        return f"{folder} is not a directory"
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".equivpruner-probe-")
    except OSError as err:
        return f"cannot write in {folder} ({why(err)})"
    os.close(fd)
    os.unlink(name)
    return None


def output_problem(path: Path, folder: bool = False) -> str | None:
    """Why `path` cannot be written (None when it can): a file that can be replaced or
    created, or with `folder` a directory that can hold files. Nothing is emptied."""
    path = Path(path)
    if os.path.lexists(path):
        if folder:
            return _probe(path) if path.is_dir() else "is not a directory"
        if path.is_dir():
            return "is a directory"
        try:
            with open(path, "a"):  # append: opens for writing, changes nothing
                pass
        except OSError as err:
            return why(err)
        return None
    return _probe(_nearest_existing(path))


class OutputError(ValueError):
    """An output path that cannot be written (the message names the option and the path)."""


def check_output(path: Path | None, flag: str, folder: bool = False) -> None:
    """Raise `FLAG PATH: why` when `path` cannot be written (see `output_problem`)."""
    if path is None:
        return
    problem = output_problem(path, folder)
    if problem:
        raise OutputError(f"{flag} {path}: {problem}")


def write_error(err: OSError, path: Path, flag: str) -> str:
    """The one line for a failed write to `path` (`[Errno 28]` becomes the file and why)."""
    return f"{flag} {path}: {why(err)}"


def check_bench_outputs(cfg) -> None:
    """The bench's output folder and its generation cache (the file and the folder sqlite
    writes its journal in), checked before any problem or model loads."""
    from ..bench.runner import cache_path

    check_output(Path(cfg.out), "--out", folder=True)
    cache = cache_path(cfg)
    if cache is None:
        return
    try:
        check_output(cache, "--cache")
        if cache.parent.is_dir():
            check_output(cache.parent, "--cache", folder=True)
    except OutputError as err:
        raise OutputError(f"{err} (or run with --no-cache)") from None
