"""Fixtures for the runbook tests. Container tests use a real podman engine (podman_engine.py);
without podman they skip with the reason, and with ``CI`` set a missing engine fails them."""

from __future__ import annotations

import os
import shutil

import pytest
from podman_engine import PodmanEngine


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


@pytest.fixture
def engine(podman_engine, monkeypatch, state_dir) -> PodmanEngine:
    monkeypatch.setenv("DOCKER_HOST", podman_engine.docker_host)
    return podman_engine

