"""Rewrites of reference-solution steps: paraphrases that keep the computation, and near
misses that change it. Used by `harvest.mine_reference_pairs`.

A variant is `(step_a, step_b, level, kind)`: level 4 for positives, 0 for a different
computation or result, 1 for the next step of the solution (related, but further on).
Arithmetic is evaluated exactly (fractions) by walking a parsed expression tree restricted
to numbers, + - * / and brackets; nothing is ever executed.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from fractions import Fraction

_ANNOTATION = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|[-+*/()]")
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_FILLERS = ("So, ", "Then ", "Next, ", "Now, ", "This means ")
_LEADING_FILLER = re.compile(
    r"^(?:so|then|thus|therefore|next|now|hence|this means|that means),?\s+", re.I
)
_COMMON_FIRST = frozenset(
    "the this that these in for we so then there it he she they his her their its if since "
    "let after each at to on first now next when with from by of a an all one based".split()
)
_VERBAL = {
    "+": ("Add {a} and {b} to get {c}.", "{a} plus {b} is {c}."),
    "-": ("Subtract {b} from {a} to get {c}.", "{a} minus {b} leaves {c}."),
    "*": ("Multiply {a} by {b} to get {c}.", "{a} times {b} equals {c}."),
    "/": ("Divide {a} by {b} to get {c}.", "{a} divided by {b} is {c}."),
}
_SIGNS = {"ascii": {}, "unicode": {"*": "×", "/": "÷"}, "latex": {"*": r"\times", "/": r"\div"}}
_SWAP_OP = {"+": "*", "*": "+", "-": "+", "/": "*"}


def evaluate(expr: str) -> Fraction | None:
    """The exact value of an arithmetic expression, or None if it is anything else."""
    try:
        tree = ast.parse(expr.replace("x", "*").replace("×", "*").strip(), mode="eval")
        return _eval(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, TypeError):
        return None


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _eval(node.left), _eval(node.right)
        op = _OPS[type(node.op)]
        return a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
    raise ValueError("not plain arithmetic")


def fmt(value: Fraction | None) -> str | None:
    """A number as a solution would write it (integer or terminating decimal), else None."""
    if value is None:
        return None
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return None
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text if Fraction(text) == value else None


@dataclass(frozen=True)
class Computation:
    """One `<<expr=result>>` annotation: its tokens and value."""

    expr: str
    tokens: tuple[str, ...]
    value: Fraction

    @property
    def binary(self) -> bool:
        return len(self.tokens) == 3 and self.tokens[1] in _VERBAL

    def render(self, style: str = "ascii", tokens: tuple[str, ...] | None = None) -> str:
        """The expression with spaced operators: ascii `*` `/`, unicode `×` `÷`, or LaTeX."""
        table = _SIGNS[style]
        out = " ".join(table.get(t, t) for t in (tokens or self.tokens))
        return out.replace("( ", "(").replace(" )", ")")

    def commuted(self) -> tuple[str, ...] | None:
        """Operands in reverse order when the whole expression is one commutative operator."""
        ops = set(self.tokens[1::2])
        if len(self.tokens) < 3 or "(" in self.tokens or len(ops) != 1 or ops - {"+", "*"}:
            return None
        return tuple(reversed(self.tokens))


def parse_computation(expr: str) -> Computation | None:
    tokens = tuple(_TOKEN.findall(expr.replace("x", "*").replace("×", "*")))
    value = evaluate(expr)
    if value is None or not tokens or "".join(tokens) != re.sub(r"\s+", "", expr).replace("x", "*"):
        return None
    return Computation(expr, tokens, value)


@dataclass(frozen=True)
class Line:
    """A GSM8K solution line: clean text (annotations removed), its computations, and the
    text around its single annotation (for edits), when it has exactly one."""

    clean: str
    computations: tuple[Computation, ...]
    before: str = ""
    after: str = ""
    result_text: str = ""


def gsm8k_lines(solution: str) -> list[Line]:
    """The solution's lines before `####`, each with its parsed annotations."""
    lines = []
    for raw in solution.split("####")[0].splitlines():
        if not raw.strip():
            continue
        found = list(_ANNOTATION.finditer(raw))
        comps = tuple(c for m in found if (c := parse_computation(m.group(1))) is not None)
        clean = _ANNOTATION.sub("", raw).strip()
        if len(found) == 1 and len(comps) == 1:
            m = found[0]
            after = raw[m.end() :]
            result = re.match(r"\s*-?\d[\d,]*(?:\.\d+)?", after)
            lines.append(
                Line(clean, comps, raw[: m.start()], after, result.group(0) if result else "")
            )
        else:
            lines.append(Line(clean, comps))
    return lines


def _expr_pattern(tokens: tuple[str, ...]) -> re.Pattern:
    parts = {"*": r"[*x×]", "/": r"[/÷]"}
    return re.compile(r"\s*".join(parts.get(t, re.escape(t)) for t in tokens))


def _rewrite(line: Line, tokens: tuple[str, ...] | None, result: str | None) -> str | None:
    """The line with its expression replaced by `tokens` and/or its result by `result`."""
    before, after = line.before, line.after
    if tokens is not None:
        comp = line.computations[0]
        matches = list(_expr_pattern(comp.tokens).finditer(before))
        if not matches:
            return None
        m = matches[-1]
        before = before[: m.start()] + " ".join(tokens) + before[m.end() :]
    if result is not None:
        if not line.result_text:
            return None
        lead = line.result_text[: len(line.result_text) - len(line.result_text.lstrip())]
        after = lead + result + after[len(line.result_text) :]
    return (before + after).strip()


def _filler(text: str, rng: random.Random) -> str:
    """Drop a leading filler word if there is one, else add one."""
    stripped = _LEADING_FILLER.sub("", text, count=1)
    if stripped != text and stripped:
        return stripped[0].upper() + stripped[1:]
    first = text.split(" ", 1)[0].rstrip(",").lower()
    common = first in _COMMON_FIRST or first.endswith(("ing", "ly"))
    if common and text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return rng.choice(_FILLERS) + text


def _positives(line: Line, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) paraphrases of a line."""
    out = [("filler", _filler(line.clean, rng))]
    if len(line.computations) != 1:
        return out
    comp = line.computations[0]
    c = fmt(comp.value)
    if c is None:
        return out
    out.append(("symbolic", f"{comp.render(rng.choice(['ascii', 'unicode']))} = {c}"))
    out.append(("latex", rf"\({comp.render('latex')} = {c}\)"))
    if comp.binary:
        a, op, b = comp.tokens
        out.append(("verbal", rng.choice(_VERBAL[op]).format(a=a, b=b, c=c)))
    swapped = comp.commuted()
    if swapped is not None:
        text = _rewrite(line, swapped, None) if line.before else None
        out.append(("commuted", text or f"{comp.render('ascii', swapped)} = {c}"))
    return out


def _edits(line: Line, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) near misses of a line with one annotation: a changed operand, a wrong
    result, a different operation."""
    if len(line.computations) != 1 or not line.before:
        return []
    comp, out = line.computations[0], []
    numbers = [k for k, t in enumerate(comp.tokens) if t[0].isdigit() or t[0] == "."]
    k = rng.choice(numbers) if numbers else None
    if k is not None:
        tokens = list(comp.tokens)
        tokens[k] = fmt(Fraction(tokens[k]) + rng.choice([1, 2, 3, 10])) or tokens[k]
        new = fmt(evaluate("".join(tokens)))
        if new is not None and new != fmt(comp.value):
            out.append(("number-edit", _rewrite(line, tuple(tokens), new)))
    wrong = fmt(comp.value + rng.choice([1, 2, 5, 10]))
    if wrong is not None:
        out.append(("wrong-result", _rewrite(line, None, wrong)))
    if comp.binary:
        a, op, b = comp.tokens
        new = fmt(evaluate(f"{a}{_SWAP_OP[op]}{b}"))
        if new is not None and new != fmt(comp.value):
            out.append(("other-operation", _rewrite(line, (a, _SWAP_OP[op], b), new)))
    return [(kind, text) for kind, text in out if text]


def _context_negatives(steps: list[str], i: int, rng: random.Random) -> list[tuple]:
    """The next step (level 1) and a non-adjacent step (level 0) paired with step i."""
    out = []
    if i + 1 < len(steps):
        out.append((steps[i], steps[i + 1], 1, "next-step"))
    others = [j for j in range(len(steps)) if abs(j - i) > 1]
    if others:
        out.append((steps[i], steps[rng.choice(others)], 0, "other-quantity"))
    return out


def gsm8k_variants(lines: list[Line], i: int, rng: random.Random) -> list[tuple]:
    """All variants of line `i`: (a, b, level, kind)."""
    line = lines[i]
    positives = _positives(line, rng)
    out = [(line.clean, text, 4, kind) for kind, text in positives]
    if len(positives) >= 3:
        (_, t1), (_, t2) = rng.sample(positives[1:], 2)
        out.append((t1, t2, 4, "paraphrase-pair"))
    out += [(line.clean, text, 0, kind) for kind, text in _edits(line, rng)]
    return out + _context_negatives([x.clean for x in lines], i, rng)


_MATH_SPAN = re.compile(r"\$\$.+?\$\$|\$.+?\$|\\\[.+?\\\]|\\\(.+?\\\)", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$])")
_NUMBER = re.compile(r"(?<![\w.{^_\\])\d+(?:\.\d+)?(?![\w.])")
_COMMUTE = re.compile(r"([=$({]\s*)(\d+)\s*(\+|\\cdot|\\times)\s*(\d+)(\s*[=$)}])")


def math_sentences(solution: str, min_chars: int = 12) -> list[str]:
    """Sentences of a MATH solution, never split inside `$…$`, `$$…$$`, `\\[…\\]`, `\\(…\\)`."""
    spans: list[str] = []

    def hide(m: re.Match) -> str:
        spans.append(m.group(0))
        return f"\x00{len(spans) - 1}\x00"

    hidden = _MATH_SPAN.sub(hide, solution)
    out = []
    for block in re.split(r"\n\s*\n", hidden):
        for sentence in _SENTENCE_END.split(block.replace("\n", " ")):
            text = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], sentence).strip()
            if len(text) >= min_chars:
                out.append(text)
    return out


def _math_paraphrases(text: str, rng: random.Random) -> list[tuple[str, str]]:
    out = [("filler", _filler(text, rng))]
    swapped = re.sub(r"\$\$(.+?)\$\$", r"\\[\1\\]", text, flags=re.S)
    swapped = re.sub(r"(?<![\\$])\$([^$]+)\$", r"\\(\1\\)", swapped)
    if swapped != text:
        out.append(("delimiters", swapped))
    times = text.replace(r"\cdot", r"\times") if r"\cdot" in text else None
    if times:
        out.append(("notation", times))
    commuted = _COMMUTE.sub(lambda m: f"{m[1]}{m[4]} {m[3]} {m[2]}{m[5]}", text, count=1)
    if commuted != text:
        out.append(("commuted", commuted))
    return out


def _math_edits(text: str, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    numbers = list(_NUMBER.finditer(text))
    if numbers:
        m = rng.choice(numbers)
        new = fmt(Fraction(m.group(0)) + rng.choice([1, 2, 3]))
        out.append(("number-edit", text[: m.start()] + new + text[m.end() :]))
    spans = [m for m in _MATH_SPAN.finditer(text) if re.search(r"\d\s*\+\s*\d", m.group(0))]
    if spans:
        m = spans[0]
        flipped = re.sub(r"(\d\s*)\+(\s*\d)", r"\1-\2", m.group(0), count=1)
        out.append(("other-operation", text[: m.start()] + flipped + text[m.end() :]))
    return out


def math_variants(steps: list[str], i: int, rng: random.Random) -> list[tuple]:
    """All variants of sentence `i` of a MATH solution: (a, b, level, kind)."""
    text = steps[i]
    out = [(text, para, 4, kind) for kind, para in _math_paraphrases(text, rng)]
    out += [(text, edit, 0, kind) for kind, edit in _math_edits(text, rng)]
    return out + _context_negatives(steps, i, rng)
