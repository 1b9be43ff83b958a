"""`infra runbook watch`: what it refuses and when it stops (the watching itself runs against a real
Temporal in test_temporal_incident.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from stacks import audit

INCIDENT = "20261124T031500Z-temporal-restart"


def opened(state_dir, *, hours_ago: float, probe: str = "grpc://127.0.0.1:7233") -> None:
    audit.append("runbook-run", path=state_dir / "audit.jsonl", time=datetime.now(UTC) - timedelta(hours=hours_ago),
                 incident=INCIDENT, runbook="temporal-restart", environment="staging",
                 target="docker://generic-corp-temporal", probe=probe, exit_code=0)


def test_an_unknown_incident_is_invalid_input_and_writes_nothing(infra, state_dir):
    result = infra("runbook", "watch", INCIDENT)

    assert result.exit_code == 2
    assert f"no incident '{INCIDENT}'" in result.stderr and "'Incident:' line" in result.stderr
    assert not state_dir.exists()


def test_after_the_window_it_says_so_and_touches_nothing(infra, state_dir):
    opened(state_dir, hours_ago=25)

    result = infra("runbook", "watch", INCIDENT)

    assert result.exit_code == 0, result.output
    assert "remove the schedule" in result.stdout
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert f"### Follow-up watch of `{INCIDENT}`" in log and "watch over: 25.0 h since the incident" in log
    last = json.loads((state_dir / "audit.jsonl").read_text().splitlines()[-1])
    assert (last["event"], last["exit_code"]) == ("runbook-watch", 0)


def test_a_probe_whose_password_the_record_did_not_keep_must_be_passed_again(infra, state_dir):
    opened(state_dir, hours_ago=1, probe="http://ops:s3cret@127.0.0.1:8233/health")

    result = infra("runbook", "watch", INCIDENT)

    assert result.exit_code == 2
    assert "carried a password, which records never keep" in result.stderr and "--health" in result.stderr
    assert "s3cret" not in (state_dir / "audit.jsonl").read_text() + result.output
