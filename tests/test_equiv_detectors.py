"""Each detector on hand-written sibling pairs, the cascade, the registry and grouping."""

from __future__ import annotations

import pytest

from equivpruner.equiv.base import Context, Verdict, group_steps
from equivpruner.equiv.cascade import CascadeDetector
from equivpruner.equiv.exact import ExactDetector
from equivpruner.equiv.lexical import LevenshteinDetector, ratio
from equivpruner.equiv.llm_judge import (
    RUBRIC,
    LLMJudgeDetector,
    judge_prompt,
    levels_to_label,
    parse_level,
)
from equivpruner.equiv.normalize import normalize, normalize_math
from equivpruner.equiv.quantity import Aboutness, Topic, named_apart, numbers_in, same_subject
from equivpruner.equiv.registry import DETECTORS, make_detector
from equivpruner.equiv.symbolic import SAME_MATHS, SymbolicDetector
from equivpruner.llm.base import Completion

CTX = Context("Walter bought 60 apples and ate 2/5 of them. How many are left?")
REWORDED = (
    "First, Walter ate 2/5 of 60 apples: 2/5 × 60 = 24.",
    r"Walter eats \(\frac{2}{5} \times 60 = 24\) apples.",
)
# Same wording, one number changed: a wrong computation, not a paraphrase.
ONE_NUMBER = (
    r"To find how many apples Walter ate, we multiply: \[ \frac{2}{5} \times 60 = 24 \] "
    "So Walter ate this many apples in total, and the rest are left for later.",
    r"To find how many apples Walter ate, we multiply: \[ \frac{2}{5} \times 60 = 48 \] "
    "So Walter ate this many apples in total, and the rest are left for later.",
)


def verdict(detector, a: str, b: str, context: Context = CTX) -> Verdict:
    return detector.compare([a, b], [(0, 1)], context)[0]


class Scripted:
    """Equivalent exactly for the listed index pairs; records each call's pairs."""

    def __init__(self, same: set[tuple[int, int]], name: str = "scripted", decide=True):
        self.same, self.name, self.decide, self.calls = same, name, decide, []

    def compare(self, steps, pairs, context):
        self.calls.append(list(pairs))
        out = []
        for i, j in pairs:
            eq = (i, j) in self.same
            out.append(Verdict(i, j, eq if (eq or self.decide) else None, float(eq), self.name))
        return out


def test_normalize_removes_formatting_only():
    assert normalize("**Step 1:** Compute $3 \\times 4$.") == normalize("1. compute \\(3*4\\)")
    assert normalize("Let's go step-by-step:") == normalize("Let's go step by step")
    assert normalize_math("３ × ４ − １") == "3 * 4 - 1"  # fullwidth digits, × and −
    assert normalize("раrt") == "part"  # Cyrillic р, а
    assert normalize_math("\\left( \\dfrac{1}{2} \\right)\\,x") == "( \\frac{1}{2} ) x"
    assert normalize("9**9") == "9**9"  # a power is not markdown bold
    assert normalize("1,000 apples") != normalize("1,001 apples")


def test_exact_detector():
    a, b = "**Step 2:** 60 - 24 = 36 apples.", "2. 60 - 24 = 36 apples"
    assert verdict(ExactDetector(), a, b) == Verdict(0, 1, True, 1.0, "exact")
    assert verdict(ExactDetector(), *REWORDED).equivalent is False
    assert verdict(ExactDetector(decisive_negative=False), *REWORDED).equivalent is None


def test_symbolic_equivalent_with_different_wording():
    v = verdict(SymbolicDetector(), *REWORDED)
    assert (v.equivalent, v.stage) == (True, "symbolic")


def test_one_changed_number_symbolic_rejects_but_lexical_merges():
    assert verdict(SymbolicDetector(), *ONE_NUMBER).equivalent is False
    # The paper's lexical rule is fooled: one digit barely moves the ratio.
    assert ratio(normalize(ONE_NUMBER[0]), normalize(ONE_NUMBER[1])) >= 0.95
    assert verdict(LevenshteinDetector(0.95), *ONE_NUMBER).equivalent is True
    assert verdict(LevenshteinDetector(0.95, same_numbers=True), *ONE_NUMBER).equivalent is False
    # The cascade asks the symbolic stage first.
    assert verdict(CascadeDetector(), *ONE_NUMBER).stage == "symbolic"


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("3 × 4 = 12", "4 × 3 = 12", True),  # commuted operands: same computation
        ("2/5 of 60 is 24", "60 * 2 / 5 = 24", True),
        (r"\[ 25\% \times 36 = 9 \]", "0.25 * 36 = 9", True),
        ("$5 * 3 = $15", "5 × 3 = 15 dollars", True),
        ("60 - 24 = 36", "60 × 3/5 = 36", None),  # same value, other operations: undecided
        ("48/2 = 24", "48/2 = 25", False),
        ("Then 60 - 24 = 36 - 9 = 27.", "Then 60 - 24 = 36.", None),  # running chain is fine
        (r"\[ x = 12 \]", r"\[ x = 15 \]", False),
        (r"\(\boxed{2}\)", r"\[\boxed{2}.\]", True),
        (r"\(\boxed{2}\)", r"\(\boxed{3}\)", False),
        ("Let's solve it step by step.", "First, read the problem.", None),
    ],
)
def test_symbolic_decisions(a, b, expected):
    assert verdict(SymbolicDetector(), a, b).equivalent is expected
    assert verdict(SymbolicDetector(), b, a).equivalent is expected


def test_symbolic_ignores_facts_restated_from_the_question():
    ctx = Context("Let $a + b = 1$. Find the minimum of $1/a + 4/b$.")
    a, b = "Since $a + b = 1$, use AM-GM.", "Given $a + b = 1$, use Lagrange multipliers."
    assert verdict(SymbolicDetector(), a, b, Context()).equivalent is True
    assert verdict(SymbolicDetector(), a, b, ctx).equivalent is None


SHELVES = Context(
    "The bottom shelf holds 20 books. The top shelf holds 5 fewer books than the bottom "
    "shelf. How many books are on both shelves?"
)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # The same arithmetic about a different quantity of the question: no merge.
        ("The top shelf has 20 - 5 = 15 books.", "The bottom shelf has 20 - 5 = 15 books.", None),
        (r"Top shelf: \( 20 - 5 = 15 \) books.", r"Bottom shelf: \( 20 - 5 = 15 \) books.", None),
        # One step also claims more: a number the other never states ...
        (
            "The top shelf has 20 - 5 = 15 books.",
            "The top shelf has 20 - 5 = 15 books, so 35 books in all.",
            None,
        ),
        # ... or a long claim in words the parser does not read.
        (
            "The top shelf has 20 - 5 = 15 books.",
            "The top shelf has 20 - 5 = 15 books. This contradicts what we assumed about "
            "librarians stacking volumes alphabetically, hence reconsider everything carefully.",
            None,
        ),
        # The same quantity in other words, or with one naming more: still merged.
        ("The top shelf has 20 - 5 = 15 books.", "Top shelf: 20 - 5 = 15.", True),
        ("The top shelf has 20 - 5 = 15 books.", "On the top shelf: 20 - 5 = 15 books.", True),
    ],
)
def test_symbolic_requires_the_same_subject(a, b, expected):
    for x, y in ((a, b), (b, a)):
        v = verdict(SymbolicDetector(), x, y, SHELVES)
        assert v.equivalent is expected
        if expected is None:
            assert v.probability == SAME_MATHS  # the maths agrees; a later stage decides


def test_symbolic_refuses_different_units_of_the_same_result():
    ctx = Context("6 lemons yield 1 cup of juice. How many lemons for a gallon of lemonade?")
    a = r"Each gallon holds \[ \frac{1 \text{ cup}}{6} = \frac{1}{6} \text{ cup per gallon} \]"
    b = r"So 6 lemons need \[ \frac{1 \text{ cup}}{6} = \frac{1}{6} \text{ cup of juice} \]"
    assert verdict(SymbolicDetector(), a, b, ctx).equivalent is None


def test_quantity_evidence():
    topic = Topic.of(SHELVES.question)
    top = Aboutness.of("The top shelf has 20 - 5 = 15 books.", topic)
    bottom = Aboutness.of("The bottom shelf has 20 - 5 = 15 books.", topic)
    assert top.named == {"top", "shelf", "book"} and top.numbers == {"15"}
    assert named_apart(top, bottom) and not same_subject(top, bottom)
    assert numbers_in("three apples and 2.50 dollars") == {"3", "2.5"}
    assert "walter" in Topic.of("Walter has 3 apples.").names


def test_lexical_band_needs_the_same_operators():
    a = "daily_eggs = eggs_per_day + breakfast_eggs + muffin_eggs"
    b = "daily_eggs = eggs_per_day * breakfast_eggs + muffin_eggs"
    assert ratio(normalize(a), normalize(b)) >= 0.95
    assert verdict(LevenshteinDetector(0.95, same_numbers=True), a, b).equivalent is True
    strict = LevenshteinDetector.bands(None, same_numbers=True, same_operators=True)
    assert verdict(strict, a, b).equivalent is None
    assert verdict(strict, a, a + " ").equivalent is True
    assert verdict(CascadeDetector(final=None), a, b).equivalent is False  # fallback too


def test_levenshtein_modes():
    a, b = "Let's break down the problem step by step:", "Let's break the problem down step by step"
    close = ratio(normalize(a), normalize(b))
    assert 0.75 < close < 0.95
    assert verdict(LevenshteinDetector(), a, b).equivalent is False
    assert verdict(LevenshteinDetector(0.95, gate=0.75), a, b).equivalent is None
    assert verdict(LevenshteinDetector.bands(0.4, 0.8), a, b).probability == pytest.approx(close)
    assert verdict(LevenshteinDetector.bands(0.4, 0.8), a, b).equivalent is True
    assert verdict(LevenshteinDetector.bands(0.4), a, "Compute 7 * 8.").equivalent is False
    assert verdict(LevenshteinDetector.bands(None), a, "Compute 7 * 8.").equivalent is None
    assert verdict(LevenshteinDetector(gate=0.75), a, "Compute 7 * 8.").equivalent is False
    assert verdict(LevenshteinDetector(), "", "").equivalent is True  # no division by zero
    assert verdict(LevenshteinDetector(metric="levenshtein"), a, a).probability == 1.0
    with pytest.raises(ValueError):
        LevenshteinDetector(threshold=0.7, gate=0.8)


def test_grouping_is_not_transitive():
    # A~B and B~C but A≁C: C must not join the group holding A.
    grouping = group_steps(["A", "B", "C"], Scripted({(0, 1), (1, 2)}))
    assert grouping.groups == [[0, 1], [2]]
    grouping = group_steps(["A", "B", "C"], Scripted({(0, 1), (1, 2), (0, 2)}))
    assert grouping.groups == [[0, 1, 2]]


def test_cascade_batches_stages_and_records_deciders():
    first = Scripted({(0, 1)}, "first", decide=False)
    final = Scripted({(1, 2)}, "final")
    cascade = CascadeDetector(stages=[first], final=final)
    verdicts = cascade.compare(["a", "b", "c", "d"], [(0, 1), (0, 2), (1, 2), (2, 3)], Context())
    assert [v.stage for v in verdicts] == ["first", "final", "final", "final"]
    assert [v.equivalent for v in verdicts] == [True, False, True, False]
    assert first.calls == [[(0, 1), (0, 2), (1, 2), (2, 3)]]
    assert final.calls == [[(0, 2), (1, 2), (2, 3)]]  # all undecided pairs in one call


def test_cascade_undecided_final_means_not_equivalent():
    cascade = CascadeDetector(stages=[], final=Scripted(set(), decide=False))
    (v,) = cascade.compare(["a", "b"], [(0, 1)], Context())
    assert (v.equivalent, v.stage) == (False, "undecided")


def test_default_cascade_on_siblings():
    steps = [
        "Let's break down the problem step-by-step:",
        "Let's break down the problem step by step:",
        "First, 2/5 × 60 = 24 apples were eaten.",
        r"Walter ate \(\frac{2}{5} \times 60 = 24\) apples.",
        r"Walter ate \(\frac{2}{5} \times 60 = 48\) apples.",
    ]
    grouping = group_steps(steps, make_detector("cascade", use_default_checkpoint=False), CTX)
    assert grouping.groups == [[0, 1], [2, 3], [4]]
    assert grouping.verdict(0, 1).stage == "exact"
    assert grouping.verdict(2, 3).stage == "symbolic"
    assert grouping.verdict(3, 4).equivalent is False


def test_registry():
    assert {"none", "exact", "symbolic", "levenshtein", "cascade"} <= set(DETECTORS)
    (v,) = make_detector("none").compare(["a", "a"], [(0, 1)], Context())
    assert v.equivalent is False
    assert isinstance(make_detector("lexical", threshold=0.9), LevenshteinDetector)
    assert make_detector("cascade", final="exact").final.name == "exact"
    with pytest.raises(ValueError, match="valid names: none, exact"):
        make_detector("magic")
    with pytest.raises(ValueError, match="checkpoint"):
        make_detector("cross-encoder")
    with pytest.raises(ValueError, match="backend"):
        make_detector("llm-judge")


@pytest.mark.parametrize(
    "text, level",
    [
        ("The steps match.\nLevel: 3", 3),
        ("**3**", 3),
        ("I'd give it a score 4/4.", 4),
        ("Level 4 means exact. Here the rating is **1**.", 1),
        ("Verdict = 0", 0),
        ("2", 2),
        ("Level: 7", None),
        ("They are similar.", None),
        ("", None),
    ],
)
def test_parse_level(text, level):
    assert parse_level(text) == level


def test_levels_to_label():
    assert [levels_to_label(k) for k in (0, 1, 2, 3, 4, None)] == [0, 0, 0, 1, 1, None]
    assert levels_to_label(2, positive=(2, 3, 4)) == 1


class FakeJudge:
    """A backend answering by a rule on the prompt; records every generate call."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def chat_prompt(self, messages, assistant_prefix=""):
        return "".join(m.content for m in messages) + assistant_prefix

    def generate(self, prompts, params):
        self.calls.append((list(prompts), params))
        answer = {True: "Both compute 24.\nLevel: 4", False: "no idea"}
        return [[Completion(answer["24" in p.split("## Step B")[1]], 5, 9, "eos")] for p in prompts]


def test_llm_judge_detector():
    backend = FakeJudge()
    judge = LLMJudgeDetector(backend, max_tokens=64)
    steps = ["2/5 * 60 = 24", "We get 24.", "Let's think."]
    verdicts = judge.compare(steps, [(0, 1), (1, 2)], Context("Q?", ("earlier step",)))
    assert [(v.equivalent, v.probability) for v in verdicts] == [(True, 1.0), (None, 0.5)]
    assert len(backend.calls) == 1
    prompts, params = backend.calls[0]
    assert (params.n, params.temperature, params.max_tokens, params.stop) == (1, 0.0, 64, ())
    assert RUBRIC in prompts[0] and "earlier step" in prompts[0] and "Q?" in prompts[0]
    assert "(no steps yet)" in judge_prompt("Q", (), "a", "b")


def test_symbolic_ignores_every_value_the_question_gives_a_name():
    # The question sets t three times; restating the last one is not a computation.
    ctx = Context("The line passes through P at $t = -1$ and Q at $t = 2$. Find it at $t = 3.$")
    a, b = "At \\( t = 3 \\), use the direction vector.", "At \\( t = 3 \\), interpolate."
    assert verdict(SymbolicDetector(), a, b, Context()).equivalent is True
    assert verdict(SymbolicDetector(), a, b, ctx).equivalent is None


def test_symbolic_never_merges_maths_it_cannot_read():
    a = r"So \( x = 2 + 1 = 3 \) and \[ r = \begin{pmatrix} 1 \\ 3 \end{pmatrix} \]"
    b = r"So \( x = 2 + 1 = 3 \) and \[ r = \begin{pmatrix} 3 \\ 1 \end{pmatrix} \]"
    assert verdict(SymbolicDetector(), a, b).equivalent is None
    plain = r"So \( x = 2 + 1 = 3 \)."
    assert verdict(SymbolicDetector(), plain, r"Thus \( x = 2 + 1 = 3 \).").equivalent is True


LOTTERY = Context("Winwin won $50. She paid 20% tax and a $5 fee. How much did she take home?")


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # The same sum under labels naming other quantities: not merged.
        (
            r"\[ \text{Processing Fee} = 50 - 10 = 40 \]",
            r"\[ \text{Taxable Amount} = 50 - 10 = 40 \]",
            None,
        ),
        # One label naming more than the other is only more words.
        (
            r"\[ \text{Amount after tax} = 50 - 10 = 40 \]",
            r"\[ \text{After tax} = 50 - 10 = 40 \]",
            True,
        ),
    ],
)
def test_symbolic_compares_the_labels_of_results(a, b, expected):
    for x, y in ((a, b), (b, a)):
        assert verdict(SymbolicDetector(), x, y, LOTTERY).equivalent is expected


def test_symbolic_refuses_programs_that_differ_but_print_the_same():
    ctx = Context("Ariella has $600 at 10% simple interest. How much after two years?")
    # Each step starts inside the code block its parent opened.
    end = "print(new_balance)\n```\n```output\n660.0\n```\nSo \\(\\boxed{660}\\)."
    a = "new_balance = old_savings + interest_rate * old_savings\n" + end
    b = "new_balance = old_savings + (interest_rate * old_savings) / 2\n" + end
    renamed = a.replace("new_balance", "balance_after")
    assert verdict(SymbolicDetector(), a, renamed, ctx).equivalent is True  # names aside
    assert verdict(SymbolicDetector(), a, b, ctx).equivalent is None
