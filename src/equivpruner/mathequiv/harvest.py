"""Pairs to label: sibling steps sampled from a policy, and controlled pairs mined from
reference solutions.

`harvest_siblings` expands training problems with the policy (no pruning, constant value),
follows one sampled child per level, and records every pair of distinct siblings with its
context. `mine_reference_pairs` rewrites the steps of GSM8K / MATH reference solutions into
paraphrases (level 4) and near-miss edits (level 0/1) — see `reference_variants`.
Test splits are refused: evaluation problems must never feed a detector's training data.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence

from ..data.problems import Problem
from ..equiv.base import Context, Verdict
from ..llm.base import PolicyBackend
from ..search.base import SearchConfig, SearchEnv
from ..search.expand import Expander
from ..steps import StepProtocol
from ..value.base import ConstantValue
from .pairs import PairRecord, cap_per_problem, dedup_pairs, sibling_pairs
from .templates import gsm8k_lines, gsm8k_variants, math_sentences, math_variants

REFERENCE = "reference-template"
DEFAULT_DEPTHS = (0, 1, 2, 3)


class HeldOutSplitError(ValueError):
    """Refused: pairs may only be harvested from training splits."""


def check_split(split: str) -> str:
    """Refuse split names that contain "test" (evaluation data must stay unseen)."""
    if "test" in split.lower():
        raise HeldOutSplitError(
            f"refusing to harvest pairs from the {split!r} split: it is used for evaluation. "
            "Harvest from a training split (e.g. --split train)."
        )
    return split


class _KeepAll:
    """A detector that never merges, so every distinct sibling survives the expansion."""

    name = "none"

    def compare(self, steps, pairs, context: Context) -> list[Verdict]:
        return [Verdict(i, j, False, 0.0, self.name) for i, j in pairs]


def problem_key(problem: Problem, split: str) -> str:
    """Problem ids carry the split, so train and test problems with the same index differ."""
    return f"{split}:{problem.id}"


def _sibling_pairs(
    problem: Problem, split: str, prefix: list[str], texts: Sequence[str], model: str
) -> list[PairRecord]:
    return sibling_pairs(
        problem.question, prefix, texts, "policy-siblings", source=problem.source,
        model=model, problem_id=problem_key(problem, split), split=split,
    )  # fmt: skip


def harvest_problem(
    problem: Problem,
    backend: PolicyBackend,
    width: int = 8,
    depths: Sequence[int] = DEFAULT_DEPTHS,
    temperature: float = 0.8,
    seed: int = 0,
    split: str = "train",
    protocol: StepProtocol | None = None,
) -> list[PairRecord]:
    """Sibling pairs of one problem: expand, record pairs at the wanted depths, descend into
    one random non-terminal child, until the deepest wanted depth or a dead end. Depths that
    are not recorded draw a single sample to descend through (W samples there would be paid
    for and thrown away)."""
    config = SearchConfig(width=width, temperature=temperature, seed=seed)
    env = SearchEnv(
        problem.question,
        backend,
        _KeepAll(),
        ConstantValue(),
        config=config,
        protocol=protocol or StepProtocol(),
    )
    expander, rng = Expander(env), random.Random(seed)
    node, rows = env.tree.root, []
    model = getattr(backend, "name", "?")
    for depth in range(max(depths) + 1):
        recorded = depth in depths
        children = expander.expand(node, n=None if recorded else 1)
        if recorded:
            prefix = env.tree.steps_to(node)
            rows += _sibling_pairs(problem, split, prefix, [c.text for c in children], model)
        followable = [c for c in children if not c.terminal]
        if not followable:
            break
        node = rng.choice(followable)
    return rows


def iter_harvest(
    problems: Iterable[Problem],
    backend: PolicyBackend,
    width: int = 8,
    depths: Sequence[int] = DEFAULT_DEPTHS,
    per_problem_cap: int | None = 12,
    seed: int = 0,
    temperature: float = 0.8,
    split: str = "train",
    protocol: StepProtocol | None = None,
) -> Iterator[list[PairRecord]]:
    """`harvest_siblings` one problem at a time (so long runs can write as they go)."""
    check_split(split)
    if width < 2:
        raise ValueError(f"width must be ≥ 2 to get sibling pairs, got {width}")
    if not 0.0 < temperature <= 2.0:
        raise ValueError(f"temperature must be in (0, 2], got {temperature}")
    depths = sorted({int(d) for d in depths})
    if not depths or depths[0] < 0:
        raise ValueError(f"depths must be non-negative integers, got {depths}")
    for k, problem in enumerate(problems):
        rows = harvest_problem(
            problem, backend, width, depths, temperature, seed * 100_003 + k, split, protocol
        )
        yield cap_per_problem(dedup_pairs(rows), per_problem_cap, seed + k)


def harvest_siblings(
    problems: Iterable[Problem],
    backend: PolicyBackend,
    width: int = 8,
    depths: Sequence[int] = DEFAULT_DEPTHS,
    per_problem_cap: int | None = 12,
    seed: int = 0,
    temperature: float = 0.8,
    split: str = "train",
    protocol: StepProtocol | None = None,
) -> list[PairRecord]:
    """Unlabelled sibling pairs sampled by `backend` on training problems.

    Each problem is searched without pruning (width `width`, temperature `temperature`);
    at each depth in `depths` every pair of distinct siblings becomes a record; at most
    `per_problem_cap` records per problem are kept, spread over the depths.
    """
    batches = iter_harvest(
        problems, backend, width, depths, per_problem_cap, seed, temperature, split, protocol
    )
    return [row for batch in batches for row in batch]


def _reference_row(
    problem: Problem, split: str, steps: Sequence[str], i: int, variant: tuple
) -> PairRecord:
    a, b, level, kind = variant
    return PairRecord(
        question=problem.question,
        prefix=list(steps[:i]),
        step_a=a,
        step_b=b,
        depth=i,
        source=problem.source,
        model="reference",
        problem_id=problem_key(problem, split),
        level=level,
        label=int(level >= 3),
        label_source=REFERENCE,
        split=split,
        provenance={"origin": REFERENCE, "kind": kind, "levels": {REFERENCE: level}},
    )


def _is_gsm8k(problem: Problem) -> bool:
    return bool(problem.solution and "<<" in problem.solution)


def reference_variants(problem: Problem, seed: int = 0) -> tuple[list[str], list[tuple]]:
    """(clean steps, [(step index, (a, b, level, kind)), …]) for one reference solution."""
    rng = random.Random(seed)
    if _is_gsm8k(problem):
        lines = gsm8k_lines(problem.solution)
        steps = [line.clean for line in lines]
        found = [(i, v) for i in range(len(lines)) for v in gsm8k_variants(lines, i, rng)]
    else:
        steps = math_sentences(problem.solution or "")
        found = [(i, v) for i in range(len(steps)) for v in math_variants(steps, i, rng)]
    return steps, found


def mine_reference_pairs(
    problems: Iterable[Problem],
    seed: int = 0,
    per_problem_cap: int | None = 40,
    split: str = "train",
) -> list[PairRecord]:
    """Controlled pairs from reference solutions (GSM8K `<<a*b=c>>` lines, MATH sentences).

    Positives (level 4): commuted operands, symbolic / verbal / LaTeX renderings of the same
    computation, added or dropped filler words. Hard negatives: a changed operand or result,
    a different operation, another step of the same solution (level 0), the next step
    instead of this one (level 1). Capped per problem, spread over the kinds of pair.
    """
    check_split(split)
    out = []
    for k, problem in enumerate(problems):
        steps, found = reference_variants(problem, seed * 100_003 + k)
        rows = [_reference_row(problem, split, steps, i, v) for i, v in found]
        rows = dedup_pairs(r for r in rows if _differs(r.step_a, r.step_b))
        out += cap_per_problem(rows, per_problem_cap, seed + k, lambda r: r.provenance["kind"])
    return out


def _differs(a: str, b: str) -> bool:
    return re.sub(r"\s+", " ", a).strip() != re.sub(r"\s+", " ", b).strip()
