"""Every duration is bounded at the boundary: a wait that could never end (NaN, infinity, 1e308) or a
negative one is refused with one line and exit 2 before anything is touched, whichever command takes it
and whether it comes from the command line or the stack file."""

from __future__ import annotations

import pytest

from runbooks.engine import RunInputs
from runbooks.targets import parse_target
from runbooks.waiting import MAX_WAIT_SECONDS
from stacks.errors import InvalidInput

RUN = ["runbook", "run", "temporal-restart", "--env", "staging"]
RESTART = ["restart-container", "temporal", "--health", "tcp://127.0.0.1:7233"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "86401", "0", "-1"])
@pytest.mark.parametrize("command", [RUN, RESTART])
def test_a_timeout_that_is_not_a_sane_finite_duration_is_refused(infra, state_dir, monkeypatch, command, value):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # would be exit 3 if reached
    result = infra(*command, "--timeout", value, "--yes")
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --timeout ") and "finite number of seconds" in line
    assert not state_dir.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-0.5"])
def test_a_grace_window_that_is_not_a_sane_duration_is_refused(infra, state_dir, value):
    result = infra(*RUN, "--grace", value, "--dry-run")
    assert result.exit_code == 2
    assert "error: --grace " in result.stderr and "from 0 to 86400" in result.stderr


def test_zero_grace_and_a_days_long_timeout_are_accepted():
    inputs = RunInputs(target=parse_target("docker://t"), probe=None, timeout=MAX_WAIT_SECONDS, grace=0)
    assert inputs.grace == 0


@pytest.mark.parametrize(("timeout", "grace"), [(float("inf"), 0), (float("nan"), 0), (60, float("inf"))])
def test_durations_from_a_stack_file_are_bounded_too(timeout, grace):
    with pytest.raises(InvalidInput, match="finite number of seconds"):
        RunInputs(target=parse_target("docker://t"), probe=None, timeout=timeout, grace=grace)


def test_a_stack_file_with_an_infinite_runbook_timeout_is_refused(infra, state_dir, write_config, monkeypatch,
                                                                    tmp_path):
    write_config("staging", lambda c: c["infra:runbooks"]["temporal"].update(timeoutSeconds=float("inf")))
    monkeypatch.setenv("INFRA_PROJECT_DIR", str(tmp_path))
    (tmp_path / "Pulumi.yaml").write_text("name: infra\nruntime: python\n")
    result = infra(*RUN, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "timeout" in result.stderr.lower() and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("days", ["0", "366", "100000", "-3"])
def test_cost_report_days_are_bounded(infra, days):
    result = infra("cost", "report", "staging", "--days", days)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --days {days}: give a number of days from 1 to 365 (e.g. --days 14)"
