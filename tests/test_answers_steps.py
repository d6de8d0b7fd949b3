"""Answer extraction/checking with math-verify, and the step protocol."""

from __future__ import annotations

import pytest

from equivpruner.answers import answers_match, extract_boxed, majority_vote, normalize_gold
from equivpruner.llm.scripted import ScriptedBackend
from equivpruner.steps import InputError, StepProtocol, check_question


@pytest.mark.parametrize(
    "text,expected",
    [
        ("so \\boxed{18}.", "18"),
        ("\\boxed{\\frac{1}{2}} then \\boxed{3}", "3"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("no answer", None),
        ("\\boxed{unclosed", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize(
    "pred,gold,ok",
    [
        ("1,000", "1000", True),
        ("\\$18", "18", True),
        ("18 \\text{ dollars}", "18", True),
        ("18.0", "18", True),
        ("17", "18", False),
        ("0.5", "\\frac{1}{2}", True),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        ("\\dfrac{\\sqrt{2}}{2}", "\\frac{\\sqrt2}{2}", True),
        (None, "18", False),
        ("", "18", False),
    ],
)
def test_answers_match(pred, gold, ok):
    assert answers_match(pred, gold) is ok


def test_gsm8k_gold_is_normalised():
    assert normalize_gold("She makes 9 * 2 = $18\n#### 1,018") == "1018"


def test_majority_vote_groups_equal_answers():
    assert majority_vote(["5", "7", "5.0", None]) == "5"
    assert majority_vote(["5", "7"], weights=[0.2, 0.9]) == "7"
    assert majority_vote([None, None]) is None


def test_protocol_prompt_uses_backend_template_and_prefix():
    proto = StepProtocol(delimiter="\n\n")
    prompt = proto.prompt(ScriptedBackend({}), "What is 2+2?", ["a", "b"])
    assert prompt.endswith("<|assistant|>\na\n\nb\n\n")
    assert "What is 2+2?" in prompt and proto.system_prompt in prompt


def test_split_and_terminal():
    proto = StepProtocol(max_depth=3)
    assert proto.split("a\n\n\n\nb\n\n") == ["a", "b"]
    assert proto.is_terminal("so \\boxed{4}", "stop", 1)
    assert proto.is_terminal("the end", "eos", 1)
    assert proto.is_terminal("more", "stop", 3)
    assert not proto.is_terminal("more", "stop", 2)
    assert proto.final_answer(["x", "\\boxed{4}", "y"]) == "4"


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 100_000])
def test_bad_questions_are_refused_clearly(bad):
    with pytest.raises(InputError) as err:
        check_question(bad)
    assert "question" in str(err.value)
