"""The benchmark's settings: one dataclass, loadable from YAML, checked before a resume."""

from __future__ import annotations

import math
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
    "arithmetic_check",
)


class BenchError(ValueError):
    """Bad benchmark input or an output dir that cannot be resumed (the message says why)."""


# Whole-number settings and their least value (the same bounds `solve` puts on its options).
WHOLE_SETTINGS = {
    "width": 1, "simulations": 1, "beam_width": 1, "n_samples": 1, "max_depth": 1,
    "max_step_tokens": 1, "concurrency": 1, "block": 1, "min_width": 1, "wave_size": 1,
}  # fmt: skip
BOOL_SETTINGS = ("single_group_commit", "adaptive_stop", "arithmetic_check")
SEARCHES = ("mcts", "beam", "bon", "chains", "greedy", "sampled")
VALUE_NAMES = ("selfeval", "rollout", "prm", "prm-http", "constant", "learned", "confidence")


def _kind(value) -> str:
    return "text" if isinstance(value, str) else type(value).__name__


def check_whole(name: str, value, least: int | None = None) -> int:
    """`value` as a whole number ≥ `least` (BenchError naming the setting otherwise)."""
    least = WHOLE_SETTINGS.get(name) if least is None else least
    if isinstance(value, bool) or not isinstance(value, int):
        raise BenchError(f"{name} must be a whole number, got {value!r} ({_kind(value)})")
    if least is not None and value < least:
        raise BenchError(f"{name} must be ≥ {least}, got {value}")
    return value


def check_text(name: str, value, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BenchError(f"{name} must be non-empty text, got {value!r} ({_kind(value)})")
    return value


def check_temperature(value) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise BenchError(f"temperature must be a number ≥ 0, got {value!r} ({_kind(value)})")
    return float(value)


def check_value_spec(spec) -> str:
    """A value spec the registry would accept (checked without building it)."""
    check_text("value", spec)
    name, sep, arg = spec.strip().partition(":")
    arg = arg.strip()
    ok = name in VALUE_NAMES and (not sep or name not in ("selfeval", "confidence"))
    ok = ok and (bool(arg) or not sep)
    if ok and name in ("prm", "prm-http", "learned"):
        ok = bool(arg)  # these name a model, a server or a model dir
    if ok and name == "rollout" and sep:
        ok = arg.isdigit() and int(arg) >= 1
    if ok and name == "constant" and sep:
        try:
            ok = 0.0 <= float(arg) <= 1.0
        except ValueError:
            ok = False
    if not ok:
        raise BenchError(
            f"value {spec!r} is not a value spec; valid: selfeval, rollout[:K], prm:MODEL, "
            "prm-http:URL, constant[:V], learned:DIR, confidence"
        )
    return spec.strip()


def check_search(name) -> str:
    check_text("search", name)
    if name not in SEARCHES:
        raise BenchError(f"unknown search {name!r}; choose from {', '.join(SEARCHES)}")
    return name


def _datasets(value, split: str = "test", limit: int | None = None) -> list[dict]:
    """Normalise "gsm8k,svamp", a list of names, or a list of dicts into dataset dicts. A
    dict may slice its split: `start` (0-based, default 0) is the first problem and `limit`
    counts from it; `start` is kept only when it is not 0, so older configs read the same."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if value is not None and not isinstance(value, list):
        raise BenchError(f"datasets must be a list or comma-separated names, got {value!r}")
    out = []
    for item in value or []:
        if not isinstance(item, (str, dict)):
            raise BenchError(f"a dataset entry must be a name or a mapping, got {item!r}")
        spec = {"name": item} if isinstance(item, str) else dict(item)
        if "name" not in spec:
            raise BenchError(f"a dataset entry has no name: {item!r}")
        unknown = set(spec) - {"name", "split", "start", "limit"}
        if unknown:
            raise BenchError(f"dataset {spec['name']!r}: unknown keys {sorted(unknown)}")
        spec.setdefault("split", split)
        spec.setdefault("limit", limit)
        check_text("dataset name", spec["name"])
        check_text(f"dataset {spec['name']!r}: split", spec["split"])
        if spec["limit"] is not None:
            check_whole(f"dataset {spec['name']!r}: limit", spec["limit"], 1)
        start = check_whole(f"dataset {spec['name']!r}: start", spec.get("start", 0), 0)
        entry = {"name": str(spec["name"]), "split": str(spec["split"]), "limit": spec["limit"]}
        out.append({**entry, "start": start} if start else entry)  # start 0: as before
    if not out:
        raise BenchError("no dataset given")
    return out


def _arms(value) -> list[dict]:
    """Normalise arm entries: a name (a pruner, the run's search) or a dict with `name`,
    an optional `preset` (its search, pruner, value and settings, under the arm's own keys),
    an optional `pruner` (default: the name), an optional `value` spec (default: the run's)
    and search overrides (`ARM_SETTINGS`)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if value is not None and not isinstance(value, list):
        raise BenchError(f"arms must be a list or comma-separated names, got {value!r}")
    out = []
    for item in value or []:
        if not isinstance(item, (str, dict)):
            raise BenchError(f"an arm entry must be a name or a mapping, got {item!r}")
        arm = {"name": item} if isinstance(item, str) else dict(item)
        if not arm.get("name"):
            raise BenchError(f"an arm entry has no name: {item!r}")
        unknown = set(arm) - {"name", "preset", "pruner", "value", *ARM_SETTINGS}
        if unknown:
            raise BenchError(
                f"arm {arm['name']!r}: unknown keys {sorted(unknown)}; "
                f"valid ones: name, preset, pruner, value, {', '.join(ARM_SETTINGS)}"
            )
        if "preset" in arm:
            arm = {**_preset_keys(arm["name"], arm["preset"]), **arm}
        if "value" in arm:
            arm["value"] = check_value_spec(arm["value"])
        arm["name"] = str(arm["name"])
        arm.setdefault("pruner", arm["name"])
        check_text(f"arm {arm['name']!r}: pruner", arm["pruner"])
        for key in WHOLE_SETTINGS.keys() & arm.keys():
            check_whole(f"arm {arm['name']!r}: {key}", arm[key], WHOLE_SETTINGS[key])
        if "search" in arm:
            check_search(arm["search"])
        for key in sorted(arm.keys() & set(BOOL_SETTINGS)):
            if not isinstance(arm[key], bool):
                name, value = arm["name"], arm[key]
                raise BenchError(f"arm {name!r}: {key} must be true or false, got {value!r}")
        out.append(arm)
    return out


def _preset_keys(arm: str, name) -> dict:
    """The arm keys that preset `name` stands for."""
    from ..presets import preset

    try:
        chosen = preset(str(name))
    except ValueError as err:
        raise BenchError(f"arm {arm!r}: {err}") from err
    return {"search": chosen.search, "pruner": chosen.pruner, "value": chosen.value,
            **chosen.settings}  # fmt: skip


def _names(value) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if value is not None and not isinstance(value, list):
        raise BenchError(f"pruners must be a list or comma-separated names, got {value!r}")
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
        self._check_settings()
        self.datasets = _datasets(self.datasets)
        if self.arms:
            self.arms = _arms(self.arms)
            self.pruners = [a["name"] for a in self.arms]
        self.pruners = _names(self.pruners)
        if not self.arms:
            self.arms = _arms(self.pruners)
        for arm in self.arms:  # fail now, not in the middle of the run
            self.search_config(self.seed, arm["name"])

    def _check_settings(self) -> None:
        """Types and bounds of every setting, before anything runs (YAML gives any type)."""
        for name in WHOLE_SETTINGS.keys() & {f.name for f in fields(self)}:
            check_whole(name, getattr(self, name))
        check_whole("seed", self.seed)
        self.temperature = check_temperature(self.temperature)
        check_search(self.search)
        check_value_spec(self.value)
        check_text("model", self.model)
        for name in ("ray_address", "out", "cache"):
            check_text(name, getattr(self, name), optional=True)
        if not isinstance(self.interleave, bool):
            raise BenchError(f"interleave must be true or false, got {self.interleave!r}")

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
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            what = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise BenchError(f"{where}: invalid YAML ({what})") from err
        except UnicodeDecodeError as err:
            raise BenchError(f"{path}: not UTF-8 text (byte {err.start})") from err
        except OSError as err:
            why = (err.strerror or type(err).__name__).lower()
            raise BenchError(f"cannot read bench config {path}: {why}") from err
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

    def arm_value(self, name: str) -> str:
        """The value spec `name` searches with (the run's unless the arm names one)."""
        return str(self.arm(name).get("value", self.value))

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
