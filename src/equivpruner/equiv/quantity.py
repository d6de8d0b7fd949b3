"""What a step is about, beyond its arithmetic: the problem's quantities it names and the
numbers it adds (used by the symbolic stage before it merges on the same arithmetic).

Two steps can state the same arithmetic about different things: "top shelf = bottom − 5"
against "bottom shelf = bottom − 5", or "the three remaining people lost 103 − 82 = 21 kg"
against "the last two people lost …". And one step can claim more than the other in
words or in maths the parser did not read ("… so the change is $500 − $104 = $396").
`Aboutness` holds the evidence for both, from the normalised text:

- `named`: the question's content words the step uses (plural "s" dropped), leaving out
  stopwords, generic maths verbs and the question's proper names ("Walter"). When each
  step names one the other does not, they name different quantities (`named_apart`); one
  naming more than the other is often only more words.
- `numbers`: the numbers (digits and number words) the step mentions that the question and
  earlier steps do not. Different sets mean one step computes or claims something the
  other does not.
- `words`: its other content words (not in the question). A step with more than
  `MAX_EXTRA_WORDS` of them that the other lacks says something more in words (on the
  training pairs, the symbolic stage's true merges differ by at most 4; a false one by 14).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from .normalize import _DELIMS as _MATH_DELIMS
from .normalize import MAX_NORMALIZE_CHARS, normalize, normalize_math

_WORD = re.compile(r"(?<![\\a-z])[a-z]+")  # not LaTeX commands (`\frac`)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CAPITAL = re.compile(r"\b[A-Z][a-z]+\b")
# A stated result and the words that name it: "= 24 apples", "=\frac{1}{6} cup per gallon",
# matched in text that keeps its punctuation ("= 1, so" names nothing).
_UNIT = re.compile(
    r"=\s*(?:\\frac\{[\d.]+\}\{[\d.]+\}|\d[\d.]*)\s*((?:[a-z]+ ?){1,3})\b(?!\s*[-+*/=^])"
)
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\{([^{}]*)\}")
# Tried only where a number starts, so a run of 20,000 digits costs one pass, not 20,000.
_PERCENT = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s?%")
MAX_EXTRA_WORDS = 6
# A line of program code: an assignment to a name, or a call/keyword a program starts with.
_CODE_LINE = re.compile(
    r"^\s*(?:[A-Za-z]\w*_\w*(?:\[[^\]]*\])?\s*[-+*/]?=(?!=)|print\(|def |return |import )"
)  # `total_cost = …`, not the LaTeX `x = \frac{…}`
_FENCE = re.compile(r"^\s*```(\w*)")
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_KEYWORDS = frozenset(
    "print def return import from for if else in range sum len round int float".split()
)
NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twice": "2", "double": "2", "half": "0.5", "triple": "3", "thrice": "3",
    "quarter": "0.25", "dozen": "12",
}  # fmt: skip
# Words that do not tell which quantity a step is about.
STOPWORDS = frozenset(
    """a about after all also an and any are as at be because been before being both but by
    can could did do does each every for from get gets got had has have he her hers him his
    how i if in into is it its just let lets many me more much my need needs of on or our out
    per s she so some such than that the their them then there these they this those to too
    total us was we were what when where which while who whom why will with would you your
    amount number value result calculate compute determine find found first next finally
    step steps problem solve given know known means total altogether overall""".split()
)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_stems(texts) -> frozenset[str]:
    """The content-word stems of `texts` (stopwords left out, plural "s" dropped)."""
    return frozenset(_stem(w) for t in texts for w in _WORD.findall(t) if w not in STOPWORDS)


def _canonical(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number.lstrip("0") or "0"


def _per_cent(m: re.Match) -> str:
    return f" {Decimal(m.group(1)) / 100} "


def numbers_in(key: str) -> frozenset[str]:
    """Numbers of a normalised text, digits and number words, in canonical form ("25%" is
    0.25)."""
    if "%" in key:
        key = _PERCENT.sub(_per_cent, key)
    found = {_canonical(n) for n in _NUMBER.findall(key)}
    found |= {NUMBER_WORDS[w] for w in _WORD.findall(key) if w in NUMBER_WORDS}
    return frozenset(found)


@dataclass(frozen=True)
class Topic:
    """What the question offers to name: its content-word stems, its proper names, its
    numbers and those of the earlier steps."""

    words: frozenset[str]
    known: frozenset[str]
    names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, question: str, prefix: tuple[str, ...] = ()) -> Topic:
        question = question[:MAX_NORMALIZE_CHARS]
        names = {w.lower() for w in _CAPITAL.findall(question)}
        key = normalize(question) if question else ""
        words = {
            _stem(w)
            for w in _WORD.findall(key)
            if w not in STOPWORDS and w not in names and w not in NUMBER_WORDS
        }
        known = numbers_in(key).union(*(numbers_in(normalize(p)) for p in prefix if p))
        return cls(frozenset(words), known, frozenset(names))


@dataclass(frozen=True)
class Aboutness:
    """The quantities a step names and the numbers it adds (see the module docstring)."""

    named: frozenset[str]
    numbers: frozenset[str]
    words: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    code: frozenset[str] = frozenset()

    @classmethod
    def of(cls, text: str, topic: Topic) -> Aboutness:
        """Memoised (the symbolic stage and the features detector both ask)."""
        return _about(text, topic)

    @classmethod
    def compute(cls, text: str, topic: Topic) -> Aboutness:
        """What `text` is about, read from its first `MAX_NORMALIZE_CHARS` characters (as
        `normalize` reads them): bounded work on any step."""
        text = text[:MAX_NORMALIZE_CHARS]
        key = normalize(text)
        stems = {
            _stem(w)
            for w in _WORD.findall(key)
            if w not in STOPWORDS and w not in topic.names and len(w) > 2
        }
        named = stems & topic.words
        plain = _MATH_DELIMS.sub(" ", _TEXT_CMD.sub(r" \1 ", normalize_math(text))).lower()
        units = {_stem(w) for m in _UNIT.finditer(plain) for w in m.group(1).split()}
        return cls(
            frozenset(named),
            numbers_in(key) - topic.known,
            frozenset(stems - named),
            frozenset(units - STOPWORDS),
            code_lines(text),
        )


def _name(m: re.Match) -> str:
    return m.group(0) if m.group(0) in _KEYWORDS else "v"


def code_lines(text: str) -> frozenset[str]:
    """The step's program lines, spaces removed and names replaced by `v`: lines of a
    fenced block (not an `output` block; a step that starts inside a block and closes it
    counts the lines before the fence) and lines that read as Python statements. Two
    steps whose arithmetic agrees but whose programs differ compute other things (or the
    same thing another way); renaming a variable changes nothing."""
    lines: list[tuple[bool, str]] = []  # (code?, line without spaces or comment)
    fence, fenced_before = None, False
    for line in text[:MAX_NORMALIZE_CHARS].splitlines():
        opened = _FENCE.match(line)
        if opened and fence is None and not fenced_before and not opened.group(1) and lines:
            lines = [(True, body) for _, body in lines]  # the step began inside a block
        elif opened:
            fence = None if fence is not None else opened.group(1) or "code"
        if opened:
            fenced_before = True
            continue
        body = "".join(line.split("#", 1)[0].split())
        code = fence is not None and fence != "output" or _CODE_LINE.match(line) is not None
        if body:
            lines.append((code, body))
    return frozenset(_IDENTIFIER.sub(_name, body) for code, body in lines if code)


@lru_cache(maxsize=4096)
def _about(text: str, topic: Topic) -> Aboutness:
    return Aboutness.compute(text, topic)


def clear_cache() -> None:
    """Forget memoised `Aboutness` results."""
    _about.cache_clear()


def _apart(a: frozenset, b: frozenset) -> bool:
    return bool(a - b) and bool(b - a)


def named_apart(a: Aboutness, b: Aboutness) -> bool:
    """Each step names a quantity of the question (or a unit of a result) that the other
    does not."""
    return _apart(a.named, b.named) or _apart(a.units, b.units)


def code_apart(a: Aboutness, b: Aboutness) -> bool:
    """Both steps hold program lines and the lines differ (names aside)."""
    return bool(a.code) and bool(b.code) and a.code != b.code


def same_subject(a: Aboutness, b: Aboutness) -> bool:
    """The steps add the same numbers, do not run different program lines, are not
    `named_apart` (one naming more than the
    other, "the shorts" against "the total cost of the shorts", is allowed) and neither says
    much more in other words."""
    if a.numbers != b.numbers or code_apart(a, b) or named_apart(a, b):
        return False
    return max(len(a.words - b.words), len(b.words - a.words)) <= MAX_EXTRA_WORDS
