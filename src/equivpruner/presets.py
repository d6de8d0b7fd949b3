"""Named search settings that a benchmark confirmed, so a user need not spell out a dozen
options: `equivpruner solve --preset NAME`, or `solve(question, **preset(NAME).solve_args())`.

A preset fixes the search, the pruner, the value and the search settings the benchmark ran
with. On the command line, options given beside `--preset` win over it; in Python, edit the
dict `solve_args()` returns, or lay the preset over a config of your own
(`search_config(base, keep=...)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .search.base import SearchConfig


@dataclass(frozen=True)
class Preset:
    """A search, a pruner, a value spec and the `SearchConfig` fields they run with."""

    name: str
    summary: str
    search: str
    pruner: str
    value: str
    settings: Mapping[str, object] = field(default_factory=dict)

    def search_config(
        self, base: SearchConfig | None = None, keep: Iterable[str] = ()
    ) -> SearchConfig:
        """`base` (default settings without one) with this preset's settings, except the
        fields named in `keep`."""
        kept = set(keep)
        own = {k: v for k, v in self.settings.items() if k not in kept}
        return replace(base or SearchConfig(), algorithm=self.search, **own)

    def solve_args(self) -> dict:
        """Keyword arguments of `equivpruner.api.solve`."""
        return {
            "search": self.search, "pruner": self.pruner, "value": self.value,
            "config": self.search_config(),
        }  # fmt: skip


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="gated-confidence",
            summary=(
                "MCTS at width 4 that draws a second sibling only where the branch gate expects "
                "a new group, stops on the strict cascade, commits to a lone group, redraws "
                "false arithmetic and values steps by the policy's own confidence: the "
                "`conf-w4` arm of benchmarks/RESULTS.md §22, vanilla MCTS's accuracy or better "
                "at under half its tokens on a set fixed in advance. Its branch gate was fitted "
                "on the embedded Qwen model's trees."
            ),
            search="mcts",
            pruner="cascade",
            value="confidence",
            settings={
                "width": 4, "simulations": 3, "width_rule": "new-group", "min_width": 2,
                "stop_detector": "cascade-strict",
                "branch_gate": "embedded-qwen",
                "prior_rule": "confidence", "single_group_commit": True,
                "arithmetic_check": True,
            },  # fmt: skip
        ),
    )
}


def preset(name: str) -> Preset:
    """The preset called `name`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"no preset {name!r}; known: {', '.join(PRESETS)}") from None
