"""Text normalisation shared by the detectors.

Two levels:

- `normalize_math(text)` keeps case and structure but removes what never changes meaning:
  unicode confusables (NFKC, fullwidth digits, Cyrillic/Greek look-alikes, the `−` minus),
  zero-width characters, LaTeX spacing (`\\,` `\\;` `\\ ` `\\quad`), `\\left`/`\\right`,
  `\\dfrac`/`\\tfrac` (→ `\\frac`), markdown bold, and every multiplication sign
  (`\\times` `\\cdot` `×` `·` `*`) becomes `*`.
- `normalize(text)` is the comparison key used by the exact and lexical detectors: on top of
  `normalize_math` it drops markdown headers, list numbering and "Step 1:" labels, math
  delimiters, `\\text{…}` wrappers, `$`, punctuation and case, and unifies spacing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

MAX_NORMALIZE_CHARS = 20_000

# Look-alikes NFKC leaves alone: Cyrillic and Greek letters drawn like Latin ones, dashes
# used as minus signs, and multiplication/division signs.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
        "ο": "o", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K",
        "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
        "\u2014": "-", "\ufe63": "-",
        "×": "*", "·": "*", "\u22c5": "*", "\u2219": "*", "\u2217": "*", "÷": "/",
        "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
        "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
    }
)  # fmt: skip

_SPACING = re.compile(r"\\[,;:>]|\\ |\\q?quad(?![a-zA-Z])|\\enspace(?![a-zA-Z])")
_NEG_SPACE = re.compile(r"\\!")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])\.?")
_FRAC = re.compile(r"\\[dt]frac(?![a-zA-Z])")
# Patterns below run on text whose spaces are already collapsed: ` ?` instead of `\s*`
# keeps them linear on long runs of blanks.
_TIMES = re.compile(r" ?(?:\\times|\\cdot|\\ast)(?![a-zA-Z]) ?")
_STAR = re.compile(r" ?(?<!\*)\*(?!\*) ?")
# Markdown bold on one line (bounded, so no quadratic scans), never `**` as in `9**9`.
_BOLD = re.compile(r"(?<![\w*])(\*\*|__)(?=\S)([^\n]{0,150}?\S)\1(?![\w*])")
_HSPACE = re.compile(r"[ \t\f\v]+")

_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]*", re.M)
_NUMBERING = re.compile(
    r"^[ \t]*(?:[-+•*](?=[ \t])|\d{1,3}[.)](?!\d)|step[ \t]*\d{1,3}[ \t]*[:.)-]?)[ \t]*",
    re.M | re.I,
)
_DELIMS = re.compile(r"\\[\[\]()]|\$")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\{([^{}]*)\}"
)
_ESCAPED = re.compile(r"\\([%$#&_])")
_WORD_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PUNCT = re.compile(r"[,:;!?\"'`]|(?<!\d)\.|\.(?!\d)")
_OP_SPACE = re.compile(r" ?([-+*/=^<>|]) ?")
_SPACE = re.compile(r"\s+")


def normalize_unicode(text: str) -> str:
    """NFKC plus the look-alike table (fullwidth digits, Cyrillic letters, `−`)."""
    return unicodedata.normalize("NFKC", text).translate(_CONFUSABLES)


def normalize_math(text: str) -> str:
    """Meaning-preserving clean-up that keeps case, lines and LaTeX structure."""
    text = _HSPACE.sub(" ", normalize_unicode(text))
    text = _BOLD.sub(r"\2", text)
    text = _SPACING.sub(" ", text)
    text = _NEG_SPACE.sub("", text)
    text = _LEFT_RIGHT.sub("", text)
    text = _FRAC.sub(r"\\frac", text)
    text = _TIMES.sub(" * ", text)
    text = _STAR.sub(" * ", text)
    return _HSPACE.sub(" ", text).strip()


@lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """The comparison key: equal keys mean the steps say the same thing in the same words.

    Results are memoised (the cascade's stages and the features detector share them).

    Only the first `MAX_NORMALIZE_CHARS` characters are normalised; a longer step's key ends
    with a digest of the rest, so such steps match only if their tails are identical.
    """
    tail = ""
    if len(text) > MAX_NORMALIZE_CHARS:
        digest = hashlib.sha256(text[MAX_NORMALIZE_CHARS:].encode("utf-8", "replace"))
        text, tail = text[:MAX_NORMALIZE_CHARS], f" #{digest.hexdigest()[:16]}"
    text = normalize_math(text)
    text = _HEADER.sub("", text)
    text = _NUMBERING.sub("", text)
    text = _TEXT_CMD.sub(r" \1 ", text)
    text = _ESCAPED.sub(r"\1", text)
    text = _DELIMS.sub(" ", text)
    text = text.lower()
    text = _WORD_HYPHEN.sub(" ", text)
    text = _THOUSANDS.sub("", text)
    text = _SPACE.sub(" ", _PUNCT.sub(" ", text))
    return _OP_SPACE.sub(r"\1", text).strip() + tail


def pair_keys(steps, pairs, key) -> dict:
    """`key(step)` for every step index that appears in `pairs`, each computed once."""
    return {k: key(steps[k]) for k in sorted({k for pair in pairs for k in pair})}
