"""Options shared by several commands, bounded at the boundary: a duration must be a finite number in a
sane range before any command sees it (``--timeout nan`` or ``inf`` would wait forever)."""

from __future__ import annotations

from typing import Any

import typer

MAX_REPORT_DAYS = 365  # Cost Explorer keeps about a year of daily figures


def _checked(check):
    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        return check(param.opts[0], value)

    return callback


def seconds(help: str, *, zero_ok: bool = False) -> Any:
    """A duration in seconds: finite, positive (or zero when ``zero_ok``), at most a day (runbooks.waiting)."""

    def check(name: str, value: float) -> float:
        from runbooks.waiting import check_seconds

        return check_seconds(name, value, zero_ok=zero_ok)

    return typer.Option(help=help, callback=_checked(check))


def days(help: str) -> Any:
    """A number of days: 1 to MAX_REPORT_DAYS."""

    def check(name: str, value: int) -> int:
        from stacks.errors import InvalidInput

        if not 1 <= value <= MAX_REPORT_DAYS:
            raise InvalidInput(f"{name} {value}: give a number of days from 1 to {MAX_REPORT_DAYS}",
                               hint=f"e.g. {name} 14")
        return value

    return typer.Option(help=help, callback=_checked(check))
