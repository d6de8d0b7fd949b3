"""A learned detector on cheap pair features: lexical ratios, numbers, symbolic facts.

Each step is analysed once per call (normalised text, its numbers, the numbers it adds to
the question and earlier steps, its `= result` values, its words, its symbolic facts); each
pair then costs a few rapidfuzz ratios and set operations. A gradient-boosted tree model
(LightGBM, trained by `train_features.train_feature_model`) maps the features to
P(equivalent). Every feature is symmetric in the two steps, so one prediction per pair
gives a symmetric verdict. A whole expansion of 10 siblings (45 pairs) takes a few
milliseconds on one core, where a cross-encoder needs a transformer forward per pair.

A model directory holds `model.txt` (LightGBM's text format, parsed without pickle) and
`features.json` (feature names, decision threshold, training record).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from .bands import Band, band_of, pair_group
from .base import Context, Verdict
from .normalize import normalize, normalize_math, pair_keys
from .quantity import Aboutness, Topic, code_apart, named_apart
from .symbolic import StepFacts, SymbolicDetector, labels_apart

MODEL_FILE = "model.txt"
# Length caps, so that a hostile step costs bounded work (counted in characters, never
# seconds): fuzzy ratios compare the first MAX_FUZZY_CHARS characters of the keys
# (`partial_ratio` grows with the cube of the length), and the line-based patterns read the
# first MAX_SCAN_CHARS of the text. Real steps (≤ ~1,200 characters at 256 tokens) are
# whole within both, so their features do not change.
MAX_FUZZY_CHARS = 2_000
MAX_SCAN_CHARS = 8_000
META_FILE = "features.json"
FEATURE_NAMES = (
    "ratio",
    "token_set_ratio",
    "token_sort_ratio",
    "partial_ratio",
    "number_jaccard",
    "same_number_multiset",
    "number_subset",
    "no_numbers",
    "number_count_gap",
    "new_number_jaccard",
    "same_new_numbers",
    "both_new_numbers",
    "word_jaccard",
    "length_ratio",
    "log_length_sum",
    "same_results",
    "both_results",
    "one_result",
    "symbolic",
    "both_claims",
    "one_boxed",
    "same_last_number",
    "question_overlap_min",
    "question_overlap_max",
    "new_words_min",
    "new_words_max",
    "new_words_gap",
    "listed",
    "word_count_min",
    "word_count_max",
    "extra_numbers_are_results",
    "code_steps",
    "assignments_min",
    "assignments_gap",
    "defines_variable",
    "mentions_code",
    "same_arithmetic",
    "named_apart",
    "extra_words_max",
    "labels_apart",
    "code_apart",
    "math_ratio",
)
NO_NUMBERS = FEATURE_NAMES.index("no_numbers")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_RESULT = re.compile(r"=\s*\$?\s*(\d+(?:\.\d+)?)")
# A stated result: "= 12", "is 12", "gives 12" (in a normalised text).
_STATED = re.compile(r"(?:=|\bis\b|\bgives\b|\bget\b|\bequals\b)\s*(\d+(?:\.\d+)?)")
_WORD = re.compile(r"[a-z]+")
# `[^\S\n]*`: blanks within the line, so a match never starts by sweeping blank lines
# (with `\s*`, 100,000 newlines cost 10^10 steps).
_ASSIGNMENT = re.compile(r"^[^\S\n]*[A-Za-z_]\w*\s*=\s*\S", re.M)
_DEFINES = re.compile(r"\b(?:denote|represent|let\s[^.\n]{1,20}?\sbe)\b", re.I)
_CODE_WORDS = re.compile(r"python|code", re.I)
_SYMBOLIC = {True: 1.0, False: -1.0, None: 0.0}
_LIST_ITEM = re.compile(r"\n[^\S\n]*(?:\d+\.|[-*])\s")
_MATH_OPEN = re.compile(r"\\\[|\\\(|\$\$?")
_MATH_CLOSE = {"\\[": "\\]", "\\(": "\\)", "$$": "$$", "$": "$"}
_MATH_LABEL = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{[^{}]*\}")
# Words that carry no content in an opening or planning step ("Let's break down the problem").
_FILLER = frozenset(
    "a an and are as be break by calculate determine do down find first follow for how in "
    "is it let many much need number of on problem s solve step steps the then these this "
    "to total us we will with".split()
)


def _canonical(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number.lstrip("0") or "0"


def numbers(text: str) -> list[str]:
    """The numbers of an already normalised text, in canonical form ("2.50" → "2.5")."""
    return [_canonical(n) for n in _NUMBER.findall(text)]


@dataclass(frozen=True)
class StepView:
    """What the features need from one step, computed once."""

    key: str
    numbers: Counter
    new_numbers: frozenset
    results: frozenset
    words: frozenset
    last: str | None
    facts: StepFacts
    question_overlap: float  # share of the step's words that occur in the question
    new_words: int  # distinct content words that are not in the question
    listed: bool  # lays out a numbered or bulleted list
    word_count: int
    stated: frozenset  # numbers stated as results ("= 12", "is 12")
    code: bool  # holds a code block or assignment lines
    assignments: int  # lines of the form `name = value`
    defines_variable: bool  # "let x be", "denote … as x"
    mentions_code: bool
    about: Aboutness  # the question's quantities it names, the words and numbers it adds
    maths: str = ""  # `math_key`: its displayed maths and program lines

    @classmethod
    def of(
        cls,
        text: str,
        known: frozenset,
        symbolic: SymbolicDetector,
        question_words: frozenset = frozenset(),
        topic: Topic | None = None,
    ) -> StepView:
        key = normalize(text)
        found = numbers(key)
        words = _WORD.findall(key)
        scan = text[:MAX_SCAN_CHARS]
        assignments = len(_ASSIGNMENT.findall(scan))
        about = Aboutness.of(text, topic or Topic(frozenset(), frozenset()))
        return cls(
            key=key,
            numbers=Counter(found),
            new_numbers=frozenset(found) - known,
            results=frozenset(_canonical(n) for n in _RESULT.findall(key)),
            words=frozenset(words),
            last=found[-1] if found else None,
            facts=symbolic.facts(text),
            question_overlap=sum(w in question_words for w in words) / max(1, len(words)),
            new_words=len(set(words) - question_words - _FILLER),
            listed=bool(_LIST_ITEM.search(scan)),
            word_count=len(words),
            stated=frozenset(_canonical(n) for n in _STATED.findall(key)),
            code="```" in text or assignments > 0,
            assignments=assignments,
            defines_variable=bool(_DEFINES.search(scan)),
            mentions_code=bool(_CODE_WORDS.search(text)),
            about=about,
            maths=math_key(text, about.code),
        )


def math_key(text: str, code: frozenset[str] = frozenset()) -> str:
    """The step's displayed maths (between `\\[ \\]`, `\\( \\)` or `$ $`, labels and
    spaces removed) followed by its program lines: what it computes, without the words.
    One left-to-right pass over the first `MAX_SCAN_CHARS` characters."""
    text = normalize_math(text[:MAX_SCAN_CHARS])
    parts, pos = [], 0
    while (m := _MATH_OPEN.search(text, pos)) is not None:
        end = text.find(_MATH_CLOSE[m.group()], m.end())
        if end < 0:
            break
        parts.append(text[m.end() : end])
        pos = end + len(_MATH_CLOSE[m.group()])
    maths = "".join(_MATH_LABEL.sub("", "".join(parts)).split())
    return maths + "".join(sorted(code))


def _math_ratio(a: str, b: str) -> float:
    """Similarity of two maths keys: 1 when neither holds maths, -1 when one only."""
    if not a or not b:
        return 1.0 if a == b else -1.0
    return fuzz.ratio(a[:MAX_FUZZY_CHARS], b[:MAX_FUZZY_CHARS]) / 100


def _jaccard(a: frozenset | set, b: frozenset | set) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _extra_numbers_are_results(a: StepView, b: StepView, sa: set, sb: set) -> float:
    """1 if the steps' numbers differ, and only by results one of them states ("4 × 3"
    against "4 × 3 = 12")."""
    only_a, only_b = sa - sb, sb - sa
    return float(bool(only_a or only_b) and only_a <= a.stated and only_b <= b.stated)


def pair_features(
    a: StepView, b: StepView, symbolic_verdict: bool | None, same_arithmetic: bool = False
) -> list[float]:
    """The feature vector of a pair, in `FEATURE_NAMES` order (symmetric in a, b)."""
    sa, sb = set(a.numbers), set(b.numbers)
    la, lb = len(a.key), len(b.key)
    ka, kb = a.key[:MAX_FUZZY_CHARS], b.key[:MAX_FUZZY_CHARS]
    return [
        fuzz.ratio(ka, kb) / 100,
        fuzz.token_set_ratio(ka, kb) / 100,
        fuzz.token_sort_ratio(ka, kb) / 100,
        max(fuzz.partial_ratio(ka, kb), fuzz.partial_ratio(kb, ka)) / 100,
        _jaccard(sa, sb),
        float(a.numbers == b.numbers),
        float(sa <= sb or sb <= sa),
        float(not sa and not sb),
        float(abs(len(sa) - len(sb))),
        _jaccard(a.new_numbers, b.new_numbers),
        float(a.new_numbers == b.new_numbers),
        float(bool(a.new_numbers) and bool(b.new_numbers)),
        _jaccard(a.words, b.words),
        min(la, lb) / max(1, la, lb),
        math.log1p(la) + math.log1p(lb),
        float(a.results == b.results),
        float(bool(a.results) and bool(b.results)),
        float(bool(a.results) != bool(b.results)),
        _SYMBOLIC[symbolic_verdict],
        float(bool(a.facts.claims) and bool(b.facts.claims)),
        float((a.facts.boxed is None) != (b.facts.boxed is None)),
        float(a.last is not None and a.last == b.last),
        min(a.question_overlap, b.question_overlap),
        max(a.question_overlap, b.question_overlap),
        float(min(a.new_words, b.new_words)),
        float(max(a.new_words, b.new_words)),
        float(abs(a.new_words - b.new_words)),
        float(a.listed + b.listed),
        float(min(a.word_count, b.word_count)),
        float(max(a.word_count, b.word_count)),
        _extra_numbers_are_results(a, b, sa, sb),
        float(a.code + b.code),
        float(min(a.assignments, b.assignments)),
        float(abs(a.assignments - b.assignments)),
        float(a.defines_variable + b.defines_variable),
        float(a.mentions_code + b.mentions_code),
        float(same_arithmetic),
        float(named_apart(a.about, b.about)),
        float(max(len(a.about.words - b.about.words), len(b.about.words - a.about.words))),
        float(labels_apart(a.facts, b.facts)),
        float(code_apart(a.about, b.about)),
        _math_ratio(a.maths, b.maths),
    ]


class FeatureExtractor:
    """Feature rows for the pairs of one expansion (steps analysed once each)."""

    def __init__(self, symbolic: SymbolicDetector | None = None):
        self.symbolic = symbolic or SymbolicDetector()

    def known_numbers(self, context: Context) -> frozenset:
        texts = (context.question, *context.prefix)
        return frozenset(n for t in texts if t for n in numbers(normalize(t)))

    def rows(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[list[float]]:
        if not pairs:
            return []
        known = self.known_numbers(context)
        asked = frozenset(_WORD.findall(normalize(context.question or "")))
        topic = Topic.of(context.question or "", tuple(context.prefix))
        views = pair_keys(
            steps, pairs, lambda t: StepView.of(t, known, self.symbolic, asked, topic)
        )
        verdicts = self.symbolic.compare_detailed(steps, pairs, context)
        return [
            pair_features(views[i], views[j], v.equivalent, maths)
            for (i, j), (v, maths) in zip(pairs, verdicts, strict=True)
        ]


def read_meta(model_dir: str | Path) -> dict:
    path = Path(model_dir) / META_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    names = tuple(meta.get("feature_names", ()))
    if names != FEATURE_NAMES:
        raise ValueError(
            f"{path} was trained on other features ({len(names)} names); retrain it with "
            "`equivpruner train-detector --kind features`"
        )
    return meta


class FeatureDetector:
    """P(equivalent) from a trained LightGBM model over `FEATURE_NAMES`.

    `operating_point` ("prune" or the stricter "stop") picks the bands recorded in
    `features.json` (`bands`: one per kind of pair); `threshold=` instead merges at that
    probability with no band. `threshold` and `reject_below` hold the overall band.
    """

    name = "features"

    def __init__(
        self,
        model_dir: str | Path,
        threshold: float | None = None,
        operating_point: str = "prune",
    ):
        import lightgbm

        self.model_dir = Path(model_dir)
        self.meta = read_meta(self.model_dir)
        self.use(operating_point)
        if threshold is not None:
            self.band = Band(float(threshold), float(threshold))
            self.reject_below = self.threshold = float(threshold)
        self.booster = lightgbm.Booster(model_file=str(self.model_dir / MODEL_FILE))
        self.extractor = FeatureExtractor()

    def use(self, operating_point: str) -> None:
        """Switch to the bands of `operating_point` ("prune" or "stop")."""
        self.band = band_of(self.meta, operating_point)
        self.reject_below, self.threshold = self.band.reject_below, self.band.merge_at
        self.operating_point = operating_point

    def decide(self, p: float, group: str | None = None) -> bool | None:
        """True at or above the merge point of the pair's group, False below its band,
        None inside it."""
        return self.band.decide(p, group)

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if not rows:
            return []
        import numpy as np

        x = np.asarray(rows, dtype=np.float64)
        return [float(p) for p in self.booster.predict(x, num_threads=1)]

    def compare(
        self, steps: Sequence[str], pairs: Sequence[tuple[int, int]], context: Context
    ) -> list[Verdict]:
        rows = self.extractor.rows(steps, pairs, context)
        probs = self.probabilities(rows)
        opening = not context.prefix
        return [
            Verdict(i, j, self.decide(p, pair_group(opening, row[NO_NUMBERS] == 1.0)), p, self.name)
            for (i, j), p, row in zip(pairs, probs, rows, strict=True)
        ]
