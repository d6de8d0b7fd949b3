"""Shared test setup: offline hub, the shared data folder, and strict skips in CI.

Under `CI=true` (or with `--strict-deps`) a skipped test is an error: every skip in this suite
stands for a missing dependency, model, browser or data file, and a half-failed install must
not leave CI green. A skip whose reason starts with `optional:` (hardware or an extra that CI
does not install, e.g. a GPU) stays a skip. Outside CI skips stay skips; `-ra` prints why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
OPTIONAL = "optional:"


def pytest_addoption(parser):
    parser.addoption(
        "--strict-deps",
        action="store_true",
        help="a skip for a missing dependency, model, browser or data file is an error "
        "(the default under CI=true)",
    )


def strict_deps(config) -> bool:
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or bool(config.getoption("--strict-deps"))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _as_error(report, config) -> None:
    """Turn a skip report into a failure under strict deps (optional: skips excepted)."""
    if not report.skipped or hasattr(report, "wasxfail") or not strict_deps(config):
        return
    reason = _skip_reason(report)
    if reason.startswith(OPTIONAL):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true / --strict-deps, which makes it an error: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _as_error(report, item.config)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield  # a module-level skip (pytest.skip(allow_module_level=True), importorskip)
    _as_error(report, collector.config)
    return report


@pytest.fixture(autouse=True)
def _private_generation_cache(tmp_path, monkeypatch):
    """Benches in tests share a per-test generation cache, never the user's."""
    monkeypatch.setenv("EQUIVPRUNER_GENERATION_CACHE", str(tmp_path / "generations.sqlite"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED
