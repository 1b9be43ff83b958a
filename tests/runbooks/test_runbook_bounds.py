"""What the runbook engine promises about time and evidence, with a stand-in target (the point: a restart
that takes a known time, a service that passes a known number of probes)."""

from __future__ import annotations

import socket
import time

import pytest

from runbooks import engine, temporal_restart
from runbooks.engine import RunInputs, execute
from runbooks.probes import parse_probe
from runbooks.state import state_paths
from runbooks.targets import parse_target
from runbooks.targets.base import ContainerTarget, TargetState
from stacks.errors import OperationFailed

RESTART_TAKES = 1.5


class SlowRestartContainer(ContainerTarget):
    """Running but not answering; its restart takes RESTART_TAKES seconds and brings nothing back."""

    ref = "docker://generic-corp-temporal"

    def __init__(self) -> None:
        self.restarts = 0
        self.restart_began = 0.0

    def ensure_exists(self) -> None:
        pass

    def observe(self, log_lines: int = 5) -> TargetState:
        return TargetState("running", True, False, 0, "2026-11-24T03:00:00Z", "unhealthy, failing streak 181")

    def restart(self, deadline) -> str:
        self.restarts += 1
        self.restart_began = time.monotonic()
        time.sleep(RESTART_TAKES)
        return "restarted"

    def wait_ready(self, deadline) -> tuple[bool, str]:
        return True, "running"


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: refused
        yield s.getsockname()[1]


def run(target, probe: str, *, timeout: float, grace: float = 0) -> str:
    inputs = RunInputs(target=parse_target(target.ref), probe=parse_probe(probe), timeout=timeout, grace=grace)
    try:
        return execute(temporal_restart.RUNBOOK, inputs, paths=state_paths(), dry_run=False,
                       confirm=lambda run, step: True, say=lambda text: None)
    except OperationFailed as exc:
        return f"failed: {exc}"


def test_the_timeout_bounds_the_restart_and_the_recovery_together(state_dir, monkeypatch, closed_port):
    target = SlowRestartContainer()
    monkeypatch.setattr(engine, "connect", lambda ref: target)

    outcome = run(target, f"tcp://127.0.0.1:{closed_port}", timeout=2.5)

    ended = time.monotonic()
    assert target.restarts == 1
    assert "still unhealthy after 2.5 s" in outcome
    # one 2.5 s deadline from the restart on, not the restart's 1.5 s plus a fresh 2.5 s for the recovery
    assert 2.5 <= ended - target.restart_began < 2.5 + 0.7


def test_healthy_needs_consecutive_passes_after_the_restart(state_dir, monkeypatch):
    """After the restart the port accepts once, then refuses: one pass is not recovery."""
    target = SlowRestartContainer()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()

    def restart(deadline) -> str:
        import threading

        listener = socket.create_server(("127.0.0.1", port))

        def accept_once():
            listener.accept()[0].close()
            listener.close()

        threading.Thread(target=accept_once, daemon=True).start()
        return "restarted"

    target.restart = restart
    monkeypatch.setattr(engine, "connect", lambda ref: target)

    outcome = run(target, f"tcp://127.0.0.1:{port}", timeout=1.5)

    assert "still unhealthy after 1.5 s" in outcome and "healthy again" not in outcome
