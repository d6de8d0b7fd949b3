"""The step protocol: how a solution is prompted, cut into steps and judged finished."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .answers import extract_boxed
from .llm.base import Completion, Message, PolicyBackend

DEFAULT_SYSTEM_PROMPT = (
    "Solve the math problem step by step. Write exactly one step per paragraph and separate "
    "steps with a blank line. Keep each step short: one computation or one claim. "
    "When you know the final answer, write it as \\boxed{ANSWER}."
)
MAX_QUESTION_CHARS = 8_000
_SURROGATE = re.compile("[\ud800-\udfff]")  # bytes that were not UTF-8, or a lone surrogate


class InputError(ValueError):
    """Bad user input (the message says what to change)."""


def check_question(question: str) -> str:
    """Strip and validate a question; refuse empty and over-long ones (clear message)."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("The question is empty: give the problem text to solve.")
    question = question.strip()
    bad = _SURROGATE.search(question)
    if bad is not None:
        raise InputError(
            f"The question is not valid UTF-8 text (character {bad.start() + 1} is a stray "
            "byte or a lone surrogate): fix its encoding."
        )
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question has {len(question):,} characters; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Shorten it (the policy's context would overflow)."
        )
    return question


@dataclass(frozen=True)
class StepProtocol:
    """Prompting and parsing conventions shared by every search algorithm."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    delimiter: str = "\n\n"
    max_depth: int = 12
    max_step_tokens: int = 256

    def messages(self, question: str) -> list[Message]:
        return [Message("system", self.system_prompt), Message("user", question)]

    def assistant_prefix(self, steps: Sequence[str]) -> str:
        """The partial assistant message holding `steps` and ready for the next one."""
        return "".join(s + self.delimiter for s in steps)

    def prompt(self, backend: PolicyBackend, question: str, steps: Sequence[str]) -> str:
        return backend.chat_prompt(self.messages(question), self.assistant_prefix(steps))

    def split(self, solution: str) -> list[str]:
        """Cut a full solution into steps at the delimiter, dropping empty pieces."""
        return [s.strip() for s in solution.split(self.delimiter) if s.strip()]

    def clean(self, completion: Completion) -> str:
        return completion.text.strip()

    def is_terminal(self, step: str, finish_reason: str, depth: int) -> bool:
        """A step ends the solution if it boxes an answer, the model stopped, or depth is spent."""
        return extract_boxed(step) is not None or finish_reason == "eos" or depth >= self.max_depth

    def final_answer(self, steps: Sequence[str]) -> str | None:
        for step in reversed(steps):
            found = extract_boxed(step)
            if found is not None:
                return found
        return None
