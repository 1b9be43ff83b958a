from __future__ import annotations


def plan(env: str) -> None:
    """Show every resource the environment's Pulumi program would create (offline)."""
    raise NotImplementedError
