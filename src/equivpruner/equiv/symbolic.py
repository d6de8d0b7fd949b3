"""Symbolic detector: compare the arithmetic two sibling steps state.

Facts of a step (parsed safely by `mathfacts`, never evaluated as code):

- claims: canonical expression → the value the step says it equals (`2/5*60 = 24`). Keys
  ignore operand order of `+` and `*`, so `3*4` ≡ `4*3` and `2/5*60` ≡ `60*2/5`; `25%` and
  `0.25` are the same number. A running chain `60-24 = 36-9 = 27` is read as
  `60-24 = 36` and `36-9 = 27`.
- labels: `\\text{Remaining hats} = 100 - 50 = 50` → "remaining hats" → 50.
- equations with unknowns (`4b + 2y + r = 32`) and the boxed answer.

Decision (symmetric in the two steps):

- False, decisively, when the steps claim different values for the same expression or the
  same label, or box different numbers (0.5 % relative tolerance, for rounded decimals).
- True when both steps were analysed completely and state the same non-empty set of claims,
  equations and boxed answer, *and* are about the same thing (`quantity.same_subject`): they
  add the same numbers to those of the question and earlier steps (no claim one of them makes
  in words or in maths the parser did not read), and neither names a quantity of the
  question the other does not while the other names one it does not ("top shelf has
  20 − 5 = 15" against "bottom shelf has 20 − 5 = 15"). The same arithmetic about different
  things is None, probability `SAME_MATHS`: a later stage decides, and the features model
  sees it. Facts the question or earlier steps already state are left out first: restating
  a given is not a computation.
- None otherwise. In particular the same result reached by different operations
  (`60-24=36` vs `60*3/5=36`) is None: an equal number alone does not show that the same
  quantity was computed (`20/2=10` robots vs `5*2=10` footballs), so a later stage decides.
  Commuted operands (`3*4=12` vs `4*3=12`) are the same computation, hence True.

Budget, counted in operations so that a pair gets the same verdict on any machine under any
load: each step's first `MAX_STEP_CHARS` characters, at most `MAX_LEX_STEPS` lexer steps,
`MAX_SEGMENT_TOKENS` tokens per expression and `MAX_NESTING` levels of brackets. A step cut
short never supports "equivalent".
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from .base import Context, Verdict
from .mathfacts import (
    MAX_STEP_CHARS,
    Key,
    Lexer,
    OverBudget,
    Tok,
    may_state_facts,
    parse,
    resolve,
)
from .normalize import normalize, normalize_math
from .quantity import Aboutness, Topic, content_stems, same_subject

_TOLERANCE = Fraction(1, 200)
SAME_MATHS = 0.75  # the probability of an undecided pair whose arithmetic agrees
_BULLET = re.compile(r"^([ \t]*)[-*+•](?=[ \t])", re.M)  # "- item" is no minus sign
# Maths the parser does not read (matrices, vectors, cases): a step holding it is never
# "completely analysed", so it cannot support "equivalent".
_UNREAD = re.compile(r"\\begin\{(?:[pbvBV]?matrix|smallmatrix|cases|array)\}")


@dataclass
class StepFacts:
    """What one step states; `complete` is False if it was cut short (length or lexer steps)."""

    claims: dict[Key, Fraction] = field(default_factory=dict)
    labels: dict[str, Fraction] = field(default_factory=dict)
    equations: set[frozenset] = field(default_factory=set)
    boxed: tuple | None = None
    complete: bool = True
    over_budget: bool = False  # the lexer ran out of steps: nothing was kept
    stated: set[tuple[Key, Fraction]] = field(default_factory=set)  # every claim, every value

    def signature(self, given: StepFacts | None = None) -> tuple:
        """What the step states beyond `given` (facts of the question and earlier steps)."""
        claims, equations = self.claims.items(), self.equations
        if given is not None:
            claims = [(k, v) for k, v in claims if (k, v) not in given.stated]
            equations = equations - given.equations
        return (frozenset(claims), frozenset(equations), self.boxed)

    def merge(self, other: StepFacts) -> None:
        for k, v in other.claims.items():
            self.claims.setdefault(k, v)
        for k, v in other.labels.items():
            self.labels.setdefault(k, v)
        self.equations |= other.equations
        self.stated |= other.stated


@dataclass(frozen=True)
class _Seg:
    key: Key | None = None
    value: Fraction | None = None
    label: str | None = None
    lead: Fraction | None = None  # the leading number, to spot running chains

    @property
    def literal(self) -> bool:
        return self.key is not None and self.key[0] == "n"


def _split(tokens: list[Tok], kind: str) -> list[list[Tok]]:
    parts: list[list[Tok]] = [[]]
    for t in tokens:
        if t.kind == kind:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def _trim(core: list[Tok], left: bool, right: bool) -> list[Tok]:
    """Drop dangling operators and unmatched parentheses at a chain's outer ends."""
    if left:
        while core and core[0].kind == "op" and core[0].text in ")*/^+":
            core = core[1:]
        excess = sum(t.text == "(" for t in core) - sum(t.text == ")" for t in core)
        while excess > 0 and core and core[0].text == "(":
            core, excess = core[1:], excess - 1
    if right:
        while core and core[-1].kind == "op" and core[-1].text in "(*/^+-":
            core = core[:-1]
        excess = sum(t.text == ")" for t in core) - sum(t.text == "(" for t in core)
        while excess > 0 and core and core[-1].text == ")":
            core, excess = core[:-1], excess - 1
    return core


def _segments(parts: list[list[Tok]]) -> list[_Seg]:
    segs = []
    for n, toks in enumerate(parts):
        labels = [t.text for t in toks if t.kind == "label"]
        core = _trim([t for t in toks if t.kind != "label"], n == 0, n == len(parts) - 1)
        if not core:
            segs.append(_Seg(label=" ".join(labels) or None))
            continue
        parsed = parse(core)
        if parsed is None:
            segs.append(_Seg())
        else:
            lead = core[0].value if core[0].kind == "num" else None
            segs.append(_Seg(parsed[0], parsed[1], None, lead))
    return segs


def _claim(segs: list[_Seg], i: int) -> Fraction | None:
    """The value segment `i` is said to equal (from its neighbours in the chain)."""
    s = segs[i]
    nxt = segs[i + 1] if i + 1 < len(segs) else None
    if nxt is not None and nxt.key is not None:
        if nxt.literal or nxt.value is None:
            return nxt.value
        if s.value is not None and s.value != nxt.value and nxt.lead == s.value:
            return s.value  # running chain: `60-24 = 36-9 = 27`
        return nxt.value
    prev = segs[i - 1] if i > 0 else None
    if nxt is None and prev is not None and prev.literal:
        return prev.value  # `24 = 2/5*60`
    return None


def _chain(segs: list[_Seg], facts: StepFacts) -> None:
    final = next((s.value for s in reversed(segs) if s.literal), None)
    for i, s in enumerate(segs):
        if s.label:
            nxt = segs[i + 1] if i + 1 < len(segs) else None
            value = final if final is not None else (nxt.value if nxt else None)
            if value is not None:
                facts.labels.setdefault(s.label, value)
        elif s.key is not None and not s.literal:
            value = _claim(segs, i)
            if value is not None:
                facts.claims.setdefault(s.key, value)
                facts.stated.add((s.key, value))
    exprs = [s for s in segs if s.key is not None]
    keys = frozenset(s.key for s in exprs)
    if any(s.value is None for s in exprs) and len(keys) >= 2:
        facts.equations.add(keys)


def _boxed(raw: str, spent: Lexer) -> tuple:
    lexer = Lexer(spent.max_steps - spent.steps)  # the step's budget, what is left of it
    lexer.region(raw, 0)
    tokens = resolve(lexer.tokens)
    parsed = parse(tokens) if all(t.kind in ("num", "sym", "op", "func") for t in tokens) else None
    if parsed is not None and parsed[1] is not None:
        return ("num", parsed[1])
    return ("text", normalize(raw))


def _chains(text: str, lexer: Lexer) -> list[list[_Seg]] | None:
    """The step's chains of `=`-separated segments, one per line or sentence that states an
    equality (None when it states no facts at all); OverBudget past the lexer's steps."""
    text = normalize_math(text[:MAX_STEP_CHARS])
    if not may_state_facts(text):
        return None
    tokens = lexer.run(_BULLET.sub(r"\1", text))
    parts = [_split(run, "eq") for run in _split(tokens, "brk")]
    return [_segments(p) for p in parts if len(p) >= 2]


def analyse(text: str) -> StepFacts:
    """The facts of one step (an incomplete, empty result past the lexer's step budget)."""
    lexer = Lexer()
    complete = len(text) <= MAX_STEP_CHARS and _UNREAD.search(text[:MAX_STEP_CHARS]) is None
    facts = StepFacts(complete=complete)
    try:
        chains = _chains(text, lexer)
        if chains is None:
            return facts
        for segs in chains:
            _chain(segs, facts)
        if lexer.boxed is not None:
            facts.boxed = _boxed(lexer.boxed, lexer)
    except OverBudget:
        return StepFacts(complete=False, over_budget=True)
    return facts


def stated_equalities(text: str) -> list[tuple[Fraction, Fraction]]:
    """(computed, stated) for every expression of the step whose value the parser computed
    exactly and that the step says equals a number (`72 * 1.2 = 86` gives (86.4, 86)), read
    as `analyse` reads claims; empty past the step's budget."""
    try:
        chains = _chains(text, Lexer()) or []
    except OverBudget:
        return []
    out = []
    for segs in chains:
        for i, s in enumerate(segs):
            stated = None if s.key is None or s.literal or s.value is None else _claim(segs, i)
            if stated is not None:
                out.append((s.value, stated))
    return out


def _close(a: Fraction, b: Fraction) -> bool:
    return abs(a - b) <= _TOLERANCE * max(abs(a), abs(b))


def conflict(a: StepFacts, b: StepFacts) -> bool:
    """True when the steps state different values for the same expression, label or answer."""
    for mine, theirs in ((a.claims, b.claims), (a.labels, b.labels)):
        if any(not _close(mine[k], theirs[k]) for k in mine.keys() & theirs.keys()):
            return True
    x, y = a.boxed, b.boxed
    return x is not None and y is not None and x[0] == y[0] == "num" and not _close(x[1], y[1])


def decide(a: StepFacts, b: StepFacts, given: StepFacts | None = None) -> tuple[bool | None, float]:
    """(equivalent, probability) for two steps' facts; see the module docstring.

    Facts already in `given` (restated from the question or earlier steps) do not count
    as evidence of equivalence.
    """
    return _decide(a, b, a.signature(given), b.signature(given))


def labels_apart(a: StepFacts, b: StepFacts) -> bool:
    """Each step names its results with a word the other's names lack ("processing fee =
    50 − 10" against "taxable amount = 50 − 10"): the same arithmetic about other things."""
    mine, theirs = content_stems(a.labels), content_stems(b.labels)
    return bool(mine - theirs) and bool(theirs - mine)


def _decide(a: StepFacts, b: StepFacts, mine: tuple, theirs: tuple) -> tuple[bool | None, float]:
    if conflict(a, b):
        return False, 0.0
    if a.complete and b.complete and any(mine) and mine == theirs:
        return True, 1.0
    return None, 0.5


class FactsCache:
    """A bounded, thread-safe LRU of step facts."""

    def __init__(self, size: int = 8192):
        self.size = size
        self._items: OrderedDict[tuple, StepFacts] = OrderedDict()
        self._lock = threading.Lock()
        self.given: dict[tuple, StepFacts] = {}  # facts of recent contexts, oldest first

    def get(self, text: str) -> StepFacts:
        key = text[: MAX_STEP_CHARS + 1]  # what `analyse` reads, and whether it was cut
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        found = analyse(text)
        with self._lock:
            self._items[key] = found
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.given.clear()


SHARED_FACTS = FactsCache()  # the cascade's symbolic stage and the features detector share it


class SymbolicDetector:
    """Decides pairs whose arithmetic agrees or clashes; None when the maths can't tell."""

    name = "symbolic"

    def __init__(self, cache: FactsCache | None = None):
        self.cache = SHARED_FACTS if cache is None else cache

    def facts(self, text: str) -> StepFacts:
        return self.cache.get(text)

    def given(self, context: Context) -> StepFacts:
        """Facts of the question and the steps before the siblings (memoised per context:
        the cascade's stage and the features detector both ask)."""
        key = (context.question, tuple(context.prefix))
        found = self.cache.given.get(key)
        if found is None:
            found = StepFacts()
            for part in [self.facts(t) for t in (key[0], *key[1]) if t]:
                found.merge(part)
            self.cache.given[key] = found
            while len(self.cache.given) > 64:
                self.cache.given.pop(next(iter(self.cache.given)), None)
        return found

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        return [v for v, _ in self.compare_detailed(steps, pairs, context)]

    def compare_detailed(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[tuple[Verdict, bool]]:
        """(verdict, whether the arithmetic agrees) per pair; the verdict merges only when
        the steps are also about the same thing (`quantity.same_subject`)."""
        facts: dict[int, StepFacts] = {}
        sigs: dict[int, tuple] = {}
        about: dict[int, Aboutness] = {}
        given = self.given(context) if pairs else None
        topic = Topic.of(context.question or "", tuple(context.prefix)) if pairs else None
        out = []
        for i, j in pairs:
            for k in (i, j):
                if k not in facts:
                    facts[k] = self.facts(steps[k])
                    sigs[k] = facts[k].signature(given)
            equivalent, probability = _decide(facts[i], facts[j], sigs[i], sigs[j])
            maths = equivalent is True
            if maths:
                for k in (i, j):
                    if k not in about:
                        about[k] = Aboutness.of(steps[k], topic)
                if labels_apart(facts[i], facts[j]) or not same_subject(about[i], about[j]):
                    equivalent, probability = None, SAME_MATHS
            out.append((Verdict(i, j, equivalent, probability, self.name), maths))
        return out
