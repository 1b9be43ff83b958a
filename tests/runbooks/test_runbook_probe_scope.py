"""A probe only counts as evidence when it can see the service: never restart on a probe that looks at the
wrong machine (loopback with a remote Docker engine)."""

from __future__ import annotations

import socket

import pytest

from runbooks import engine, temporal_restart
from runbooks.engine import RunInputs, execute
from runbooks.probes import parse_probe
from runbooks.state import state_paths
from runbooks.targets import parse_target
from runbooks.targets.base import ContainerTarget, TargetState
from runbooks.targets.docker import DockerTarget


@pytest.mark.parametrize(("docker_host", "remote"), [
    (None, None),
    ("unix:///run/podman/podman.sock", None),
    ("tcp://127.0.0.1:2375", None),
    ("tcp://localhost:2375", None),
    ("ssh://ops@staging-docker.internal", "ssh://ops@staging-docker.internal"),
    ("tcp://10.20.4.17:2376", "tcp://10.20.4.17:2376"),
])
def test_a_docker_engine_elsewhere_is_named(monkeypatch, docker_host, remote):
    if docker_host is None:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
    else:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
    assert DockerTarget("generic-corp-temporal", client=object()).remote_engine == remote


class RemoteRunningContainer(ContainerTarget):
    """Running and healthy on another machine; records whether anyone restarted it."""

    ref = "docker://generic-corp-temporal"
    remote_engine = "ssh://ops@staging-docker.internal"

    def __init__(self) -> None:
        self.restarted = False

    def ensure_exists(self) -> None:
        pass

    def observe(self, log_lines: int = 5) -> TargetState:
        return TargetState("running", True, False, 0, "2026-11-24T03:00:00Z", None)

    def restart(self, deadline) -> str:
        self.restarted = True
        return "restarted"

    def wait_ready(self, deadline) -> tuple[bool, str]:
        return True, "running"

    @property
    def next_action(self) -> str:
        return "-"


def test_a_loopback_probe_says_nothing_about_a_container_on_another_machine(state_dir, monkeypatch):
    target = RemoteRunningContainer()
    monkeypatch.setattr(engine, "connect", lambda ref: target)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # refused here, on the laptop: nothing to do with the remote container
        inputs = RunInputs(target=parse_target(target.ref), probe=parse_probe(f"tcp://127.0.0.1:{closed}"),
                           timeout=5)
        said: list[str] = []
        outcome = execute(temporal_restart.RUNBOOK, inputs, paths=state_paths(), dry_run=False,
                          confirm=lambda run, step: True, say=said.append)

    assert not target.restarted
    assert "nothing changed" in outcome
    text = " ".join(said)
    assert "points at this machine, but the container runs on ssh://ops@staging-docker.internal" in text


def test_a_probe_that_never_resolved_never_ends_in_healthy_again(engine, infra, state_dir):
    c = engine.run("healthy")
    engine.client.containers.get(c.name).kill()  # down by the engine's own word: restarted on that alone

    result = infra("runbook", "run", "temporal-restart", "--env", "staging", "--target", c.target,
                   "--health", "tcp://temporal-frontend.temporal.invalid:7233", "--timeout", "10", "--yes")

    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "decision: restart (not ready (exited" in out
    assert "not verified by a probe" in out and "healthy again" not in out
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "**Outcome:** restarted; the engine reports it back" in log and "could not run from here" in log
