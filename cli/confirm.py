"""Asking before a change: one way for every command (stack operations, releases, runbooks)."""

from __future__ import annotations

import sys

import typer


def interactive() -> bool:
    """Whether someone can answer a prompt (tests replace this). No stdin at all (``<&-``) is no terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


def approved(environment: str | None, question: str) -> bool:
    """y/N in staging; in prod the operator retypes the environment's name. Ctrl-C (or Ctrl-D) at the
    prompt is an interruption like anywhere else (exit 130, a runbook records it), not click's "Aborted!"."""
    try:
        if environment == "prod":
            typed = typer.prompt(f"{question} Type the environment name to continue", default="",
                                 show_default=False)
            return typed.strip() == environment
        return typer.confirm(question, default=False)
    except typer.Abort:
        raise KeyboardInterrupt from None
