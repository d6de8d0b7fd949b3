"""LLM-as-judge detector with a MathEquiv-style five-level rubric.

`RUBRIC`, `judge_prompt` and `parse_level` are public so dataset-labelling code can reuse
them. Levels: 4 exactly equivalent, 3 likely equivalent, 2 indeterminable, 1 unlikely
equivalent, 0 not equivalent; `levels_to_label` maps {3, 4} → 1 (equivalent) by default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..llm.base import GenerationParams, Message, PolicyBackend
from .base import Context, Verdict

MAX_FIELD_CHARS = 4_000

RUBRIC = """\
You compare two candidate next steps for the same partial solution of a math problem.
Decide whether taking either step would leave the solution in the same state: the same
quantities computed with the same values, the same claims made, the same work left to do.
Wording, formatting, notation and the order of commutative operations do not matter. A step
that does more or less work than the other, computes another quantity, or reaches a
different value is not equivalent.

Rate the pair on this scale:
4 - exactly equivalent: same content and results; only wording or notation differ.
3 - likely equivalent: same intent and results; small differences in detail that do not
    change the state of the solution.
2 - indeterminable: the steps are too vague or incomplete to tell.
1 - unlikely equivalent: related, but they differ in a substantive point (a value, the
    quantity computed, how far they go).
0 - not equivalent: different computations or claims, or contradictory results.

Opening steps and plans: the plan is part of the state. Two steps that only announce that
the problem will be solved (step by step, by following some steps, or restating what is
asked) are equivalent. A step that commits to a method (writing code, a formula, naming an
unknown or a variable) or announces a specific first computation is not equivalent to one
that commits to nothing (1), nor to one that commits to another method or another first
computation (0 or 1).

Think briefly, then end your answer with one line of the form "Level: N", N in 0-4."""

_KEYWORD = re.compile(
    r"\b(?:level|score|rating|grade|verdict|answer)\b\W{0,6}(?:(?:is|of|=)\W{0,4})?"
    r"([0-4])(?![\d]|\.\d)",
    re.I,
)
_BOLD = re.compile(r"\*\*\s*([0-4])\s*\*\*")
_ALONE = re.compile(r"^\W*([0-4])\W*$")


def _cut(text: str, keep_end: bool = False) -> str:
    if len(text) <= MAX_FIELD_CHARS:
        return text
    return "…" + text[-MAX_FIELD_CHARS:] if keep_end else text[:MAX_FIELD_CHARS] + "…"


def judge_prompt(question: str, prefix: Sequence[str], a: str, b: str) -> str:
    """The user message asking for a level (rubric, problem, solution so far, both steps)."""
    so_far = _cut("\n\n".join(prefix), keep_end=True) if prefix else "(no steps yet)"
    return (
        f"{RUBRIC}\n\n## Problem\n{_cut(question)}\n\n## Solution so far\n{so_far}\n\n"
        f"## Step A\n{_cut(a)}\n\n## Step B\n{_cut(b)}\n"
    )


def parse_level(text: str | None) -> int | None:
    """The level 0-4 a judge answered, or None.

    Tries, in order: the last keyword ("Level: 3", "score 4/4", "rating is **2**"), the last
    bold digit ("**3**"), then an answer that is a lone digit.
    """
    if not text:
        return None
    for pattern in (_KEYWORD, _BOLD):
        found = pattern.findall(text)
        if found:
            return int(found[-1])
    alone = _ALONE.match(text.strip())
    return int(alone.group(1)) if alone else None


def levels_to_label(level: int | None, positive: Sequence[int] = (3, 4)) -> int | None:
    """1 (equivalent) for levels in `positive`, else 0; None stays None."""
    return None if level is None else int(level in positive)


class LLMJudgeDetector:
    """Asks a PolicyBackend for a level per pair (all pairs in one `generate` call).

    probability = level / 4; an unparsable answer gives equivalent=None, probability 0.5.
    """

    name = "llm-judge"

    def __init__(
        self,
        backend: PolicyBackend,
        max_tokens: int = 256,
        positive: Sequence[int] = (3, 4),
        include_prefix: bool = True,
    ):
        self.backend = backend
        self.max_tokens = max_tokens
        self.positive = tuple(positive)
        self.include_prefix = include_prefix

    def judge(self, pairs: Sequence[tuple[str, str]], context: Context | None = None) -> list:
        """Level (or None) for each (step A, step B)."""
        context = context or Context()
        question, prefix = context.question, context.prefix if self.include_prefix else ()
        prompts = [
            self.backend.chat_prompt([Message("user", judge_prompt(question, prefix, a, b))])
            for a, b in pairs
        ]
        if not prompts:
            return []
        params = GenerationParams(n=1, temperature=0.0, max_tokens=self.max_tokens, stop=())
        outputs = self.backend.generate(prompts, params)
        return [parse_level(out[0].text if out else None) for out in outputs]

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        levels = self.judge([(steps[i], steps[j]) for i, j in pairs], context)
        out = []
        for (i, j), level in zip(pairs, levels, strict=True):
            label = levels_to_label(level, self.positive)
            p = 0.5 if level is None else level / 4
            out.append(Verdict(i, j, None if label is None else bool(label), p, self.name))
        return out
