"""A fake stack behind the `StackOperations` interface, and a test app carrying the stack/release commands.

The fake records every call; mutating ones are ``up``, ``refresh``, ``destroy`` and ``set_release_settings``.
``up`` appends to the history the way the backend would (succeeded, or failed when told to fail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks import config, releases, workspace
from stacks.errors import OperationFailed
from stacks.workspace import (
    Diagnostic,
    OperationResult,
    OutputValue,
    PolicyViolation,
    ReleaseSettings,
    ResourceStep,
    UpdateRecord,
)

MUTATING = {"up", "refresh", "destroy", "set_release_settings"}
T0 = datetime(2025, 1, 6, 9, 0)
IMAGE = "registry.example.com/platform/app:{}"
DEPLOYMENT_URN = "urn:pulumi:staging::infra::kubernetes:apps/v1:Deployment::app"


def release_record(version: int, tag: str, result: str = "succeeded", *, replicas: tuple[int, int] = (2, 2),
                   rollback_from: int | None = None, rollback_to: int | None = None) -> UpdateRecord:
    settings = ReleaseSettings(IMAGE.format(tag), *replicas)
    return UpdateRecord(
        version=version, kind="update", result=result,
        message=releases.message(settings, f"c0ffee{version:02d}" + "0" * 32, rollback_from=rollback_from,
                                 rollback_to=rollback_to),
        start_time=T0 + timedelta(hours=version), end_time=T0 + timedelta(hours=version, minutes=3),
        changes={"update": 2, "same": 90},
    )


def plain_record(version: int, kind: str = "update", result: str = "succeeded",
                 message: str = "infra up") -> UpdateRecord:
    return UpdateRecord(version=version, kind=kind, result=result, message=message,
                        start_time=T0 + timedelta(hours=version), end_time=T0 + timedelta(hours=version, seconds=42),
                        changes={"same": 92})


@dataclass
class FakeStack:
    environment: str = ""
    history_records: list[UpdateRecord] = field(default_factory=list)  # newest first
    settings: ReleaseSettings = field(default_factory=lambda: ReleaseSettings(None, 2, 2))
    output_values: dict[str, OutputValue] = field(default_factory=dict)
    fail: dict[str, Exception] = field(default_factory=dict)  # operation -> error to raise
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    opened: list[tuple[str, bool]] = field(default_factory=list)
    creating: list[bool] = field(default_factory=list)  # open_stack(create=...) per open
    events: list[Any] = field(default_factory=lambda: [
        ResourceStep("create", DEPLOYMENT_URN, "kubernetes:apps/v1:Deployment", "start"),
        ResourceStep("create", DEPLOYMENT_URN, "kubernetes:apps/v1:Deployment", "done"),
        Diagnostic("warning", "node group at 80% of maxSize"),
    ])
    drift_events: list[Any] = field(default_factory=list)  # what drift_preview reports (none: no drift)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def mutations(self) -> list[str]:
        return [name for name in self.names() if name in MUTATING]

    def _call(self, name: str, on_event=None, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        if on_event is not None:
            for event in self.events:
                on_event(event if name != "preview" or not isinstance(event, ResourceStep) else
                         ResourceStep(event.op, event.urn, event.type, event.phase, planning=True))
        if name in self.fail:
            raise self.fail[name]

    def _record(self, kind: str, message: str, result: str) -> int:
        version = max((r.version or 0 for r in self.history_records), default=0) + 1
        self.history_records.insert(0, UpdateRecord(version, kind, result, message, T0 + timedelta(days=1)))
        return version

    def preview(self, *, policy_packs, on_event):
        self._call("preview", on_event, policy_packs=policy_packs)
        return OperationResult(changes={"create": 2, "update": 1, "same": 90})

    def drift_preview(self, *, on_event):
        self.calls.append(("drift_preview", {}))
        for event in self.drift_events:
            on_event(event)
        if "drift_preview" in self.fail:
            raise self.fail["drift_preview"]
        ops = [e.op for e in self.drift_events if isinstance(e, ResourceStep) and e.phase == "start"]
        return OperationResult(changes={op: ops.count(op) for op in set(ops)} or {"same": 93})

    def up(self, *, message, policy_packs, on_event):
        try:
            self._call("up", on_event, message=message, policy_packs=policy_packs)
        except OperationFailed:
            self._record("update", message, "failed")
            raise
        version = self._record("update", message, "succeeded")
        return OperationResult(changes={"create": 2, "update": 1, "same": 90}, version=version)

    def refresh(self, *, on_event):
        self._call("refresh", on_event)
        return OperationResult(changes={"same": 93}, version=self._record("refresh", "", "succeeded"))

    def destroy(self, *, on_event):
        self._call("destroy", on_event)
        return OperationResult(changes={"delete": 93}, version=self._record("destroy", "", "succeeded"))

    def outputs(self, *, show_secrets=False):
        self._call("outputs", show_secrets=show_secrets)
        return dict(self.output_values)

    def history(self):
        self._call("history")
        return list(self.history_records)

    def release_settings(self):
        self._call("release_settings")
        return self.settings

    def set_release_settings(self, settings):
        self._call("set_release_settings", settings=settings)
        self.settings = settings


@pytest.fixture(autouse=True)
def no_instance_metadata(monkeypatch):
    """Looking for AWS credentials must never leave this machine: boto3's chain ends at the EC2 instance
    metadata service (169.254.169.254), which the tests never reach."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def own_values(monkeypatch):
    """The stack files as a team has them before its first `infra up`: its own CIDRs, account and emails
    instead of the shipped examples (which `up`, `deploy` and `rollback` refuse; see test_stack_cmd)."""
    monkeypatch.setattr(config, "example_values", lambda cfg: [])


SHIPPED_EXAMPLE_VALUES = config.example_values  # the real check, for the tests of the refusal


@pytest.fixture
def fake(monkeypatch) -> FakeStack:
    stack = FakeStack()

    def open_stack(env: str, *, cloud: bool, create: bool = False) -> FakeStack:
        stack.environment = env
        stack.opened.append((env, cloud))
        stack.creating.append(create)
        return stack

    monkeypatch.setattr(workspace, "open_stack", open_stack)
    # Spend is within budget unless a test says otherwise (the breaker is tested against moto).
    from policies import spend

    monkeypatch.setattr(spend, "current_state", lambda cfg, today=None: (spend.BreakerState.OK, 0.0))
    monkeypatch.setattr(workspace, "git_commit", lambda project: "abc123def4567890abc123def4567890abc12345")
    monkeypatch.setattr(workspace, "policy_packs", lambda project: [str(project / "policies")])
    return stack


@pytest.fixture
def terminal(monkeypatch):
    """Pretend someone sits at a terminal (CliRunner's stdin is never a TTY)."""

    monkeypatch.setattr("cli.confirm.interactive", lambda: True)


@pytest.fixture
def infra():
    """The real `infra` app, driven through Typer's test runner."""
    from cli.main import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


__all__ = ["FakeStack", "PolicyViolation", "one_error_line", "plain_record", "release_record"]
