"""The real CLI against real containers (podman serving the Docker API): the SRE memo's incident."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from podman_engine import DELAY, port_open

from runbooks.lock import lock_path

ROOT = Path(__file__).resolve().parents[2]


def temporal_restart(c, *extra: str) -> list[str]:
    return ["runbook", "run", "temporal-restart", "--env", "staging", "--target", c.target,
            "--health", c.probe, *extra]


def audit_lines(state_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (state_dir / "audit.jsonl").read_text().splitlines()]


def test_stuck_temporal_is_restarted_verified_and_logged(engine, infra, state_dir):
    c = engine.run("incident")
    before = c.started_at

    result = infra(*temporal_restart(c, "--timeout", "10", "--grace", "0.5", "--yes"))

    assert result.exit_code == 0, result.output
    assert port_open(c.port)
    assert c.started_at != before
    assert "connection refused" in result.stdout and "decision: restart" in result.stdout
    assert "resolved: healthy again after the restart" in result.stdout
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    for heading in ("### Timeline (UTC)", "### Observations", "### Actions", "### Follow-ups"):
        assert heading in log
    assert f"restarted container {c.name}" in log
    assert "waiting for the database schema" in log  # the last log lines were observed
    assert "healthcheck.start_period" in log  # recovered, but the cause still needs fixing
    [audit] = audit_lines(state_dir)
    assert audit["exit_code"] == 0 and audit["target"] == c.target and audit["actions"]


def test_healthy_temporal_is_reported_and_untouched(engine, infra, state_dir):
    c = engine.run("healthy")
    time.sleep(0.3)
    before = c.started_at

    result = infra(*temporal_restart(c, "--timeout", "5", "--yes"))

    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.stdout and "nothing changed" in result.stdout
    assert c.started_at == before
    assert "none: nothing was changed" in (state_dir / "INCIDENT_LOG.md").read_text()
    assert audit_lines(state_dir)[0]["actions"] == []


def test_temporal_that_never_comes_back_fails_within_timeout_with_next_action(engine, infra, state_dir):
    c = engine.run("dead")
    started = time.monotonic()

    result = infra(*temporal_restart(c, "--timeout", "3", "--grace", "0", "--yes"))

    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert elapsed < 3 + 2.5  # the timeout, plus observing before the restart
    assert len(result.stderr.strip().splitlines()) == 1
    assert "still unhealthy after 3 s" in result.stderr and "healthcheck.start_period" in result.stderr
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "**Outcome:** failed:" in log
    assert f"restarted container {c.name}" in log
    assert "- [ ] next action: raise healthcheck.start_period" in log
    assert "connection refused" in log
    # the container logged credentials: observed, but never written or shown
    everything = log + (state_dir / "audit.jsonl").read_text() + result.output
    assert "TEMPORAL_AUTH_TOKEN=***" in log and "postgres://temporal:***@db" in log
    assert "hunter2" not in everything and "abc123secret" not in everything
    assert audit_lines(state_dir)[0]["exit_code"] == 1


def test_dry_run_shows_the_plan_and_changes_nothing(engine, infra, state_dir):
    c = engine.run("incident")
    before = c.started_at

    result = infra(*temporal_restart(c, "--timeout", "5", "--dry-run"))

    assert result.exit_code == 0, result.output
    assert "decision: restart" in result.stdout
    assert "[3/5] restart" in result.stdout and "would run; dry run" in result.stdout
    assert c.started_at == before and not port_open(c.port)
    assert not (state_dir / "INCIDENT_LOG.md").exists()


def test_without_terminal_or_yes_the_restart_is_refused(engine, infra, state_dir):
    c = engine.run("incident")
    before = c.started_at

    result = infra(*temporal_restart(c, "--timeout", "5"))

    assert result.exit_code == 2
    assert "needs confirmation" in result.stderr and "--yes" in result.stderr
    assert c.started_at == before


def test_declined_confirmation_changes_nothing(engine, infra, state_dir, monkeypatch):
    monkeypatch.setattr("cli.confirm.interactive", lambda: True)
    c = engine.run("incident")
    before = c.started_at

    staging = infra(*temporal_restart(c, "--timeout", "5"), input="n\n")
    prod = infra(*[("prod" if a == "staging" else a) for a in temporal_restart(c, "--timeout", "5")],
                 input="staging\n")

    assert staging.exit_code == 1 and "aborted by the operator" in staging.stderr
    assert prod.exit_code == 1 and "Type the environment name" in prod.stdout
    assert c.started_at == before


def test_ctrl_c_at_the_confirmation_is_recorded_before_any_change(engine, infra, state_dir, monkeypatch):
    monkeypatch.setattr("cli.confirm.interactive", lambda: True)
    c = engine.run("incident")
    before = c.started_at

    result = infra(*temporal_restart(c, "--timeout", "5"), input="")  # the prompt gets Ctrl-C / Ctrl-D

    assert result.exit_code == 130
    assert "interrupted (Ctrl-C) during step 'confirm restart'" in result.stderr
    assert c.started_at == before
    assert audit_lines(state_dir)[0]["stopped_at"] == "confirm restart"


def test_prod_restart_after_retyping_the_environment(engine, infra, state_dir, monkeypatch):
    monkeypatch.setattr("cli.confirm.interactive", lambda: True)
    c = engine.run("incident")

    result = infra("runbook", "run", "temporal-restart", "--env", "prod", "--target", c.target,
                   "--health", c.probe, "--timeout", "10", "--grace", "0", input="prod\n")

    assert result.exit_code == 0, result.output
    assert port_open(c.port)
    assert "confirmed by the operator" in (state_dir / "INCIDENT_LOG.md").read_text()


def test_unknown_container_is_invalid_input_and_nothing_is_written(engine, infra, state_dir):
    result = infra("restart-container", f"{engine.prefix}-missing", "--health", "tcp://127.0.0.1:1", "--yes")

    assert result.exit_code == 2
    assert f"container '{engine.prefix}-missing' not found" in result.stderr
    assert not state_dir.exists()


def test_restart_container_returns_once_the_probe_passes(engine, infra, state_dir):
    c = engine.run("delayed")
    time.sleep(DELAY + 0.3)  # let it come up, so the restart is what closes and reopens the port
    before = c.started_at
    started = time.monotonic()

    result = infra("restart-container", c.name, "--health", c.probe, "--timeout", "10", "--yes")

    assert result.exit_code == 0, result.output
    assert port_open(c.port)  # healthy the moment the command returns
    assert c.started_at != before
    assert DELAY <= time.monotonic() - started < DELAY + 3


def test_restart_container_gives_up_at_the_timeout(engine, infra, state_dir):
    c = engine.run("dead")
    started = time.monotonic()

    result = infra("restart-container", c.name, "--health", c.probe, "--timeout", "2", "--yes")

    assert result.exit_code == 1
    assert time.monotonic() - started < 2 + 1.5
    assert "still unhealthy after 2 s" in result.stderr


def _infra_subprocess(engine, state_dir: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "DOCKER_HOST": engine.docker_host, "INFRA_STATE_DIR": str(state_dir),
           "PYTHONUNBUFFERED": "1"}
    infra = Path(sys.executable).with_name("infra")  # the installed console script, as on-call runs it
    return subprocess.Popen([str(infra), *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _sidecar(c) -> Path:
    """Where a run on container ``c`` keeps its lock's holder: the machine's lock directory, keyed by
    the container's full ID (not the name given, not INFRA_STATE_DIR)."""
    return lock_path(f"docker-container://{c.engine.client.containers.get(c.name).id}").with_suffix(".json")


def _wait_for_lock(c, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 15
    while not _sidecar(c).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)
    return json.loads(_sidecar(c).read_text())


def test_second_concurrent_run_on_the_same_target_is_refused(engine, infra, state_dir):
    c = engine.run("dead")
    first = _infra_subprocess(engine, state_dir, temporal_restart(c, "--timeout", "4", "--grace", "0", "--yes"))
    holder = _wait_for_lock(c, first)

    second = infra(*temporal_restart(c, "--timeout", "4", "--yes"))

    assert second.exit_code == 4
    assert f"{c.target} is locked by {holder['holder']} (pid {first.pid}, temporal-restart) since" in second.stderr
    assert first.wait(timeout=20) == 1  # the first run went on to its own end
    assert [a["exit_code"] for a in audit_lines(state_dir)] == [1]  # the refused run touched nothing


def test_the_same_container_by_id_or_short_id_from_another_state_dir_is_refused(engine, infra, state_dir,
                                                                                  tmp_path, monkeypatch):
    c = engine.run("dead")
    full_id = engine.client.containers.get(c.name).id
    first = _infra_subprocess(engine, state_dir, temporal_restart(c, "--timeout", "4", "--grace", "0", "--yes"))
    _wait_for_lock(c, first)
    monkeypatch.setenv("INFRA_STATE_DIR", str(tmp_path / "elsewhere"))  # another checkout's records

    for alias in (full_id, full_id[:12]):
        second = infra("restart-container", alias, "--health", c.probe, "--timeout", "4", "--yes")
        assert second.exit_code == 4, second.output
        assert f"docker://{alias} is locked by " in second.stderr
        assert f"temporal-restart, as {c.target}) since" in second.stderr

    assert first.wait(timeout=20) == 1
    assert not (tmp_path / "elsewhere" / "audit.jsonl").exists() or \
        not (tmp_path / "elsewhere" / "audit.jsonl").read_text()  # the refused runs changed nothing


@pytest.mark.parametrize(("sig", "how", "code"), [
    (signal.SIGINT, "Ctrl-C", 130),
    (signal.SIGTERM, "SIGTERM", 143),  # what a supervisor (systemd, a cancelled CI job, `kill`) sends
    (signal.SIGHUP, "SIGHUP", 129),  # the on-call's SSH session dropped
])
def test_an_interrupted_run_records_where_it_stopped_and_exits_128_plus_the_signal(engine, state_dir, sig, how,
                                                                                    code):
    c = engine.run("dead")
    run = _infra_subprocess(engine, state_dir, temporal_restart(c, "--timeout", "20", "--grace", "0", "--yes"))
    for line in run.stdout:
        if line.startswith("[4/5] verify"):
            break
    time.sleep(0.3)

    run.send_signal(sig)

    _, stderr = run.communicate(timeout=10)
    assert run.returncode == code
    assert f"interrupted ({how}) during step 'verify'" in stderr and "Traceback" not in stderr
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "**Stopped at:** step `verify`" in log
    [audit] = audit_lines(state_dir)
    assert audit["stopped_at"] == "verify" and audit["exit_code"] == code
    assert not _sidecar(c).exists()  # the lock was released


def _in_private_mounts(setup: str) -> list[str]:
    """A command prefix that runs it in a private mount namespace after ``setup`` (root only)."""
    if os.getuid() != 0:
        pytest.skip("mounting a filesystem for the test needs root")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", setup], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount here: {probe.stderr.strip()}")
    return ["unshare", "-m", "sh", "-c", f'{setup} && exec "$@"', "sh"]


def _read_only(directory: Path) -> list[str]:
    """``directory`` on a read-only filesystem (root ignores file modes: a real read-only bind mount), or
    file modes when not root."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.getuid() != 0:
        directory.chmod(0o555)
        return []
    return _in_private_mounts(f"mount --bind -o ro {directory} {directory}")


def _full(directory: Path) -> list[str]:
    """``directory`` on a small filesystem that is already full."""
    directory.mkdir(parents=True, exist_ok=True)
    return _in_private_mounts(f"mount -t tmpfs -o size=64k tmpfs {directory} && "
                              f"(dd if=/dev/zero of={directory}/filler bs=4k count=64 2>/dev/null; true)")


@pytest.mark.parametrize("problem", ["read-only", "a file in the way", "disk full"])
def test_a_state_directory_that_cannot_take_the_record_stops_the_run_before_the_restart(engine, tmp_path,
                                                                                        problem):
    c = engine.run("incident")
    before = c.started_at
    if problem == "read-only":
        state, prefix = tmp_path / "ro-state", _read_only(tmp_path / "ro-state")
    elif problem == "disk full":
        state, prefix = tmp_path / "full-state", _full(tmp_path / "full-state")
    else:
        (tmp_path / "file").write_text("not a directory")
        state, prefix = tmp_path / "file" / "state", []
    env = {**os.environ, "DOCKER_HOST": engine.docker_host, "INFRA_STATE_DIR": str(state)}
    infra = str(Path(sys.executable).with_name("infra"))
    run = subprocess.run([*prefix, infra, *temporal_restart(c, "--timeout", "5", "--yes")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)

    assert run.returncode == 3, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot write the run's record to {state}")
    assert "nothing was changed (free space or make it writable, or set INFRA_STATE_DIR" in line
    assert c.started_at == before  # not restarted
    assert not _sidecar(c).exists()
