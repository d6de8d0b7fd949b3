"""Safe extraction of the arithmetic a step states (used by the symbolic detector).

Model text is untrusted: nothing here evaluates it. A lexer turns plain text and LaTeX
(`\\frac`, `\\times`, `\\cdot`, `\\div`, `^`, `\\sqrt`, `\\text`, `\\boxed`) into tokens;
each maximal run of arithmetic around `=` (or "is" between numbers) becomes a chain of
segments. A segment is parsed by Python's `ast` only after it was rewritten into
placeholder names (`n0`, `s1`) and operators, and a walker accepts only numbers, symbols,
`+ - * / **`, unary minus and `sqrt`. Values are exact `Fraction`s; powers with
|exponent| > 100, results beyond 1e300 and anything unusual become "unknown" (None).
Limits count operations, never seconds, so a verdict does not depend on the machine's
load: step length (`MAX_STEP_CHARS`), lexer steps (`MAX_LEX_STEPS`, one per token matched),
segment length (`MAX_SEGMENT_TOKENS`) and nesting depth (`MAX_NESTING`).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from fractions import Fraction

MAX_STEP_CHARS = 4_000
MAX_LEX_STEPS = 12_000  # tokens one step's lexer may match (its boxed answer included)
MAX_SEGMENT_TOKENS = 64
MAX_NESTING = 24
MAX_NUMBER_CHARS = 32
MAX_EXPONENT = 100
MAX_MAGNITUDE = 10**300
MAX_DENOMINATOR_BITS = 1_000

_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi "
    "Sigma Phi Psi Omega".split()
)
_TEXT_CMDS = frozenset("text textbf textit textrm mathrm mathbf mbox operatorname".split())
_SKIP_CMDS = frozenset(["$", ",", ";", ":", "!", " ", "displaystyle", "left", "right"])
_REGION = re.compile(r"\\\[(.*?)\\\]|\\\((.*?)\\\)|\$\$(.*?)\$\$|\$([^$\n]*)\$", re.S)
_MATHY = re.compile(r"[\\^_{]")
_LEX = re.compile(
    r"[ \t\r\f\v]*(?:(?P<nl>\n)"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?![\d,])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<pct>[ \t]*\\?%)?"
    r"|(?P<cmd>\\[A-Za-z]+|\\.?)|(?P<pow>\*\*)|(?P<op>[-+*/^()\[\]{}=])"
    r"|(?P<word>[A-Za-z]+)|(?P<other>.))",
    re.S | re.A,  # ASCII digits only; other scripts' digits are not numbers here
)
_STATES = re.compile(r"\b(?:is|equals)\b[\s$&]*[\d(\[{\\.]", re.I)
_WORDY = re.compile(r"[A-Za-z]{3,}")
_LETTER = re.compile(r"[A-Za-z]")
_PARENS = {"[": "(", "{": "(", "]": ")", "}": ")"}


class Unparsable(Exception):
    """This piece of text holds no usable arithmetic."""


class OverBudget(Exception):
    """The step needs more lexer steps than `MAX_LEX_STEPS`."""


@dataclass(frozen=True)
class Tok:
    kind: str  # num sym op eq label func brk weak
    text: str
    value: Fraction | None = None
    region: int = -1  # math region id; -1 for plain text


BRK = Tok("brk", "")


class Lexer:
    """Tokens of one step; raises OverBudget past `max_steps` tokens matched in all."""

    def __init__(self, max_steps: int | None = None):
        self.max_steps = MAX_LEX_STEPS if max_steps is None else max_steps
        self.tokens: list[Tok] = []
        self.boxed: str | None = None
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise OverBudget

    def run(self, text: str) -> list[Tok]:
        pos = 0
        for region, m in enumerate(_REGION.finditer(text)):
            self.region(text[pos : m.start()], -1)
            body = next(g for g in m.groups() if g is not None)
            if m.group(4) is not None and not _is_math(body):
                self.region(m.group(0), -1)  # `$5 * 3 = $15`: dollars, not maths
            else:
                self.region(body, region)
            pos = m.end()
        self.region(text[pos:], -1)
        return resolve(self.tokens)

    def region(self, s: str, region: int) -> None:
        mark = len(self.tokens)
        try:
            self.lex(s, 0, len(s), region, 0, _braces(s))
        except Unparsable:
            del self.tokens[mark:]
            self.tokens.append(BRK)

    def emit(self, kind: str, text: str, region: int, value: Fraction | None = None) -> None:
        self.tokens.append(Tok(kind, text, value, region))

    def lex(self, s: str, pos: int, end: int, region: int, depth: int, match: dict) -> None:
        if depth > MAX_NESTING:
            raise Unparsable
        while pos < end:
            self.tick()
            m = _LEX.match(s, pos, end)
            if m is None:  # only trailing whitespace is left
                return
            pos, kind = m.end(), m.lastgroup
            text = m.group(kind)
            if kind == "word":
                self._word(text, region)
            elif kind == "op":
                self.emit("eq" if text == "=" else "op", _PARENS.get(text, text), region)
            elif kind in ("num", "pct"):
                self._number(m.group("num"), kind == "pct", region)
            elif kind == "cmd":
                pos = self._command(s, text[1:], pos, end, region, depth, match)
            elif kind == "pow":
                self.emit("op", "^", region)
            elif kind == "nl":
                if region < 0:
                    self.tokens.append(BRK)
            else:
                pos = self._other(s, text, pos, end, region)

    def _number(self, text: str, percent: bool, region: int) -> None:
        if len(text) > MAX_NUMBER_CHARS:
            self.tokens.append(BRK)
            return
        value = Fraction(text.replace(",", ""))
        self.emit("num", text, region, value / 100 if percent else value)

    def _word(self, word: str, region: int) -> None:
        if region >= 0:
            if len(word) <= 4:  # `2xy` is 2*x*y; longer runs are words (units)
                for ch in word:
                    self.emit("sym", ch, region)
            else:
                self.emit("label", word.lower(), region)
            return
        low = word.lower()
        if low in ("is", "equals"):
            self.emit("weak", "=", region)
        elif low in ("of", "times", "x"):
            self.emit("weak", "*", region)
        else:
            self.tokens.append(BRK)

    def _other(self, s: str, ch: str, pos: int, end: int, region: int) -> int:
        if ch in "$&":
            return pos
        last = self.tokens[-1] if self.tokens else None
        if ch == "_" and region >= 0 and last is not None and last.kind == "sym":
            a, b, pos = _arg(s, pos, end, {})
            sub = s[a:b].strip()
            if not sub.isalnum() or len(sub) > 8:
                raise Unparsable
            self.tokens[-1] = Tok("sym", f"{last.text}_{sub}", None, region)
            return pos
        self.tokens.append(BRK)
        return pos

    def _command(self, s, name, pos, end, region, depth, match) -> int:
        if name == "frac":
            self.emit("op", "(", region)
            for k in range(2):
                a, b, pos = _arg(s, pos, end, match)
                self.emit("op", "(", region)
                self.lex(s, a, b, region, depth + 1, match)
                self.emit("op", ")", region)
                if k == 0:
                    self.emit("op", "/", region)
            self.emit("op", ")", region)
        elif name == "sqrt" and s.startswith("[", pos):  # n-th roots: not handled
            close = s.find("]", pos, end)
            if close < 0:
                raise Unparsable
            pos = _arg(s, close + 1, end, match)[2]
            self.tokens.append(BRK)
        elif name == "sqrt":
            a, b, pos = _arg(s, pos, end, match)
            self.emit("func", "sqrt", region)
            self.emit("op", "(", region)
            self.lex(s, a, b, region, depth + 1, match)
            self.emit("op", ")", region)
        elif name in _TEXT_CMDS:
            a, b, pos = _arg(s, pos, end, match)
            words = " ".join(re.findall(r"[A-Za-z]+", s[a:b])).lower()
            if words:
                self.emit("label", words, region)
        elif name in ("boxed", "fbox"):
            a, b, pos = _arg(s, pos, end, match)
            self.boxed = s[a:b]
            self.emit("op", "(", region)
            self.lex(s, a, b, region, depth + 1, match)
            self.emit("op", ")", region)
        elif name in ("times", "cdot", "ast"):
            self.emit("op", "*", region)
        elif name == "div":
            self.emit("op", "/", region)
        elif name in _GREEK:
            self.emit("sym", name, region)
        elif name not in _SKIP_CMDS:
            self.tokens.append(BRK)
        return pos


def may_state_facts(text: str) -> bool:
    """False when `text` cannot hold an equation or a boxed answer (a cheap pre-check)."""
    return "=" in text or "box" in text or _STATES.search(text) is not None


def _is_math(body: str) -> bool:
    """Is `$body$` maths? `$a + b = 1$` and `$\\frac12$` are; `$5 * 3 = $15` and
    `$5 and $10` are dollars."""
    if _MATHY.search(body):
        return True
    return bool(_LETTER.search(body)) and not _WORDY.search(body)


def _braces(s: str) -> dict[int, int]:
    """Index of each `{` → index of its matching `}` (escaped braces ignored), in O(n)."""
    stack: list[int] = []
    match: dict[int, int] = {}
    escaped = False
    for i, ch in enumerate(s):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            match[stack.pop()] = i
    return match


def _arg(s: str, pos: int, end: int, match: dict) -> tuple[int, int, int]:
    """A LaTeX argument at `pos`: `{…}` or one character → (start, stop, next position)."""
    while pos < end and s[pos] in " \t":
        pos += 1
    if pos >= end:
        raise Unparsable
    if s[pos] == "{":
        close = match.get(pos)
        if close is None or close >= end:
            raise Unparsable
        return pos + 1, close, close + 1
    if s[pos].isalnum():
        return pos, pos + 1, pos + 1
    raise Unparsable


def _ends_operand(t: Tok | None) -> bool:
    return t is not None and (t.kind in ("num", "sym") or (t.kind == "op" and t.text == ")"))


def _starts_operand(t: Tok | None) -> bool:
    if t is None:
        return False
    return t.kind in ("num", "sym", "func") or (t.kind == "op" and t.text == "(")


def resolve(tokens: list[Tok]) -> list[Tok]:
    """Decide weak words ("is", "of", "x") and adjacent operands (implicit `*` or a break)."""
    out: list[Tok] = []
    for k, t in enumerate(tokens):
        prev = out[-1] if out else None
        if t.kind == "weak":
            nxt = tokens[k + 1] if k + 1 < len(tokens) else None
            fits = _ends_operand(prev) and _starts_operand(nxt)
            kind = ("eq" if t.text == "=" else "op") if fits else "brk"
            out.append(Tok(kind, t.text, None, t.region))
            continue
        if _ends_operand(prev) and _starts_operand(t):
            implicit = t.region >= 0 and t.region == prev.region and "num" != t.kind
            out.append(Tok("op", "*", None, t.region) if implicit else BRK)
        out.append(t)
    return out


# --- parsing and exact evaluation ---------------------------------------------------------

Key = tuple


def _ok(v: Fraction | None) -> Fraction | None:
    if v is None or abs(v.numerator) > MAX_MAGNITUDE * v.denominator:
        return None
    return None if v.denominator.bit_length() > MAX_DENOMINATOR_BITS else v


def _pow(b: Fraction | None, e: Fraction | None) -> Fraction | None:
    if b is None or e is None or e.denominator != 1 or abs(e) > MAX_EXPONENT:
        return None
    if b == 0 and e < 0:
        return None
    bits = max(b.numerator.bit_length(), b.denominator.bit_length())
    return _ok(b ** int(e)) if bits * abs(int(e)) <= 1_100 else None


def _sqrt(v: Fraction | None) -> Fraction | None:
    if v is None or v < 0:
        return None
    n, d = math.isqrt(v.numerator), math.isqrt(v.denominator)
    return Fraction(n, d) if n * n == v.numerator and d * d == v.denominator else None


def _neg(k: Key) -> Key:
    if k[0] == "n":
        return ("n", -k[1])
    return k[1] if k[0] == "-" else ("-", k)


def _inv(k: Key) -> Key:
    return k[1] if k[0] == "inv" else ("inv", k)


def _assoc(op: str, a: Key, b: Key) -> Key:
    """Flattened, order-free key: `3*4` and `4*3` (and `2/5*60`, `60*2/5`) share one key."""
    terms = (a[1] if a[0] == op else (a,)) + (b[1] if b[0] == op else (b,))
    return (op, tuple(sorted(terms, key=repr)))


def _binop(op: ast.operator, lk: Key, lv, rk: Key, rv) -> tuple[Key, Fraction | None]:
    both = lv is not None and rv is not None
    if isinstance(op, ast.Add):
        return _assoc("+", lk, rk), _ok(lv + rv) if both else None
    if isinstance(op, ast.Sub):
        return _assoc("+", lk, _neg(rk)), _ok(lv - rv) if both else None
    if isinstance(op, ast.Mult):
        return _assoc("*", lk, rk), _ok(lv * rv) if both else None
    if isinstance(op, ast.Div):
        return _assoc("*", lk, _inv(rk)), _ok(lv / rv) if both and rv != 0 else None
    if isinstance(op, ast.Pow):
        return ("^", lk, rk), _pow(lv, rv)
    raise Unparsable


def _walk(node: ast.AST, table: list[Tok]) -> tuple[Key, Fraction | None]:
    if isinstance(node, ast.Name) and node.id[0] in "ns":
        t = table[int(node.id[1:])]
        return (("n", t.value), t.value) if t.kind == "num" else (("s", t.text), None)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        k, v = _walk(node.operand, table)
        if isinstance(node.op, ast.UAdd):
            return k, v
        return _neg(k), (None if v is None else -v)
    if isinstance(node, ast.BinOp):
        lk, lv = _walk(node.left, table)
        rk, rv = _walk(node.right, table)
        return _binop(node.op, lk, lv, rk, rv)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "q"
        and len(node.args) == 1
        and not node.keywords
    ):
        k, v = _walk(node.args[0], table)
        return ("sqrt", k), _sqrt(v)
    raise Unparsable


def parse(tokens: list[Tok]) -> tuple[Key, Fraction | None] | None:
    """(canonical key, exact value or None) of an arithmetic segment; None if unparsable."""
    if not tokens or len(tokens) > MAX_SEGMENT_TOKENS:
        return None
    parts: list[str] = []
    table: list[Tok] = []
    depth = 0
    for t in tokens:
        if t.kind in ("num", "sym"):
            parts.append(f"{t.kind[0]}{len(table)}")  # n0, s1: placeholders, never model text
            table.append(t)
        elif t.kind == "func":
            parts.append("q")
        elif t.kind == "op":
            depth += (t.text == "(") - (t.text == ")")
            if depth > MAX_NESTING:
                return None
            parts.append("**" if t.text == "^" else t.text)
        else:
            return None
    try:
        return _walk(ast.parse(" ".join(parts), mode="eval").body, table)
    except (SyntaxError, ValueError, RecursionError, MemoryError, Unparsable):
        return None
