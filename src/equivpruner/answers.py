"""Final-answer extraction and checking with math-verify (GSM8K numbers and MATH LaTeX)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

MAX_ANSWER_CHARS = 2_000
_PARSE_TIMEOUT_S = 3


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


def _timeout() -> int | None:
    # math-verify times out with SIGALRM, which only the main thread may use.
    return _PARSE_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def _parse(text: str):
    from math_verify import parse

    text = text[:MAX_ANSWER_CHARS]
    if "\\" in text and not text.lstrip().startswith("$"):
        text = f"${text}$"
    return parse(text, parsing_timeout=_timeout())


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
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=_timeout()))
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
