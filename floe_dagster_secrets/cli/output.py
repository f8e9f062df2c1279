"""How the CLI writes: kubectl-style tables, ages, JSON, coloured marks, errors and progress.

Everything meant for the terminal goes through :func:`echo`, which redacts registered secret
values first, so a value that reaches an output path by mistake is still masked. The one
exception is :func:`echo_value`, used only by ``floe secrets get --reveal``.

rich is imported only when it draws something (an error, a warning, a spinner on a terminal):
importing it costs more than a whole ``floe secrets list`` on the local store otherwise does.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from floe_dagster_secrets.masking import redact

Emit = Callable[[str], None]
"""The output function pure command functions write lines to."""

_MARK_COLOURS = {"✓": "green", "✗": "red", "!": "yellow"}


def age(moment: datetime | None, *, now: datetime | None = None) -> str:
    """A kubectl-style age: ``12s``, ``5m``, ``3h``, ``7d``; ``<unknown>`` without a time."""
    if moment is None:
        return "<unknown>"
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns three spaces apart, like ``kubectl get``."""
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("   ".join(cells).rstrip())
    return lines


def to_json(document: Any) -> str:
    """Pretty JSON, keys in the order given."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def plural(count: int, word: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _styled(text: str) -> str:
    colour = _MARK_COLOURS.get(text[:1])
    if colour is None:
        return text
    # click.echo drops the colour codes when the stream is not a terminal.
    return click.style(text[:1], fg=colour, bold=True) + text[1:]


def echo(text: str = "") -> None:
    """Write one redacted line to stdout, colouring a leading ✓/✗/! mark on terminals."""
    click.echo(_styled(redact(text)))


def echo_err(text: str = "") -> None:
    """Write one redacted line to stderr."""
    click.echo(_styled(redact(text)), err=True)


def echo_value(text: str) -> None:
    """Write a revealed secret value to stdout, unredacted: only ``get --reveal`` calls this."""
    click.echo(text)


def print_error(message: str) -> None:
    """An error on stderr, in red on terminals, redacted, never wrapped mid-word."""
    _print_styled(f"Error: {redact(message)}", "red")


def print_warning(message: str) -> None:
    """A warning on stderr, in yellow on terminals, redacted."""
    _print_styled(f"Warning: {redact(message)}", "yellow")


def _print_styled(text: str, style: str) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text(text, style=style))


def is_interactive() -> bool:
    """Whether both stdout and stderr are terminals (so a spinner cannot corrupt piped output)."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress(message: str) -> Iterator[Emit]:
    """A rich spinner on stderr while backend calls run; nothing at all when not on a TTY.

    Yields the output function to use inside the block. On a terminal, lines are held back until
    the spinner has stopped, so the spinner's redraws never tear through the output.
    """
    if not is_interactive():
        yield echo
        return
    from rich.console import Console

    held: list[str] = []
    try:
        with Console(stderr=True).status(redact(message)):
            yield held.append
    finally:
        for line in held:
            echo(line)
