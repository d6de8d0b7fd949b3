"""The `solve` options: their choices and ranges, checked before any model loads.

Choices are Enums (so `--help` lists them); ranges are checked by click or by the
callbacks here, and every failure is one `error:` line with exit code 2 (`common`).
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

import typer

from ..equiv.registry import DETECTORS
from ..presets import PRESETS
from ..search.base import PRIOR_RULES
from ..search.gate import shipped_gates
from ..search.vote import ANSWER_RULES, VOTE_WEIGHTS
from ..search.width import WIDTH_RULES

SEARCHES = ("greedy", "sampled", "mcts", "beam", "bon", "chains")
# the searches that sample siblings and keep one per group of equivalent ones
SIBLING_SEARCHES = ("mcts", "beam", "chains")
KEEP_RULES = ("first", "prior", "value", "medoid")
PRUNE_ORDERS = ("after", "before")
VALUE_SPECS = (
    "selfeval, rollout[:K], prm:MODEL, prm-http:URL, constant[:V], learned:DIR, confidence"
)


MODEL, SEARCH, ADAPTIVE, IO = "Model", "Search", "Adaptive width and stopping", "Input and output"


def opt(panel: str, *decls, **kwargs):
    """A typer option shown under `panel` in `--help`."""
    return typer.Option(*decls, rich_help_panel=panel, **kwargs)


def choices(name: str, values) -> type[Enum]:
    """A str Enum whose values are `values` (typer shows them in `--help`)."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


SearchName = choices("SearchName", SEARCHES)
PrunerName = choices("PrunerName", DETECTORS)
KeepRule = choices("KeepRule", KEEP_RULES)
PruneOrder = choices("PruneOrder", PRUNE_ORDERS)
WidthRule = choices("WidthRule", WIDTH_RULES)
PriorRuleName = choices("PriorRuleName", PRIOR_RULES)
AnswerRuleName = choices("AnswerRuleName", ANSWER_RULES)
VoteWeightsName = choices("VoteWeightsName", VOTE_WEIGHTS)
PresetName = choices("PresetName", PRESETS)
GREEDY, NO_PRUNER = SearchName("greedy"), PrunerName("none")
PRUNE_AFTER, KEEP_FIRST, FIXED_WIDTH = PruneOrder("after"), KeepRule("first"), WidthRule("fixed")
PRIOR_EMPIRICAL, ANSWER_PATH = PriorRuleName("empirical"), AnswerRuleName("path")
VOTE_COUNT = VoteWeightsName("count")


def real(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False):
    """A callback that accepts a finite float in the interval (open or closed ends)."""
    text = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open or hi == math.inf else ']'}"

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        above = value > lo if lo_open else value >= lo
        below = value < hi if hi_open else value <= hi
        if not (math.isfinite(value) and above and below):
            raise typer.BadParameter(f"{value:g} is not in {text}")
        return value

    return check


def check_value_spec(spec: str) -> str:
    """Refuse a value spec the registry would refuse (without building it)."""
    name, sep, arg = spec.strip().partition(":")
    arg = arg.strip()
    ok = {
        "selfeval": not sep,
        "rollout": not sep or (arg.isdigit() and int(arg) >= 1),
        "prm": bool(arg),
        "prm-http": bool(arg),
        "constant": not sep or _unit(arg),
        "learned": bool(arg),
        "confidence": not sep,
    }.get(name, False)
    if not ok:
        raise typer.BadParameter(f"{spec!r} is not a value spec; valid: {VALUE_SPECS}")
    return spec.strip()


def _unit(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0
    except ValueError:
        return False


def nonblank(what: str):
    """A callback refusing blank text."""

    def check(value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise typer.BadParameter(f"the {what} is empty")
        return value

    return check


def unescape(text: str) -> str:
    r"""`\n`, `\t` and `\\` as typed on a shell line become the characters they name."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    value = unescape(value)
    if not value:
        raise typer.BadParameter("the step delimiter is empty")
    return value


Model = Annotated[
    str,
    opt(MODEL, help="Policy: embedded:NAME, a .gguf or HF dir, an HF id, openai:URL#MODEL."),
]
Search = Annotated[SearchName, opt(SEARCH, help="The search algorithm.")]
PresetOpt = Annotated[
    PresetName | None,
    opt(SEARCH, help="A setting a benchmark confirmed (search, pruner, value, their options "
                     "and step limits); options given beside it override its own."),
]  # fmt: skip
Pruner = Annotated[PrunerName, opt(SEARCH, help="Equivalence detector used to prune.")]
Value = Annotated[
    str, opt(SEARCH, help=f"Value function: {VALUE_SPECS}.", callback=check_value_spec)
]
Width = Annotated[int, opt(SEARCH, min=1, help="Siblings sampled per expansion (W).")]
Simulations = Annotated[int, opt(SEARCH, min=1, help="MCTS simulations per step (S).")]
BeamWidth = Annotated[int, opt(SEARCH, min=1, help="Beams kept (B).")]
Samples = Annotated[int, opt(SEARCH, min=1, help="Best-of-N samples, or shared chains (N).")]
Temperature = Annotated[float, opt(SEARCH, help="Sampling temperature, ≥ 0.", callback=real(0))]
TopP = Annotated[
    float, opt(SEARCH, help="Nucleus sampling mass, in (0, 1].", callback=real(0, 1, True))
]
CInit = Annotated[
    float, opt(SEARCH, "--c-init", "--c-puct", help="PUCT c_init, ≥ 0.", callback=real(0))
]
CBase = Annotated[float, opt(SEARCH, help="PUCT c_base, > 0.", callback=real(0, lo_open=True))]
MaxDepth = Annotated[int, opt(SEARCH, min=1, help="Most steps in a solution.")]
MaxStepTokens = Annotated[int, opt(SEARCH, min=1, help="Most tokens in one step.")]
Order = Annotated[PruneOrder, opt(SEARCH, help="Prune after scoring (the paper) or before.")]
Keep = Annotated[KeepRule, opt(SEARCH, help="Which member of a group survives.")]
TokenBudget = Annotated[
    int | None, opt(SEARCH, min=1, help="Stop sampling past this many tokens.")
]
Threads = Annotated[int | None, opt(MODEL, min=1, help="CPU threads (llama.cpp models).")]
NCtx = Annotated[
    int | None, opt(MODEL, min=64, help="Context tokens (llama.cpp; vLLM's max_model_len).")
]
Tokenizer = Annotated[
    str | None,
    opt(MODEL, help="openai: models: the served model's HF tokenizer (id or dir), to render "
        "prompts here instead of on the server.", callback=nonblank("tokenizer")),
]  # fmt: skip
Timeout = Annotated[
    float | None,
    opt(MODEL, help="openai: models: seconds to wait for one answer (default 300), > 0.",
        callback=real(0, lo_open=True)),
]  # fmt: skip
SystemPrompt = Annotated[
    str | None, opt(MODEL, help="Replace the system prompt.", callback=nonblank("system prompt"))
]
StepDelimiter = Annotated[
    str | None,
    opt(MODEL, help=r"What separates steps (default a blank line, '\n\n').", callback=delimiter),
]
WidthRuleOpt = Annotated[
    WidthRule, opt(ADAPTIVE, "--width-rule", help="Siblings per expansion: fixed W, or adaptive.")
]
MinWidth = Annotated[
    int | None, opt(ADAPTIVE, min=1, help="Adaptive width: fewest samples (≤ --width; default 2).")
]
WaveSize = Annotated[int, opt(ADAPTIVE, min=1, help="Adaptive width: samples per wave.")]
UnseenMass = Annotated[
    float,
    opt(ADAPTIVE, help="Good–Turing: stop below this unseen mass, in (0, 1).",
                 callback=real(0, 1, lo_open=True, hi_open=True)),
]  # fmt: skip
SingleGroupCommit = Annotated[
    bool,
    opt(ADAPTIVE, "--single-group-commit/--no-single-group-commit",
                 help="MCTS: commit at once when an expansion left one group."),
]  # fmt: skip
ArithmeticCheck = Annotated[
    bool,
    opt(SEARCH, "--arithmetic-check/--no-arithmetic-check",
                 help="Discard sampled steps whose stated arithmetic is false; votes skip them."),
]  # fmt: skip
AdaptiveStop = Annotated[
    bool,
    opt(ADAPTIVE, "--adaptive-stop", help="Best-of-N, chains: stop once the vote is sure."),
]
StopConfidence = Annotated[
    float,
    opt(ADAPTIVE, help="Adaptive stop confidence, in (0.5, 1).",
                 callback=real(0.5, 1, lo_open=True, hi_open=True)),
]  # fmt: skip
StopDetector = Annotated[
    PrunerName | None,
    opt(ADAPTIVE, help="Adaptive width: the detector that decides the stop (default: --pruner)."),
]
BranchGate = Annotated[
    str | None,
    opt(ADAPTIVE, help="A fitted branch gate (JSON), or a shipped one by name "
                       f"({', '.join(shipped_gates())}), or none: one sample where it says a "
                       "second is idle."),
]
GateThreshold = Annotated[
    float | None,
    opt(ADAPTIVE, help="Branch gate: draw on only when P(new group) ≥ this, in [0, 1].",
                 callback=real(0, 1)),
]  # fmt: skip
PriorRuleOpt = Annotated[
    PriorRuleName,
    opt(SEARCH, "--prior", help="Priors: sample shares, or exp(mean log-prob) (the paper)."),
]
AnswerRuleOpt = Annotated[
    AnswerRuleName,
    opt(SEARCH, "--answer-rule", help="Answer by the committed path or a vote over the tree."),
]
VoteWeightsOpt = Annotated[
    VoteWeightsName, opt(SEARCH, help="Tree vote weights: count, groups, visits or value.")
]
File = Annotated[
    str | None,
    opt(IO, "--file", help="Questions: one a line (.txt) or JSON lines (.jsonl); - is stdin."),
]
Merges = Annotated[bool, opt(IO, "--merges", help="With --json: every merge record.")]
Verbose = Annotated[
    bool, opt(IO, "--verbose", "-v", help="Each expansion's groups and merging stages.")
]
Progress = Annotated[
    bool | None,
    opt(IO, "--progress/--no-progress", help="A live status line (default: on a TTY)."),
]
