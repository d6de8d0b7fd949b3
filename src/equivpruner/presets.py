"""Named search settings that a benchmark confirmed, so a user need not spell out a dozen
options: `equivpruner solve --preset NAME`, or `solve(question, **preset(NAME).solve_args())`.

A preset fixes the search, the pruner, the value, the search settings and the step limits
the benchmark ran with. On the command line, options given beside `--preset` win over it; in
Python, `solve_args(base, keep)` lays it over a `SearchConfig` of your own, keeping the
fields named in `keep`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType

from .search.base import SearchConfig
from .steps import StepProtocol

_FIELDS = frozenset(f.name for f in fields(SearchConfig)) - {"algorithm"}


@dataclass(frozen=True)
class Preset:
    """A search, a pruner, a value spec, the `SearchConfig` fields and the `StepProtocol`
    limits they run with."""

    name: str
    search: str
    pruner: str
    value: str
    settings: Mapping[str, object]
    limits: Mapping[str, int]  # StepProtocol fields: max_depth, max_step_tokens

    def __post_init__(self) -> None:
        unknown = set(self.settings) - _FIELDS
        if unknown:
            raise ValueError(f"preset {self.name!r}: no SearchConfig fields {sorted(unknown)}")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))

    def search_config(
        self, base: SearchConfig | None = None, keep: Iterable[str] = ()
    ) -> SearchConfig:
        """`base` (default settings without one) with this preset's search and settings,
        except the fields named in `keep`."""
        kept = set(keep)
        if kept - _FIELDS:
            raise ValueError(f"not SearchConfig fields: {sorted(kept - _FIELDS)}")
        own = {k: v for k, v in self.settings.items() if k not in kept}
        return replace(base or SearchConfig(), algorithm=self.search, **own)

    def protocol(self, base: StepProtocol | None = None) -> StepProtocol:
        """`base` (the default protocol without one) with this preset's step limits."""
        return replace(base or StepProtocol(), **self.limits)

    def solve_args(self, base: SearchConfig | None = None, keep: Iterable[str] = ()) -> dict:
        """Keyword arguments of `equivpruner.api.solve` (config: see `search_config`)."""
        return {
            "search": self.search, "pruner": self.pruner, "value": self.value,
            "config": self.search_config(base, keep), "protocol": self.protocol(),
        }  # fmt: skip


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # The `conf-w4` arm of benchmarks/RESULTS.md §22: MCTS at width 4 that draws a second
        # sibling only where the branch gate expects a new group, stops on the strict
        # cascade, commits to a lone group, redraws false arithmetic and values steps by the
        # policy's own confidence; vanilla MCTS's accuracy or better at under half its
        # tokens on a set fixed in advance. Its gate was fitted on the embedded Qwen's trees.
        Preset(
            name="gated-confidence",
            search="mcts",
            pruner="cascade",
            value="confidence",
            settings={
                "width": 4, "simulations": 3, "width_rule": "new-group", "min_width": 2,
                "stop_detector": "cascade-strict", "branch_gate": "embedded-qwen",
                "prior_rule": "confidence", "single_group_commit": True,
                "arithmetic_check": True,
            },  # fmt: skip
            limits={"max_depth": 10, "max_step_tokens": 256},
        ),
    )
}


def preset(name: str) -> Preset:
    """The preset called `name`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"no preset {name!r}; known: {', '.join(PRESETS)}") from None
