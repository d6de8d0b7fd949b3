"""The arithmetic check: a verifier that needs no model.

A small policy often writes a right plan with a wrong sum (`60 + 180 + 54 = 304`); the chain
that follows is almost always wrong (on vanilla MCTS's dev trees of issue #24, all 93
complete solutions holding such a step were wrong, against 147 of the 301 others). The
check reads every equality a step states with `equiv.symbolic` (parsed safely, never
evaluated as code) and calls it false when the left side, computed exactly, is not the
stated number: not within 0.5 % of it, and not within half a unit of the stated number's
last decimal place (so `10 / 3 = 3.33` and `30 / 13.5 = 2` pass as rounding), and not the
stated number read as a per cent (`12 / 20 × 100 = 60%`). Anything the parser does not read
passes: the check only ever speaks against a step it has read.

With `SearchConfig.arithmetic_check`, expansion discards a sampled step that states false
arithmetic (its tokens still count) and draws on, and the tree vote leaves out solutions
holding such a step unless every solution does.
"""

from __future__ import annotations

from fractions import Fraction

from ..equiv.symbolic import stated_equalities
from .tree import Node, Tree

RELATIVE_TOLERANCE = Fraction(1, 200)
MAX_DECIMALS = 12


def _decimals(x: Fraction) -> int | None:
    """Decimal places of a terminating decimal; None when it does not terminate soon."""
    for d in range(MAX_DECIMALS + 1):
        if (x * 10**d).denominator == 1:
            return d
    return None


def _rounds_to(computed: Fraction, stated: Fraction) -> bool:
    if abs(computed - stated) <= RELATIVE_TOLERANCE * max(abs(computed), abs(stated)):
        return True
    d = _decimals(stated)
    return d is not None and abs(computed - stated) <= Fraction(1, 2 * 10**d)


def consistent(computed: Fraction, stated: Fraction) -> bool:
    """Whether `stated` is `computed` or a rounding of it, read as a number or as a per cent
    (`12 / 20 × 100 = 60%`: the parser reads 60% as 0.6, the writer meant 60)."""
    return _rounds_to(computed, stated) or _rounds_to(computed, stated * 100)


def false_equalities(text: str) -> int:
    """How many equalities `text` states that its own arithmetic contradicts."""
    return sum(not consistent(c, s) for c, s in stated_equalities(text))


def flawed_solution(tree: Tree, node: Node) -> bool:
    """Whether a step on the path to `node` states false arithmetic."""
    return any(false_equalities(step) for step in tree.steps_to(node))


def checked_solutions(tree: Tree, leaves: list[Node]) -> list[Node]:
    """The solutions a checked vote counts: those without false arithmetic, or all of them
    when every one has some."""
    return [n for n in leaves if not flawed_solution(tree, n)] or leaves
