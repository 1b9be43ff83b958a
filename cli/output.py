"""Console helpers shared by every command: one stderr console, one error format."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def console() -> Console:
    # Created per call so tests that capture stdout (CliRunner) see the output.
    return Console(highlight=False, soft_wrap=True)


def error_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
