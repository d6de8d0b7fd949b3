"""What every `equivpruner` command shares: one error line, one style for file errors.

User errors end a command with `error: <one line>` on stderr and exit code 2 (1 when the
input was fine but the work failed). Errors in a file read `FILE:LINE: what is wrong` (or
`FILE: what is wrong` when no line is to blame). Click's own usage errors (a bad choice, a
number out of range) are printed the same way by `OneLineErrors`, instead of a usage box.
"""

from __future__ import annotations

import re
import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

err_console = Console(stderr=True)


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print one clear line and exit (never a traceback for user errors)."""
    print_error(first_line(message))
    raise typer.Exit(code)


def first_line(message: object) -> str:
    """The first non-empty line of an error (or its type name), markup escaped."""
    from rich.markup import escape

    text = message if isinstance(message, str) else describe(message)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return escape(lines[0]) if lines else "unknown error"


def describe(err: BaseException) -> str:
    """An exception as one line; OS errors on files as `FILE: what is wrong`."""
    if isinstance(err, OSError) and err.filename:
        what = {
            FileNotFoundError: "no such file",
            IsADirectoryError: "is a directory, not a file",
            PermissionError: "permission denied",
        }.get(type(err), err.strerror or type(err).__name__)
        return f"{err.filename}: {what}"
    if isinstance(err, KeyError):
        return f"missing key {err.args[0]!r}" if err.args else "missing key"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input or an unusable model/server, not a bug."""
    from ..data.problems import DatasetError
    from ..llm.base import BackendError

    return (ValueError, BackendError, DatasetError, OSError, KeyError)


_BOUNDS = {"greater than or equal to": "≥", "less than or equal to": "≤",
           "greater than": ">", "less than": "<"}  # fmt: skip


def tidy(message: str) -> str:
    """Click/pydantic wording made short: `must be ≥ 1`, no `Value error, ` prefix."""
    message = message.replace("Value error, ", "")
    return re.sub(
        r"Input should be (greater than or equal to|less than or equal to|greater than|less than)",
        lambda m: f"must be {_BOUNDS[m.group(1)]}",
        message,
    )


class OneLineErrors(TyperGroup):
    """A typer group whose usage errors are one `error:` line (exit code 2), not a box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as err:  # click's usage errors (typer vendors click)
            if type(err).__name__ == "NoArgsIsHelpError":
                typer.echo(err.format_message().rstrip("\n"))  # the help (rich prints it)
            else:
                print_error(first_line(tidy(err.format_message())))
            code = err.exit_code
        except typer.Abort:
            print_error("aborted")
            code = 1
        sys.exit(code if isinstance(code, int) else 0)

    def format_help(self, ctx, formatter) -> None:
        from .help import print_help

        print_help(self, ctx)
