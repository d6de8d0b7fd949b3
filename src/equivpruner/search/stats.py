"""Accounting: tokens, calls and time per phase, the numbers the paper reports."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from ..llm.base import Completion

PHASES = ("expansion", "rollout", "value", "detector")


@dataclass
class PhaseStats:
    generated_tokens: int = 0
    prompt_tokens: int = 0
    calls: int = 0
    seconds: float = 0.0


@dataclass
class SearchStats:
    """Per-problem accounting. `generated_tokens` sums every phase that samples tokens."""

    phases: dict[str, PhaseStats] = field(default_factory=lambda: {p: PhaseStats() for p in PHASES})
    expansions: int = 0
    siblings_generated: int = 0
    siblings_kept: int = 0
    exact_duplicates: int = 0
    truncated_dropped: int = 0
    arithmetic_rejected: int = 0  # samples discarded by the arithmetic check
    detector_pairs: int = 0
    merged_by_stage: dict[str, int] = field(default_factory=dict)
    width_stops: dict[str, int] = field(default_factory=dict)  # expansions per stop reason
    single_group_commits: int = 0
    wall_seconds: float = 0.0

    def record(self, phase: str, completions: Sequence[Completion]) -> None:
        ps = self.phases[phase]
        ps.calls += 1
        for c in completions:
            ps.generated_tokens += c.tokens
            ps.prompt_tokens += c.prompt_tokens

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[phase].seconds += time.perf_counter() - start

    @property
    def generated_tokens(self) -> int:
        return sum(p.generated_tokens for p in self.phases.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(p.prompt_tokens for p in self.phases.values())

    def merges_by_stage(self) -> dict[str, int]:
        """Siblings folded into a survivor, by what decided: `identical` (byte-identical
        samples, folded under every pruner) and then the detector's stages."""
        out = {"identical": self.exact_duplicates} if self.exact_duplicates else {}
        for stage, count in self.merged_by_stage.items():
            out[stage] = out.get(stage, 0) + count
        return out

    @property
    def merges(self) -> int:
        """Every sibling folded into a survivor, identical samples included."""
        return sum(self.merges_by_stage().values())

    def to_dict(self) -> dict:
        out = asdict(self)
        out["merged_by_stage"] = self.merges_by_stage()
        out["generated_tokens"] = self.generated_tokens
        out["prompt_tokens"] = self.prompt_tokens
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SearchStats:
        data = {k: v for k, v in data.items() if k not in ("generated_tokens", "prompt_tokens")}
        by_stage = dict(data.get("merged_by_stage") or {})
        by_stage.pop("identical", None)  # to_dict adds the identical folds; they are counted apart
        data["merged_by_stage"] = by_stage
        phases = {k: PhaseStats(**v) for k, v in data.pop("phases", {}).items()}
        return cls(phases=phases, **data)
