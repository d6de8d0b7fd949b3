"""The benchmark's settings: one dataclass, loadable from YAML, checked before a resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from ..api import DEFAULT_MODEL
from ..search import SearchConfig
from ..steps import StepProtocol

# Settings that never change what a problem's result is (a resume may change them).
RUN_ONLY = ("concurrency", "ray_address", "out", "cache", "block")

# What an arm may set besides its name and its pruner (the SearchConfig fields it overrides).
ARM_SETTINGS = (
    "search",
    "width",
    "simulations",
    "n_samples",
    "width_rule",
    "min_width",
    "wave_size",
    "unseen_mass",
    "single_group_commit",
    "adaptive_stop",
    "stop_confidence",
    "keep",
    "prune_order",
    "stop_detector",
    "branch_gate",
    "gate_threshold",
    "prior_rule",
    "answer_rule",
    "vote_weights",
)


class BenchError(ValueError):
    """Bad benchmark input or an output dir that cannot be resumed (the message says why)."""


def _datasets(value, split: str = "test", limit: int | None = None) -> list[dict]:
    """Normalise "gsm8k,svamp", a list of names, or a list of dicts into dataset dicts."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    out = []
    for item in value or []:
        spec = {"name": item} if isinstance(item, str) else dict(item)
        if "name" not in spec:
            raise BenchError(f"a dataset entry has no name: {item!r}")
        unknown = set(spec) - {"name", "split", "limit"}
        if unknown:
            raise BenchError(f"dataset {spec['name']!r}: unknown keys {sorted(unknown)}")
        spec.setdefault("split", split)
        spec.setdefault("limit", limit)
        out.append({"name": str(spec["name"]), "split": str(spec["split"]), "limit": spec["limit"]})
    if not out:
        raise BenchError("no dataset given")
    return out


def _arms(value) -> list[dict]:
    """Normalise arm entries: a name (a pruner, the run's search) or a dict with `name`,
    an optional `pruner` (default: the name) and search overrides (`ARM_SETTINGS`)."""
    out = []
    for item in value or []:
        arm = {"name": item} if isinstance(item, str) else dict(item)
        if not arm.get("name"):
            raise BenchError(f"an arm entry has no name: {item!r}")
        unknown = set(arm) - {"name", "pruner", *ARM_SETTINGS}
        if unknown:
            raise BenchError(
                f"arm {arm['name']!r}: unknown keys {sorted(unknown)}; "
                f"valid ones: name, pruner, {', '.join(ARM_SETTINGS)}"
            )
        arm["name"] = str(arm["name"])
        arm.setdefault("pruner", arm["name"])
        out.append(arm)
    return out


def _names(value) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    names = [str(v).strip() for v in value or [] if str(v).strip()]
    if not names:
        raise BenchError("no pruner arms given (e.g. --pruners none,exact)")
    if len(set(names)) != len(names):
        raise BenchError(f"an arm is listed twice: {names}")
    return names


@dataclass
class BenchConfig:
    """Every arm runs on the same problems with the same state-keyed seeds.

    `pruners` names arms that differ only by the pruner; `arms` (a list of names or dicts
    with `name`, `pruner` and search overrides such as `width_rule` or `search: bon`) gives
    arms that differ in more. `cache`: the generation cache all arms share ("auto": the user
    cache dir, a path, or None for none). `interleave` orders problems round-robin across
    datasets, so a partial run covers every dataset; `block` runs B problems arm-major at
    a time (B = workers), so later arms find the first arm's states in the cache.
    """

    datasets: list[dict] = field(
        default_factory=lambda: [{"name": "gsm8k", "split": "test", "limit": 30}]
    )
    search: str = "mcts"
    width: int = 5
    simulations: int = 3
    beam_width: int = 2
    n_samples: int = 8
    value: str = "selfeval"
    pruners: list[str] = field(default_factory=lambda: ["none", "exact"])
    seed: int = 0
    model: str = DEFAULT_MODEL
    max_depth: int = 12
    max_step_tokens: int = 256
    temperature: float = 0.7
    concurrency: int = 1
    ray_address: str | None = None
    out: str | None = None
    arms: list[dict] | None = None
    interleave: bool = False
    block: int = 1
    cache: str | None = "auto"

    def __post_init__(self) -> None:
        self.datasets = _datasets(self.datasets)
        if self.arms:
            self.arms = _arms(self.arms)
            self.pruners = [a["name"] for a in self.arms]
        self.pruners = _names(self.pruners)
        if not self.arms:
            self.arms = _arms(self.pruners)
        for arm in self.arms:  # fail now, not in the middle of the run
            self.search_config(self.seed, arm["name"])
        if self.block < 1:
            raise BenchError(f"block must be >= 1, got {self.block}")
        if self.concurrency < 1:
            raise BenchError(f"concurrency must be >= 1, got {self.concurrency}")

    @classmethod
    def from_dict(cls, data: dict) -> BenchConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise BenchError(
                f"unknown bench settings {sorted(unknown)}; valid ones: {', '.join(sorted(known))}"
            )
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> BenchConfig:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise BenchError(f"cannot read bench config {path}: {err}") from err
        if not isinstance(data, dict):
            raise BenchError(f"{path}: expected a mapping of settings")
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return asdict(self)

    def result_settings(self) -> dict:
        """The settings that decide results; a resume must match them exactly."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY}

    def differences(self, other: BenchConfig) -> list[str]:
        """Settings that would mix incomparable results in one output dir. Arms and problems
        may be added (records are keyed by arm and problem id); an arm kept under the same
        name must keep its definition."""
        grows = ("arms", "pruners", "datasets", "interleave")
        mine, theirs = self.result_settings(), other.result_settings()
        out = [
            f"{k}: {theirs[k]!r} -> {mine[k]!r}"
            for k in mine
            if k not in grows and mine[k] != theirs.get(k)
        ]
        old_arms = {a["name"]: a for a in other.arms or []}
        for arm in self.arms or []:
            if arm["name"] in old_arms and old_arms[arm["name"]] != arm:
                out.append(f"arm {arm['name']}: {old_arms[arm['name']]!r} -> {arm!r}")
        return out

    def arm(self, name: str) -> dict:
        for arm in self.arms or []:
            if arm["name"] == name:
                return arm
        raise BenchError(f"no arm named {name!r}")

    def arm_search(self, name: str) -> str:
        return str(self.arm(name).get("search", self.search))

    def search_config(self, seed: int, arm: str | None = None) -> SearchConfig:
        """The search settings of `arm` (the run's own without one)."""
        overrides = {k: v for k, v in (self.arm(arm) if arm else {}).items() if k in ARM_SETTINGS}
        search = overrides.pop("search", self.search)
        base = dict(
            algorithm=search,
            width=self.width,
            simulations=self.simulations,
            beam_width=self.beam_width,
            n_samples=self.n_samples,
            temperature=self.temperature,
            seed=seed,
        )
        try:
            return SearchConfig(**{**base, **overrides})
        except (TypeError, ValueError) as err:
            raise BenchError(f"arm {arm!r}: {err}") from err

    def protocol(self) -> StepProtocol:
        return StepProtocol(max_depth=self.max_depth, max_step_tokens=self.max_step_tokens)


def problem_seed(base: int, index: int) -> int:
    """The seed of the `index`-th problem; every arm uses the same one."""
    return (base * 1_000_003 + index) % (2**31)
