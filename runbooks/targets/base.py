"""What a runbook needs from a container engine, whichever engine it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from runbooks.waiting import Deadline


@dataclass(frozen=True)
class TargetState:
    status: str  # the engine's word: running, exited, restarting / available, progressing ...
    running: bool  # the engine considers it up (not proof of health)
    in_progress: bool  # the engine is already restarting it or rolling it out
    restart_count: int
    started_at: str | None
    engine_health: str | None  # the engine's own health check, when it has one
    log_tail: tuple[str, ...] = ()


class Target(ABC):
    ref: str  # docker://NAME or k8s://NAMESPACE/KIND/NAME

    @abstractmethod
    def ensure_exists(self) -> None:
        """Raise InvalidInput naming the target if it does not exist (called before anything else)."""

    @abstractmethod
    def observe(self, log_lines: int = 5) -> TargetState: ...

    @abstractmethod
    def restart(self, deadline: Deadline) -> str:
        """Restart it; return what was done, in the engine's terms, for the incident record."""

    @abstractmethod
    def wait_ready(self, deadline: Deadline) -> tuple[bool, str]:
        """Wait until the engine reports the restart finished; (done, what was seen)."""

    @property
    @abstractmethod
    def next_action(self) -> str:
        """What an engineer should change when a restart does not bring it back."""
