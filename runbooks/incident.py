"""The incident record every run leaves behind, in the shape of the SRE memo's INCIDENT_LOG.md:
timeline with timestamps, observations, actions, outcome, follow-ups. Plus one JSON audit line."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stacks import audit
from stacks.redact import redact

LOG_HEADER = "# Incident log\n\nAppended by `infra` runbooks; newest last. Secrets are redacted.\n"


@dataclass(frozen=True)
class Event:
    at: datetime
    offset: float  # seconds since the run started
    step: str
    text: str


@dataclass
class IncidentRecord:
    runbook: str
    title: str
    target: str
    probe: str | None
    environment: str | None
    operator: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    events: list[Event] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    follow_ups: list[str] = field(default_factory=list)
    outcome: str = "in progress"
    stopped_at: str | None = None
    finished: datetime | None = None
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def log(self, step: str, text: str) -> Event:
        event = Event(datetime.now(UTC), time.monotonic() - self._t0, step, text)
        self.events.append(event)
        return event

    def finish(self, outcome: str) -> None:
        self.outcome = outcome
        self.finished = datetime.now(UTC)

    @property
    def duration(self) -> float:
        end = self.finished or datetime.now(UTC)
        return (end - self.started).total_seconds()

    @property
    def id(self) -> str:
        return f"{self.started:%Y%m%dT%H%M%S}Z-{self.runbook}"


def template_environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("runbooks", "templates"),
        autoescape=False,  # markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render(record: IncidentRecord) -> str:
    return redact(template_environment().get_template("incident.md.j2").render(r=record))


def append_incident(log: Path, record: IncidentRecord) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    text = render(record)
    with log.open("a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write(LOG_HEADER)
        handle.write("\n" + text)


def append_audit(log: Path, record: IncidentRecord, *, exit_code: int, incident_log: Path) -> None:
    audit.append(
        "runbook-run",
        path=log,
        time=record.finished,
        incident=record.id,
        runbook=record.runbook,
        environment=record.environment,
        target=record.target,
        probe=record.probe,
        outcome=record.outcome,
        exit_code=exit_code,
        stopped_at=record.stopped_at,
        duration_s=round(record.duration, 3),
        actions=record.actions,
        incident_log=str(incident_log),
    )


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP while the record is written; they are delivered (and acted on) right
    after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
