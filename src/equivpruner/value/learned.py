"""A step value learned from the search's own trees, asking no model (spec `learned:DIR`).

On this policy the self-evaluation value orders labelled sibling steps right less often than
a coin (RESULTS 20.2). This value reads what can be checked in a step's text: its
arithmetic (`search.check`), whether its operands come from the question or earlier steps,
how much of the question's quantities and words the solution has used, whether it repeats a
step, and for a final step whether the answer is a whole number that the solution computed.
With the policy's confidence in the step (mean and least token log-prob, entropy: what
the search recorded on the sample; missing when a backend gives none) a LightGBM model maps
these to P(a solution through the step is right), fitted to the Monte Carlo labels
(`value.labels`) of trees of TRAIN problems (`benchmarks/fit_step_value.py`). It costs no
tokens and no forward pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from ..answers import extract_boxed
from ..equiv.normalize import normalize
from ..equiv.quantity import Aboutness, Topic, numbers_in
from ..equiv.symbolic import stated_equalities
from ..search.check import false_equalities
from ..search.stats import SearchStats

VALUE_FORMAT = "equivpruner.step-value/1"
MODEL_FILE, META_FILE = "model.txt", "meta.json"
FEATURES = (
    "depth", "words", "answer", "false_arithmetic", "false_before", "equalities",
    "unexplained_numbers", "question_numbers_used", "question_words_used", "repeats",
    "answer_whole", "answer_computed", "mean_logprob", "min_logprob", "entropy",
)  # fmt: skip
# Numbers a step may use without the question stating them (units, per cents, halves).
CONSTANTS = frozenset({"0", "1", "2", "3", "4", "5", "6", "7", "10", "12", "24", "30", "52",
                       "60", "100", "365", "1000", "0.5", "0.25"})  # fmt: skip
MAX_WORDS = 200


def _canonical(x: Fraction) -> str | None:
    """A number as `quantity.numbers_in` writes it, when it is a short decimal."""
    for places in range(7):
        scaled = x * 10**places
        if scaled.denominator == 1:
            text = f"{scaled.numerator / 10**places:.{places}f}" if places else str(x.numerator)
            return text.rstrip("0").rstrip(".") if "." in text else text
    return None


def _results(equalities: Sequence[tuple[Fraction, Fraction]]) -> set[str]:
    """The numbers a step states as results of its own arithmetic (`stated_equalities`)."""
    out = set()
    for computed, stated in equalities:
        out |= {c for c in (_canonical(computed), _canonical(stated)) if c is not None}
    return out


def _answer_number(step: str) -> Fraction | None:
    boxed = extract_boxed(step)
    if boxed is None:
        return None
    text = boxed.replace(",", "").replace("\\$", "").replace("$", "").strip().rstrip(".")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _or_nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def step_features(
    question: str, prefix: Sequence[str], step: str, confidence: Sequence | None = None
) -> list[float]:
    """The features of one step, in `FEATURES` order (bounded work: the parsers and the
    normaliser read a bounded prefix of each text). `confidence`: the sample's (mean
    log-prob, min log-prob, entropy), each None when unknown."""
    topic = Topic.of(question, tuple(prefix))
    about = Aboutness.of(step, topic)
    question_numbers = numbers_in(normalize(question)) if question else frozenset()
    used = set().union(*(numbers_in(normalize(t)) for t in [*prefix, step] if t))
    earlier = set().union(*(_results(stated_equalities(p)) for p in prefix)) if prefix else set()
    equalities = stated_equalities(step)
    own = _results(equalities)
    answer = _answer_number(step)
    stated = earlier | own
    keys = {normalize(p) for p in prefix}
    return [
        float(len(prefix) + 1),
        float(min(len(step.split()), MAX_WORDS)),
        float(extract_boxed(step) is not None),
        float(false_equalities(step) > 0),
        float(any(false_equalities(p) for p in prefix)),
        float(len(equalities)),
        float(len(about.numbers - own - CONSTANTS)),
        len(question_numbers & used) / len(question_numbers) if question_numbers else 1.0,
        len(about.named) / len(topic.words) if topic.words else 0.0,
        float(normalize(step) in keys),
        -1.0 if answer is None else float(answer.denominator == 1 and answer >= 0),
        -1.0 if answer is None else float(_canonical(answer) in stated),
        *(_or_nan(x) for x in (confidence or (None, None, None))),
    ]


class LearnedValue:
    """Scores steps with a fitted booster; `load` reads a dir written by `save_model`."""

    name = "learned"

    def __init__(self, booster, source: str = "", output: str = "probability"):
        self.booster = booster
        self.source = source
        self.output = output  # "sigmoid": a ranking model's scores, mapped into (0, 1)

    @classmethod
    def load(cls, model_dir: str | Path) -> LearnedValue:
        import lightgbm

        model_dir = Path(model_dir)
        meta_path = model_dir / META_FILE
        if not meta_path.is_file():
            raise ValueError(f"{model_dir}: no {META_FILE}; not a learned step value")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != VALUE_FORMAT or tuple(meta.get("features", ())) != FEATURES:
            raise ValueError(f"{model_dir}: not a step value of this version ({VALUE_FORMAT})")
        booster = lightgbm.Booster(model_file=str(model_dir / MODEL_FILE))
        return cls(booster, str(model_dir), meta.get("output", "probability"))

    def score(
        self, question: str, prefix: Sequence[str], candidates: Sequence[str], stats: SearchStats
    ) -> list[float]:
        """Scores from the texts alone (the confidence features missing)."""
        return self._predict([step_features(question, prefix, c) for c in candidates], stats)

    def score_samples(
        self, question: str, prefix: Sequence[str], samples: Sequence, stats: SearchStats
    ) -> list[float]:
        """Scores of sampled steps with their confidence (`.text`, `.logprob`,
        `.min_logprob`, `.entropy`, as the expansion's candidates carry them)."""
        rows = [
            step_features(question, prefix, c.text, (c.logprob, c.min_logprob, c.entropy))
            for c in samples
        ]
        return self._predict(rows, stats)

    def _predict(self, rows: list[list[float]], stats: SearchStats) -> list[float]:
        if not rows:
            return []
        with stats.timed("value"):
            values = self.booster.predict(rows)
        stats.phases["value"].calls += 1
        if self.output == "sigmoid":
            return [1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, float(v))))) for v in values]
        return [min(1.0, max(0.0, float(v))) for v in values]


def save_model(booster, model_dir: str | Path, provenance: dict) -> None:
    """Write a fitted booster and what it was fitted on."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILE))
    meta = {"format": VALUE_FORMAT, "features": list(FEATURES), **provenance}
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
