"""Console helpers shared by every command: one stderr console, one error format."""

from __future__ import annotations

import os

from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def console() -> Console:
    # Created per call so tests that capture stdout (CliRunner) see the output. Piped output gets a
    # log-friendly width instead of rich's 80 columns, unless COLUMNS says otherwise.
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 140
    return out


def unexpected(exc: Exception) -> str:
    """An unexpected failure in one line, for commands that report it beside other results (doctor, status)."""
    from stacks.redact import redact

    return redact(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")


def error_line(message: str) -> None:
    """The one error line every command prints; masked, since messages quote what the user gave (a probe URL
    with its password, a config value) and what services answered."""
    from stacks.redact import redact

    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", markup=True, highlight=False)
