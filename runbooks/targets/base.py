"""What runbooks act on. ``Target`` is anything with a name that may not exist; ``ContainerTarget`` is
what the restart runbooks need from a container engine, whichever engine it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runbooks.waiting import Deadline

if TYPE_CHECKING:
    from runbooks.lease import ClusterLease


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
    ref: str  # docker://NAME, k8s://NAMESPACE/KIND/NAME, rds://IDENTIFIER ...
    resolved: str | None = None  # what ensure_exists found the reference names (container ID, UID, ARN)

    @property
    def identity(self) -> str:
        """What the target is, however it was named: the key of its lock (runbooks/lock.py), so a name and
        an ID of one container exclude each other."""
        return self.resolved or self.ref

    @abstractmethod
    def ensure_exists(self) -> None:
        """Raise InvalidInput naming the target if it does not exist (called before anything else)."""

    @property
    @abstractmethod
    def next_action(self) -> str:
        """What an engineer should do when the runbook does not bring it back."""

    @property
    def remote_engine(self) -> str | None:
        """The address of the engine when it runs on another machine (None: here, or not a container)."""
        return None

    def cluster_lease(self, *, runbook: str, duration_seconds: float) -> ClusterLease | None:
        """A lock every machine sees, for targets that live in a cluster (None: this machine's lock only)."""
        return None


class ContainerTarget(Target):
    @abstractmethod
    def observe(self, log_lines: int = 5) -> TargetState: ...

    @abstractmethod
    def restart(self, deadline: Deadline) -> str:
        """Restart it; return what was done, in the engine's terms, for the incident record."""

    @abstractmethod
    def wait_ready(self, deadline: Deadline) -> tuple[bool, str]:
        """Wait until the engine reports the restart finished; (done, what was seen)."""
