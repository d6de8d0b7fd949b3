"""The shipped detector: a LoRA adapter inside the package, pinned by sha256.

`default_checkpoint()` returns `equivpruner/assets/detector/` when the adapter is installed
and its `adapter_model.safetensors` hashes to `DEFAULT_ADAPTER_SHA256`; None when no adapter
is shipped. A mismatch (a corrupt or swapped file) raises `WeightsError` and is never
loaded. To ship a newly trained adapter: `install_adapter(trained_dir)`, then paste the
digest it returns into `DEFAULT_ADAPTER_SHA256`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..llm.registry import sha256_file

ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "detector"
ADAPTER_FILE = "adapter_model.safetensors"
SHIPPED_FILES = ("adapter_config.json", ADAPTER_FILE, "training.json")
# The sha256 of the shipped adapter_model.safetensors; None until an adapter is shipped.
DEFAULT_ADAPTER_SHA256: str | None = (
    "d4f35ae01b4c6f6f7ec843213453ea82acc8016f3d5a642f0e2244020e9cf263"
)


class WeightsError(RuntimeError):
    """The shipped detector weights are present but fail their integrity check."""


def default_checkpoint(asset_dir: Path = ASSET_DIR, sha256: str | None = ...) -> Path | None:
    """The verified shipped adapter dir, or None if none is shipped.

    `sha256` defaults to `DEFAULT_ADAPTER_SHA256`; `asset_dir` exists for tests.
    """
    expected = DEFAULT_ADAPTER_SHA256 if sha256 is ... else sha256
    adapter = Path(asset_dir) / ADAPTER_FILE
    if not adapter.is_file():
        return None
    if expected is None:
        raise WeightsError(
            f"{adapter} is present but no sha256 is pinned for it (DEFAULT_ADAPTER_SHA256 in "
            "equivpruner/equiv/weights.py); refusing to load unverified weights"
        )
    actual = sha256_file(adapter)
    if actual != expected:
        raise WeightsError(
            f"{adapter} is corrupt or was replaced (sha256 {actual[:12]}…, expected "
            f"{expected[:12]}…); reinstall equivpruner (pip install --force-reinstall "
            "equivpruner) and do not edit files under equivpruner/assets/"
        )
    missing = [f for f in SHIPPED_FILES if not (Path(asset_dir) / f).is_file()]
    if missing:
        raise WeightsError(f"the shipped detector in {asset_dir} lacks {', '.join(missing)}")
    return Path(asset_dir)


def install_adapter(trained_dir: str | Path, asset_dir: Path = ASSET_DIR) -> str:
    """Copy a trained adapter's files into the package assets; returns the sha256 to pin."""
    trained_dir = Path(trained_dir)
    missing = [f for f in SHIPPED_FILES if not (trained_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{trained_dir} lacks {', '.join(missing)}: not a trained adapter")
    Path(asset_dir).mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        shutil.copyfile(trained_dir / name, Path(asset_dir) / name)
    return sha256_file(Path(asset_dir) / ADAPTER_FILE)
