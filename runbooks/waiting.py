"""Bounded waiting: every wait in a runbook has a deadline and a capped backoff.

A plain loop on the monotonic clock rather than a retry library: the callers need the attempt
history (for the incident record) and a cap on the poll interval (to notice recovery quickly).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from stacks.errors import InvalidInput

# Every wait a runbook is given is bounded here, whether it comes from the command line or a stack file:
# NaN or infinity would never end (or crash the clock arithmetic), and a day is longer than any incident
# procedure should block on one step.
MAX_WAIT_SECONDS = 86_400.0


def check_seconds(what: str, value: float, *, zero_ok: bool = False, maximum: float = MAX_WAIT_SECONDS) -> float:
    """``value`` if it is a finite number of seconds in (0 | [0 when ``zero_ok``) .. maximum], else InvalidInput."""
    bounds = f"from 0 to {maximum:g}" if zero_ok else f"more than 0 and at most {maximum:g}"
    if not (math.isfinite(value) and (value >= 0 if zero_ok else value > 0) and value <= maximum):
        raise InvalidInput(f"{what} {value:g}: give a finite number of seconds, {bounds}",
                           hint=f"e.g. {what} 60" if what.startswith("--") else None)
    return value


@dataclass(frozen=True)
class Backoff:
    """Poll intervals growing from ``first`` by ``factor`` up to ``cap`` seconds."""

    first: float = 0.05
    factor: float = 1.5
    cap: float = 0.2

    def intervals(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


class Deadline:
    """A point on the monotonic clock; waits never sleep past it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.at = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.remaining()))
