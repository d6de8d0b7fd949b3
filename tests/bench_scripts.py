"""Load a script under `benchmarks/` as a module, for the tests of benchmark tools."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(relative: str):
    """The module of `benchmarks/<relative>`; its folder goes on `sys.path` first, as when
    the script runs, so its sibling imports resolve. Registered in `sys.modules` (dataclasses
    look their module up); a script already imported is returned as it is."""
    path = BENCHMARKS / relative
    loaded = sys.modules.get(path.stem)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded  # one module object per script, however it was first imported
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)  # no half-loaded module for the next caller
        raise
    return module
