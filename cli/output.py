"""Console helpers shared by every command: one stderr console, one error format."""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich exits 1 here; the CLI's boundary (cli.main) ends quietly with 0, as for any other write.
        self.quiet = True
        raise BrokenPipeError


# Piped or written to a file, a table row stays on one line (grep, diff and logs see whole rows, never a
# word broken across lines): wide enough never to wrap, unless COLUMNS says otherwise.
UNWRAPPED = 10_000


def console(file: IO[str] | None = None) -> Console:
    # Created per call so tests that capture stdout (CliRunner) see the output.
    out = _Console(highlight=False, file=file)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = UNWRAPPED
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
