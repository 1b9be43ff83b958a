"""The runbook commands without a container engine: listing, docs, and bad input (exit 2, one line,
nothing touched)."""

from __future__ import annotations

import pytest


def test_list(infra):
    result = infra("runbook", "list")
    assert result.exit_code == 0
    assert "temporal-restart" in result.stdout and "Temporal fails its health check" in result.stdout


def test_show_names_each_step_what_it_does_and_needs(infra):
    result = infra("runbook", "show", "temporal-restart")
    assert result.exit_code == 0
    for step in ("1. observe", "2. diagnose", "3. restart [changes things]", "4. verify", "5. watch"):
        assert step in result.stdout
    assert "needs: write access to the engine" in result.stdout
    assert "initialDelaySeconds" in result.stdout


def test_docs_render_every_runbook_as_markdown(infra):
    result = infra("runbook", "docs")
    assert result.exit_code == 0
    assert result.stdout.startswith("# Runbooks")
    assert ("## `temporal-restart`: Temporal fails its health check: diagnose, restart only if it is not serving"
            in result.stdout)
    assert "| 3 | `restart` | yes |" in result.stdout
    assert "infra runbook run temporal-restart --env ENV" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runbook", "run", "temporal-restrat", "--env", "staging"],
         "unknown runbook 'temporal-restrat' (did you mean 'temporal-restart'?"),
        (["runbook", "show", "nope"], "unknown runbook 'nope'"),
        (["runbook", "run", "temporal-restart", "--env", "dev"], "unknown environment 'dev'"),
        (["runbook", "run", "temporal-restart", "--env", "staging", "--target", "ecs://temporal"],
         "target 'ecs://temporal' has an unknown form"),
        (["runbook", "run", "temporal-restart", "--env", "staging", "--target", "k8s://temporal/pod/x"],
         "is not NAMESPACE/KIND/NAME"),
        (["runbook", "run", "temporal-restart", "--env", "staging", "--health", "tcp://127.0.0.1"],
         "probe 'tcp://127.0.0.1' has no port"),
        (["runbook", "run", "temporal-restart", "--env", "staging", "--health", "icmp://127.0.0.1:1"],
         "unknown scheme 'icmp'"),
        (["restart-container", "temporal", "--health", "tcp://localhost"], "has no port"),
        (["restart-container", "temporal"], "needs --health for a docker container"),
        (["restart-container", "temporal", "--runtime", "nomad", "--health", "tcp://h:1"],
         "unknown runtime 'nomad'"),
        (["restart-container", "temporal", "--runtime", "kubernetes"], "is not NAMESPACE/KIND/NAME"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(infra, state_dir, monkeypatch, args, message):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # would fail with exit 3 if reached
    result = infra(*args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not state_dir.exists()


def test_credentials_in_a_bad_probe_are_not_echoed(infra, state_dir):
    result = infra("restart-container", "temporal", "--health", "ftp://admin:hunter2@host:21")
    assert result.exit_code == 2
    assert "hunter2" not in result.output and "admin:***@host" in result.stderr


def test_unreachable_engine_is_a_missing_prerequisite(infra, state_dir, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = infra("restart-container", "temporal", "--health", "tcp://127.0.0.1:7233", "--yes")
    assert result.exit_code == 3
    assert "cannot reach a container engine at unix:///nonexistent/docker.sock: no socket there" in result.stderr
    assert not state_dir.exists()


def test_a_refused_engine_connection_says_so(infra, state_dir, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    result = infra("restart-container", "temporal", "--health", "tcp://127.0.0.1:7233", "--yes")
    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach a container engine at tcp://127.0.0.1:{port}: connection refused" in line


def test_doctor_finds_the_container_engine(infra, engine):
    import json

    result = infra("doctor", "staging", "--json")
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "container engine"]
    assert check["ok"], check
    assert check["detail"].startswith("Podman Engine ") and check["detail"].endswith(f"at {engine.docker_host}")


def test_docs_runbooks_md_is_what_the_command_generates(infra):
    from pathlib import Path

    shipped = (Path(__file__).resolve().parents[2] / "docs" / "runbooks.md").read_text()
    assert infra("runbook", "docs").stdout == shipped, "regenerate: infra runbook docs > docs/runbooks.md"
