"""`--help` that reads at any terminal width.

Each option is one entry: its names and value placeholder, then its help wrapped at word
boundaries (on the same line when the names are short, else on the next). Option names are
never cut, a word is never broken, boolean flags show no placeholder, and a list of choices
is spelled out in the help (`choices: a, b, c`) where it can wrap between names. Options are
grouped under their `rich_help_panel` headings, as typer does.
"""

from __future__ import annotations

import inspect
import textwrap

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

NAMES = 28  # names longer than this put their help on the next line
INDENT = 2
NBSP = "\u00a0"
_TYPES = {"int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER",
          "str": "TEXT", "path": "PATH", "file": "PATH", "directory": "DIR"}  # fmt: skip


def paragraphs(text: str | None) -> list[str]:
    """A docstring's paragraphs, each on one line (single line breaks are not kept)."""
    body = inspect.cleandoc(text or "").replace("\b\n", "")
    return [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]


def placeholder(param, ctx) -> tuple[str, list[str]]:
    """The value placeholder of a parameter and its choices (flags have neither)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return "", []
    label = param.metavar or param.display_type(ctx).strip("<>")
    if param.metavar is None and len(listed := _choices(param)) == 1:  # no "|" to split
        return "NAME", listed
    if param.metavar is None and "|" in label and not label.startswith("list["):
        return "NAME", label.split("|")
    return _TYPES.get(label, label.upper()), []


def _choices(param) -> list[str]:
    """The choices of a parameter, where typer (its type descriptor) or click lists them."""
    for holder in (getattr(param, "type_descriptor", None), getattr(param, "type", None)):
        listed = getattr(holder, "choices", None)
        if listed:
            return [getattr(c, "value", c) for c in listed]
    return []


def entry(param, ctx) -> tuple[str, str, str]:
    """(names, placeholder, help) of one parameter as `--help` shows it."""
    record = param.get_help_record(ctx)
    text = record[1] if record else ""
    value, choices = placeholder(param, ctx)
    if param.param_type_name == "argument":
        return (param.metavar or param.name or "").upper(), "", text
    names = ", ".join(param.opts)
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if choices:
        head, sep, tail = text.partition("  [")
        text = f"{head.rstrip('.')}; choices: {', '.join(choices)}.{sep}{tail}"
    return names, value, _keep_together(text)


def _keep_together(text: str) -> str:
    """The bracketed `[default: …; x>=1]` tail wraps as one piece (no-break spaces)."""
    head, sep, tail = text.partition("  [")
    return f"{head}{sep}{tail.replace(' ', NBSP)}" if sep and len(tail) < 40 else text


class HelpPrinter:
    """Writes one command's help to a console of the terminal's width."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(highlight=False)
        self.width = max(40, self.console.width)
        self.column = INDENT + NAMES + 2

    def align(self, labels: list[str]) -> None:
        """Help starts after the longest label of at most NAMES characters (narrow: below)."""
        fitting = [len(t) for t in labels if len(t) <= NAMES]
        wide = self.width >= 70 and fitting
        self.column = INDENT + max(fitting) + 2 if wide else INDENT + 4

    def line(self, text: Text | str = "") -> None:
        self.console.print(text, soft_wrap=True, markup=False, highlight=False)

    def wrapped(self, text: str, indent: int, first: int | None = None) -> list[str]:
        first = indent if first is None else first
        return textwrap.wrap(
            text, width=self.width - 1, initial_indent=" " * first,
            subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False,
        ) or [""]  # fmt: skip

    def heading(self, title: str) -> None:
        self.line()
        self.line(Text(title, style="bold"))

    def item(self, names: str, value: str, help_text: str) -> None:
        """One option: names (never cut) and its help, aligned at the help column."""
        column = self.column
        label = Text(" " * INDENT) + Text(names, style="bold cyan")
        if value:
            label += Text(" ") + Text(value, style="yellow")
        if len(label) > self.width - 1 and " / " in names:  # a flag pair too long for a line
            first, second = names.split(" / ", 1)
            self.line(Text(" " * INDENT) + Text(f"{first} /", style="bold cyan"))
            label = Text(" " * (INDENT + 2)) + Text(second, style="bold cyan")
        lines = self.wrapped(help_text, column) if help_text else []
        if lines and len(label) + 2 <= column:
            label += Text(lines.pop(0)[len(label) :])
        self.line(label)
        for text in lines:
            self.line(text)

    def command(self, obj, ctx) -> None:
        for text in self.wrapped(obj.get_usage(ctx), 8, 0):
            self.line(Text(text, style="bold"))
        for para in paragraphs(obj.help):
            self.line()
            for text in self.wrapped(para, INDENT):
                self.line(text)
        panels: dict[str, list] = {}
        for param in obj.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            default = "Arguments" if param.param_type_name == "argument" else "Options"
            panels.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(param)
        order = sorted(panels, key=lambda p: (p != "Arguments", p != "Options"))
        entries = {title: [entry(param, ctx) for param in panels[title]] for title in order}
        self.align([f"{n} {v}".strip() for rows in entries.values() for n, v, _ in rows])
        for title in order:
            self.heading(title)
            for row in entries[title]:
                self.item(*row)
        if isinstance(obj, TyperGroup):
            subs = [obj.get_command(ctx, name) for name in obj.list_commands(ctx)]
            subs = [sub for sub in subs if sub is not None and not sub.hidden]
            self.align([sub.name for sub in subs])
            self.heading("Commands")
            for sub in subs:
                self.item(sub.name, "", (paragraphs(sub.short_help or sub.help) or [""])[0])
        for para in paragraphs(obj.epilog):
            self.line()
            for text in self.wrapped(para, INDENT):
                self.line(text)


def print_help(obj, ctx) -> None:
    HelpPrinter().command(obj, ctx)


class HelpCommand(TyperCommand):
    """A typer command whose `--help` is `print_help`'s."""

    def format_help(self, ctx, formatter) -> None:
        print_help(self, ctx)


def command(app: typer.Typer, name: str):
    """`app.command(name)` with the readable `--help`."""
    return app.command(name, cls=HelpCommand)
