"""`infra runbook ...` and `infra restart-container` (issue 5; being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Scripted incident runbooks.", no_args_is_help=True)


def restart_container(name: str) -> None:
    """Restart a container and wait until its health probe passes."""
    raise NotImplementedError
