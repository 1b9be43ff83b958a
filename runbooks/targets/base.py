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


@dataclass(frozen=True)
class CheckRun:
    """One run of the engine's own health check."""

    ok: bool
    output: str  # the line that says why (first non-empty line of what the check printed)
    at: float | None = None  # seconds after the latest start of the container, when known
    times: int = 1  # runs this entry stands for (the kubelet folds repeated failures into one event)


@dataclass(frozen=True)
class EngineCheck:
    """The engine's own health check, as an expert reads it: what it runs and where it dials, what it has
    been saying, what it says when run where the engine runs it, and where the service really listens."""

    engine: str  # "docker" | "k8s": whose configuration the fix goes into
    command: str  # what it runs, in words ("" when the container has no health check)
    dials: str | None  # HOST:PORT the check connects to, read from its command or its output
    start_period: float  # seconds after a start during which failures do not count
    status: str  # healthy | unhealthy | starting | unknown
    failing_streak: int
    uptime: float | None  # seconds since the latest start, when observed
    history: tuple[CheckRun, ...] = ()  # the engine's log of recent runs, oldest first
    in_place: CheckRun | None = None  # run by us, just now, where the engine runs it
    listening: tuple[str, ...] | None = None  # HOST:PORT the container listens on (None: not read)
    at_listen_address: CheckRun | None = None  # the same check pointed at where the service listens
    missing: tuple[str, ...] = ()  # evidence that could not be had, in words


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

    def engine_check(self) -> EngineCheck | None:
        """The engine's own health check and the evidence around it (None: this engine has none to read)."""
        return None

    # Set by the diagnosis when it has found the cause: what to fix, instead of the generic next action.
    advice: str | None = None

    def start_period_advice(self, first_success: float | None) -> str:
        """How to make the engine's check wait until the service has started (the memo's follow-up), with the
        measured seconds from a start to the first passing probe when known."""
        measured = "" if first_success is None else f" (measured: first success {first_success:.1f} s after a start)"
        return f"give {self.ref}'s health check a start period that covers its start-up{measured}"

    @property
    def next_action(self) -> str:
        return self.advice or self.start_period_advice(None)
