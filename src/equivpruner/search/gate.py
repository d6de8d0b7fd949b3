"""Confidence-gated branching: after the first sample of an expansion, decide whether a second
is worth drawing at all.

The gate is a fitted logistic model of P(the next sample opens a new group | the first
sample's confidence, the depth, the kind of step), read from a JSON file
(`benchmarks/fit_branch_gate.py` fits it on logged trees of train problems). An expansion
stays at one sample when that probability is below the threshold (the file's, or
`SearchConfig.gate_threshold`). A first sample without confidence (a backend that gives no
log-probs), or an empty first wave, never closes the gate: the expansion goes on as the width
rule says. The gate never draws: it only stops, so an expansion takes between 1 and W samples.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

GATE_FORMAT = "equivpruner.branch-gate/1"
GATE = "gate"  # the expansion's stop reason when the gate kept it to one sample
KINDS = ("answer", "equation", "prose")
FEATURES = ("mean_logprob", "min_logprob", "entropy", "depth", "kind=answer", "kind=equation")

_EQUATION = re.compile(r"=|\d\s*[-+*/×÷]\s*\d")
_BOXED = re.compile(r"\\boxed\s*\{")


def step_kind(text: str, terminal: bool = False) -> str:
    """The kind of a step: "answer" (a final step), "equation" (one that computes), else
    "prose"."""
    if terminal or _BOXED.search(text):
        return "answer"
    return "equation" if _EQUATION.search(text) else "prose"


def sample_features(confidence: Mapping, depth: int, kind: str) -> dict[str, float | None]:
    """The gate's raw features of one sample (confidence: its `mean_logprob`,
    `min_logprob` and `entropy`, any of which may be None)."""
    out: dict[str, float | None] = {
        name: confidence.get(name) for name in ("mean_logprob", "min_logprob", "entropy")
    }
    out["depth"] = float(depth)
    for k in KINDS[:-1]:
        out[f"kind={k}"] = float(kind == k)
    return out


@dataclass
class BranchGate:
    """A logistic model over standardised features, with its threshold."""

    features: list[str]
    weights: list[float]  # bias first, then one per feature
    means: list[float]
    scales: list[float]
    threshold: float
    fitted_on: dict = field(default_factory=dict)

    def probability(self, raw: Mapping[str, float | None]) -> float | None:
        """P(next sample opens a new group), or None when a feature is missing."""
        values = [raw.get(name) for name in self.features]
        if any(v is None or not math.isfinite(v) for v in values):
            return None
        z = self.weights[0]
        for w, v, m, s in zip(self.weights[1:], values, self.means, self.scales, strict=True):
            z += w * (v - m) / s
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def closes(self, raw: Mapping[str, float | None], threshold: float | None = None) -> bool:
        """True: stay at one sample (P(new group) below the threshold)."""
        p = self.probability(raw)
        limit = self.threshold if threshold is None else threshold
        return p is not None and p < limit

    def to_dict(self) -> dict:
        return {"format": GATE_FORMAT, **asdict(self)}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping) -> BranchGate:
        if data.get("format") != GATE_FORMAT:
            raise ValueError(f"not a branch gate (format {data.get('format')!r})")
        gate = cls(**{k: v for k, v in data.items() if k != "format"})
        n = len(gate.features)
        if len(gate.weights) != n + 1 or len(gate.means) != n or len(gate.scales) != n:
            raise ValueError("a branch gate needs one weight, mean and scale per feature")
        unknown = set(gate.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown gate features {sorted(unknown)}; known: {FEATURES}")
        return gate


_LOADED: dict[str, BranchGate] = {}
_LOCK = threading.Lock()
# the gates shipped in the package, each fitted for one policy, pinned by sha256
SHIPPED_SHA256 = {
    "embedded-qwen": "02cbd5cf11e16b88e578894580d52f477de4f4e81985fa7d3133019850ecd562",
}


def shipped_gates() -> list[str]:
    """The names a shipped gate goes by (`--branch-gate NAME`)."""
    return sorted(SHIPPED_SHA256)


def gate_path(spec: str | Path) -> Path:
    """A gate file: `spec` itself, or where it is not a file, the shipped gate of that name
    (checked against its pinned sha256, once per process)."""
    path = Path(spec)
    if path.is_file() or str(spec) not in SHIPPED_SHA256:
        return path
    return _verified_shipped(str(spec), SHIPPED_SHA256[str(spec)])


@functools.cache
def _verified_shipped(name: str, sha256: str) -> Path:
    from ..equiv.weights import ASSETS, WeightsError, verified_asset

    try:
        folder = verified_asset(ASSETS / "branch-gate", f"{name}.json", (), sha256)
    except WeightsError as err:
        folder, why = None, str(err)
    else:
        why = "it is not installed"
    if folder is None:
        raise ValueError(f"the shipped branch gate {name} is missing or was changed ({why}); "
                         "reinstall equivpruner")  # fmt: skip
    return folder / f"{name}.json"


def load_gate(spec: str | Path) -> BranchGate:
    """A gate file (or a shipped gate by name), read once per process."""
    path = gate_path(spec)
    key = str(path.resolve())
    with _LOCK:
        if key not in _LOADED:
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise ValueError(
                    f"cannot read branch gate {spec}: {err} (shipped gates: "
                    f"{', '.join(shipped_gates())})"
                ) from err
            _LOADED[key] = BranchGate.from_dict(data)
        return _LOADED[key]


def fit_gate(
    rows: Sequence[Mapping[str, float | None]],
    labels: Sequence[int],
    features: Sequence[str] = FEATURES,
    threshold: float = 0.5,
    l2: float = 1.0,
    iterations: int = 50,
) -> BranchGate:
    """Logistic regression (Newton's method, L2 penalty `l2` on the weights but not the
    bias) of `labels` (1: the next sample opened a new group) on `features` of `rows`;
    rows missing a feature are skipped."""
    import numpy as np

    kept = [
        (r, y) for r, y in zip(rows, labels, strict=True)
        if all(r.get(f) is not None and math.isfinite(r[f]) for f in features)
    ]  # fmt: skip
    if len(kept) < 2 or len({y for _, y in kept}) < 2:
        raise ValueError("fitting a gate needs rows of both labels with every feature")
    x = np.array([[float(r[f]) for f in features] for r, _ in kept])
    y = np.array([float(v) for _, v in kept])
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    design = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    penalty = np.eye(design.shape[1]) * l2
    penalty[0, 0] = 0.0
    w = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -60, 60)))
        grad = design.T @ (p - y) + penalty @ w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return BranchGate(
        features=list(features),
        weights=[float(v) for v in w],
        means=[float(v) for v in means],
        scales=[float(v) for v in scales],
        threshold=float(threshold),
        fitted_on={"rows": len(kept), "positives": int(y.sum())},
    )
