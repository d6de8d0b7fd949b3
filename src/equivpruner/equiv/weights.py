"""The shipped detectors, inside the package and pinned by sha256.

- `assets/detector-features/`: the features detector (`model.txt`, LightGBM text format,
  and `features.json`); the cascade's default final stage. `default_features_model()`.
- `assets/detector/`: the cross-encoder LoRA adapter on the pip-shipped MiniLM
  (`adapter_model.safetensors`, `adapter_config.json`, `training.json`).
  `default_checkpoint()`.

Each returns the verified asset dir, or None when that asset is not shipped. A file that is
present but hashes to something else raises `WeightsError` and is never loaded. To ship a
newly trained model: `install_features(dir)` / `install_adapter(dir)`, then paste the digest
it returns into `DEFAULT_FEATURES_SHA256` / `DEFAULT_ADAPTER_SHA256`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..llm.registry import sha256_file

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ASSET_DIR = ASSETS / "detector"
FEATURES_DIR = ASSETS / "detector-features"
ADAPTER_FILE = "adapter_model.safetensors"
SHIPPED_FILES = ("adapter_config.json", ADAPTER_FILE, "training.json")
FEATURES_FILES = ("model.txt", "features.json")
# sha256 of the shipped adapter_model.safetensors and model.txt (None: not shipped).
DEFAULT_ADAPTER_SHA256: str | None = (
    "d4f35ae01b4c6f6f7ec843213453ea82acc8016f3d5a642f0e2244020e9cf263"
)
DEFAULT_FEATURES_SHA256: str | None = (
    "79af696ba2add65a4eabafbe86e9896118c0baa83e35a0f246f91f5f5532df1f"
)


class WeightsError(RuntimeError):
    """The shipped detector weights are present but fail their integrity check."""


def verified_asset(
    asset_dir: Path, pinned_name: str, files: tuple[str, ...], expected: str | None
) -> Path | None:
    """`asset_dir` if its `pinned_name` file hashes to `expected` and all `files` exist; None
    if the pinned file is absent; raises `WeightsError` otherwise."""
    pinned = Path(asset_dir) / pinned_name
    if not pinned.is_file():
        return None
    if expected is None:
        raise WeightsError(
            f"{pinned} is present but no sha256 is pinned for it (equivpruner/equiv/weights.py); "
            "refusing to load unverified weights"
        )
    actual = sha256_file(pinned)
    if actual != expected:
        raise WeightsError(
            f"{pinned} is corrupt or was replaced (sha256 {actual[:12]}…, expected "
            f"{expected[:12]}…); reinstall equivpruner (pip install --force-reinstall "
            "equivpruner) and do not edit files under equivpruner/assets/"
        )
    missing = [f for f in files if not (Path(asset_dir) / f).is_file()]
    if missing:
        raise WeightsError(f"the shipped detector in {asset_dir} lacks {', '.join(missing)}")
    return Path(asset_dir)


def default_checkpoint(asset_dir: Path = ASSET_DIR, sha256: str | None = ...) -> Path | None:
    """The verified shipped cross-encoder adapter dir, or None if none is shipped."""
    expected = DEFAULT_ADAPTER_SHA256 if sha256 is ... else sha256
    return verified_asset(asset_dir, ADAPTER_FILE, SHIPPED_FILES, expected)


def default_features_model(asset_dir: Path = FEATURES_DIR, sha256: str | None = ...) -> Path | None:
    """The verified shipped features model dir, or None if none is shipped."""
    expected = DEFAULT_FEATURES_SHA256 if sha256 is ... else sha256
    return verified_asset(asset_dir, FEATURES_FILES[0], FEATURES_FILES, expected)


def _install(trained_dir: str | Path, asset_dir: Path, files: tuple[str, ...], pinned: str) -> str:
    trained_dir = Path(trained_dir)
    missing = [f for f in files if not (trained_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{trained_dir} lacks {', '.join(missing)}: not a trained detector")
    Path(asset_dir).mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copyfile(trained_dir / name, Path(asset_dir) / name)
    return sha256_file(Path(asset_dir) / pinned)


def install_adapter(trained_dir: str | Path, asset_dir: Path = ASSET_DIR) -> str:
    """Copy a trained adapter's files into the package assets; returns the sha256 to pin."""
    return _install(trained_dir, asset_dir, SHIPPED_FILES, ADAPTER_FILE)


def install_features(trained_dir: str | Path, asset_dir: Path = FEATURES_DIR) -> str:
    """Copy a trained features model into the package assets; returns the sha256 to pin."""
    return _install(trained_dir, asset_dir, FEATURES_FILES, FEATURES_FILES[0])
