"""Bounded waiting: every wait in a runbook has a deadline and a capped backoff.

A plain loop on the monotonic clock rather than a retry library: the callers need the attempt
history (for the incident record) and a cap on the poll interval (to notice recovery quickly).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass


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
