"""The circuit breaker in front of `infra up` and `infra deploy`, with spend read from Cost Explorer
(moto's server over HTTP) and the stack faked."""

from __future__ import annotations

import json

import pytest

from policies import spend
from tests.conftest import moto_api
from tests.ops.conftest import one_error_line

IMAGE = "registry.example.com/platform/app:2.0.0"


@pytest.fixture
def spent(aws, monkeypatch, tmp_path):
    """Seed this month's tagged spend; the real `current_state` reads it from Cost Explorer."""
    monkeypatch.setattr(spend, "current_state", _REAL_CURRENT_STATE)
    monkeypatch.setenv("INFRA_STATE_DIR", str(tmp_path / "state"))

    def seed(usd: float) -> None:
        moto_api(aws, "static/ce/cost-and-usage-results", {"results": [{"ResultsByTime": [{
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-23"},
            "Total": {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}}, "Groups": [], "Estimated": True}]}]})

    return seed


_REAL_CURRENT_STATE = spend.current_state


@pytest.mark.parametrize("args", [["up", "staging", "--yes"], ["deploy", "staging", "--image", IMAGE, "--yes"]])
def test_frozen_at_100_percent(fake, infra, spent, args):
    spent(950.0)  # staging budget is $900
    result = infra(*args)
    assert result.exit_code == 4
    line = one_error_line(result)
    assert "staging has spent $950.00 of its $900.00 budget this month (106%): circuit breaker FREEZE" in line
    assert "--override-budget" in line
    assert fake.mutations() == [] and "release_settings" not in fake.names()


def test_stopped_at_200_percent_also_refuses(fake, infra, spent):
    spent(1900.0)
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 4 and "circuit breaker STOP" in result.stderr


def test_override_proceeds_and_is_audited(fake, infra, spent, tmp_path):
    spent(950.0)
    result = infra("deploy", "staging", "--image", IMAGE, "--yes", "--override-budget", "INC-7 security fix")
    assert result.exit_code == 0, result.output
    assert "up" in fake.mutations()
    [entry] = [json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert entry["event"] == "budget-override" and entry["reason"] == "INC-7 security fix"
    assert entry["action"] == "infra deploy staging" and entry["circuit_breaker"] == "freeze"
    assert entry["spent_usd"] == 950.0 and "@" in entry["actor"]


def test_below_100_percent_goes_ahead_without_audit(fake, infra, spent, tmp_path):
    spent(850.0)  # 94%: warn, not freeze
    assert infra("up", "staging", "--yes").exit_code == 0
    assert not (tmp_path / "state" / "audit.jsonl").exists()


def test_empty_override_reason_is_invalid(fake, infra, spent):
    spent(950.0)
    result = infra("up", "staging", "--yes", "--override-budget", "  ")
    assert result.exit_code == 2 and "--override-budget needs a reason" in one_error_line(result)
    assert fake.mutations() == []
