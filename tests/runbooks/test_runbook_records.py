"""The record of a run is never lost: a bug in a step after a change, or a record file that fails at the
end (the disk filled up during the run), still leaves the record somewhere an engineer will find it.
The target and steps here are stand-ins on purpose: the point is the engine around them."""

from __future__ import annotations

import json

import pytest

from runbooks.engine import Runbook, RunInputs, Step, StepResult, execute
from runbooks.state import StatePaths
from runbooks.targets import ENGINES, Target, TargetRef


class Machine(Target):
    def __init__(self, ref: TargetRef) -> None:
        self.ref = str(ref)
        self.restarted = False

    def ensure_exists(self) -> None:
        self.resolved = "machine-id://42"

    @property
    def next_action(self) -> str:
        return "look at it"


class Restart(Step):
    name, does, needs, mutating = "restart", "restart it", "nothing", True

    def run(self, run):
        run.target.restarted = True
        run.note("restarted it", action=True)
        return StepResult.cont()


class Crash(Step):
    name, does, needs = "verify", "verify", "nothing"

    def run(self, run):
        raise RuntimeError("a bug in the verify step")


class LoseTheLog(Step):
    """The incident log stops taking writes during the run (here: something replaced it with a directory)."""

    name, does, needs = "verify", "verify", "nothing"

    def __init__(self, log) -> None:
        self.log = log

    def run(self, run):
        self.log.unlink()
        self.log.mkdir()
        return StepResult.cont()


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.setitem(ENGINES, "machine", Machine)
    return StatePaths(tmp_path / "state")


def run(paths: StatePaths, *steps: Step, said: list[str]) -> str:
    runbook = Runbook(name="test-restart", title="Test", summary="", steps=steps, when_it_fails="")
    inputs = RunInputs(target=TargetRef("machine", "m1"), probe=None, timeout=5)
    return execute(runbook, inputs, paths=paths, dry_run=False, confirm=lambda r, s: True, say=said.append)


def test_a_bug_after_a_change_is_still_recorded_then_raised(paths):
    said: list[str] = []
    with pytest.raises(RuntimeError, match="a bug in the verify step"):  # a bug keeps its traceback
        run(paths, Restart(), Crash(), said=said)

    log = paths.incident_log.read_text()
    assert "restarted it" in log and "**Stopped at:** step `verify`" in log
    assert "failed unexpectedly during step 'verify': RuntimeError: a bug in the verify step" in log
    [audit] = [json.loads(line) for line in paths.audit_log.read_text().splitlines()]
    assert audit["exit_code"] == 1 and audit["stopped_at"] == "verify" and audit["actions"] == ["restarted it"]


def test_a_record_file_that_fails_at_the_end_is_printed_instead_of_lost(paths):
    said: list[str] = []
    outcome = run(paths, Restart(), LoseTheLog(paths.incident_log), said=said)

    assert outcome.startswith("resolved")
    [warning] = [text for text in said if text.startswith("warning: could not append the incident record")]
    assert str(paths.incident_log) in warning and "here it is, keep it:" in warning
    assert "restarted it" in warning and "## " in warning  # the whole record, as it would have been appended
    [audit] = [json.loads(line) for line in paths.audit_log.read_text().splitlines()]
    assert audit["exit_code"] == 0 and audit["actions"] == ["restarted it"]
