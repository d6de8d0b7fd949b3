r"""How much work a final answer may ask of math-verify, counted in operations, not seconds.

math-verify hands an answer to sympy, and a few short answers ask for unbounded work:
`9^{9^{9}}`, `5!!!!`, `\sum_{i=1}^{10^9} i`, brackets nested fifteen deep. A time limit would
make a verdict depend on the machine's load (and math-verify's own limit works only in the
main thread), so an answer is screened by what it asks for before it is parsed; one over the
budget is compared as text (`answers.answers_match`). Every limit is read off the text (at
most `MAX_ANSWER_CHARS` characters) by counting and a few regular expressions.
"""

from __future__ import annotations

import math
import re

MAX_ANSWER_CHARS = 400  # gold answers: MATH-500's longest has 53 characters, MATH's 159
MAX_NESTING = 6  # brackets of every kind, `\left(` included
MAX_DIGITS = 100  # digits in one number
MAX_EXPONENT = 10_000  # the largest whole number in an exponent; no power of a power
MAX_GROUP_EXPONENT = 64  # ... of a bracketed base, which sympy may expand: `(x+1)^{64}`
MAX_POWER_DIGITS = 4_000  # digits of a number to a power: `2^{4950}` is 1,491

MAX_FACTORIAL = 5_000  # `n!` only of a number up to this, or of a letter; never `n!!`
MAX_BINOMIAL = 1_000  # the numbers in `\binom{..}{..}`

_UNBOUNDED = re.compile(r"\\(?:sum|prod|i+nt|oint|lim|bigcup|bigcap)(?![A-Za-z])")
_POWER = re.compile(r"\^|\*\*")
_BINOMIAL = re.compile(r"\\[dt]?binom|\\choose")
_DIGITS = re.compile(r"\d+")
_LAST_NUMBER = re.compile(r"(\d+)$")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\\(?:[A-Za-z]+|.)?|.", re.S)  # a number, a command, a character
_OPEN, _CLOSE = "([{", ")]}"


def over_budget(text: str) -> str | None:
    """Why `text` asks for more work than an answer may (None when it is within budget)."""
    if len(text) > MAX_ANSWER_CHARS:
        return f"longer than {MAX_ANSWER_CHARS} characters"
    if found := _UNBOUNDED.search(text):
        return f"{found.group()} asks for unbounded work"
    for check in (_nesting, _long_number, _power, _factorial, _binomial):
        if reason := check(text):
            return reason
    return None


def _nesting(text: str) -> str | None:
    depth = 0
    for ch in text:
        depth += (ch in _OPEN) - (ch in _CLOSE)
        if depth > MAX_NESTING:
            return f"brackets nested deeper than {MAX_NESTING}"
    return None


def _long_number(text: str) -> str | None:
    if any(len(run) > MAX_DIGITS for run in _DIGITS.findall(text)):
        return f"a number longer than {MAX_DIGITS} digits"
    return None


def _operand(text: str, i: int) -> tuple[str, int]:
    """The operand that starts at `i` (after spaces): a bracketed group, a number, a command
    name or one character; and the index after it."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return "", i
    if text[i] in _OPEN:
        depth, j = 0, i
        while j < len(text):
            depth += (text[j] in _OPEN) - (text[j] in _CLOSE)
            j += 1
            if depth == 0:
                break
        return text[i:j], j
    found = _TOKEN.match(text, i)
    return found.group(), found.end()


def _power(text: str) -> str | None:
    for found in _POWER.finditer(text):
        exponent, end = _operand(text, found.end())
        if _POWER.search(exponent) or _POWER.match(text[end:].lstrip()):
            return "a power of a power"
        largest = max((int(run) for run in _DIGITS.findall(exponent)), default=0)
        before = text[: found.start()].rstrip()
        if before[-1:] in _CLOSE and largest > MAX_GROUP_EXPONENT:
            return f"an exponent above {MAX_GROUP_EXPONENT} on a bracketed base"
        base = _LAST_NUMBER.search(before)
        if base and largest * math.log10(max(int(base.group(1)), 2)) > MAX_POWER_DIGITS:
            return f"a power of more than {MAX_POWER_DIGITS} digits"
        if largest > MAX_EXPONENT:
            return f"an exponent above {MAX_EXPONENT}"
    return None


def _factorial(text: str) -> str | None:
    for found in re.finditer(r"(?<!\\)!", text):  # `\!` is LaTeX's thin space, as in `1,\!000`
        before = text[: found.start()].rstrip()
        number = _LAST_NUMBER.search(before)
        letter = re.search(r"(?<![\\A-Za-z])[A-Za-z]$", before)
        small = number is not None and int(number.group(1)) <= MAX_FACTORIAL
        if text[found.end() : found.end() + 1] == "!" or not (small or letter):
            return f"a factorial beyond {MAX_FACTORIAL}! of a number or of a letter"
    return None


def _binomial(text: str) -> str | None:
    for found in _BINOMIAL.finditer(text):
        top, end = _operand(text, found.end())
        bottom, _ = _operand(text, end)
        around = top + bottom if found.group() != "\\choose" else text
        if any(int(run) > MAX_BINOMIAL for run in _DIGITS.findall(around)):
            return f"a binomial coefficient of a number above {MAX_BINOMIAL}"
    return None
