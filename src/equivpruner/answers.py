"""Final-answer extraction and checking with math-verify (GSM8K numbers and MATH LaTeX).

The verdict never depends on a clock: an answer asking for more work than `answer_budget`
allows is compared as text, and math-verify runs with its time limits off, so the same pair
gets the same verdict on any machine, under any load, in any thread.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence

from .answer_budget import over_budget

_LATEX = re.compile(r"[\\^_{}()\[\]]")  # marks of LaTeX: math-verify reads such a text as one


class _NoClockNotice(logging.Filter):
    """Drop math-verify's notice that its time limit is off: the limits here are counted."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_NoClockNotice())


def extract_boxed(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced."""
    for marker in ("\\boxed", "\\fbox"):
        start = text.rfind(marker + "{")
        if start == -1:
            continue
        i = start + len(marker) + 1
        depth, body = 1, []
        while i < len(text) and depth:
            ch = text[i]
            depth += (ch == "{") - (ch == "}")
            if depth:
                body.append(ch)
            i += 1
        if depth == 0:
            return "".join(body).strip()
    return None


def has_boxed_answer(text: str) -> bool:
    return extract_boxed(text) is not None


def _parse(text: str) -> list:
    """math-verify's reading of `text`; empty when it asks for more work than the budget."""
    from math_verify import parse

    if over_budget(text):
        return []
    if _LATEX.search(text) and "**" not in text and not text.lstrip().startswith("$"):
        text = f"${text}$"  # `2^{10}`, `x^{3}`, `(1, 2)` are LaTeX; `18 dollars` is not
    return parse(text, parsing_timeout=None)


def normalize_gold(answer: str) -> str:
    """GSM8K's `#### 1,234` and plain numbers with commas become a bare answer string."""
    answer = answer.split("####")[-1].strip()
    return answer.replace(",", "") if answer.replace(",", "").lstrip("-").isdigit() else answer


def answers_match(predicted: str | None, gold: str) -> bool:
    """True when the predicted final answer equals the gold one mathematically."""
    if predicted is None or not predicted.strip():
        return False
    from math_verify import verify

    try:
        gold_parsed = _parse(normalize_gold(gold))
        pred_parsed = _parse(predicted)
        if not gold_parsed or not pred_parsed:
            return predicted.strip() == gold.strip()
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
    except Exception:  # math-verify can raise on exotic input; treat as no match
        return False


def canonical_answer(predicted: str | None) -> str | None:
    """A canonical string for voting: equal answers map to the same key where possible."""
    if predicted is None:
        return None
    try:
        parsed = _parse(predicted)
    except Exception:
        parsed = []
    if parsed:
        return str(parsed[0])
    return " ".join(predicted.split()) or None


def majority_vote(
    answers: Sequence[str | None], weights: Sequence[float] | None = None
) -> str | None:
    """The answer with the largest (weighted) vote; ties go to the earliest. None if none."""
    weights = weights if weights is not None else [1.0] * len(answers)
    tally: Counter[str] = Counter()
    first: dict[str, str] = {}
    for ans, w in zip(answers, weights, strict=True):
        key = canonical_answer(ans)
        if key is None:
            continue
        tally[key] += w
        first.setdefault(key, ans)
    if not tally:
        return None
    best = max(tally.values())
    winner = next(k for k in first if tally[k] == best)
    return first[winner]
