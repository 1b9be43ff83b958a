"""The Automation API side: backend and secrets settings, prerequisites, event and error translation, and
(where a pulumi CLI exists) a tiny real stack on a local backend."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
from pulumi import automation as auto
from pulumi.automation.events import EngineEvent

from stacks import releases, workspace
from stacks.errors import Blocked, InvalidInput, MissingPrerequisite, OperationFailed
from stacks.workspace import Diagnostic, PolicyViolation, ReleaseSettings, ResourceStep, StackLocked


def test_default_backend_is_a_local_file_with_a_generated_passphrase(tmp_path):
    settings = workspace.backend_settings(tmp_path, environ={})
    assert settings.url == f"file://{tmp_path}/.pulumi-state" and settings.is_local and not settings.needs_aws
    assert settings.secrets_provider == "passphrase"
    passphrase = tmp_path / ".pulumi-state" / "passphrase"
    assert settings.env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(passphrase)
    assert not passphrase.exists()  # generated when a stack is opened, not by reading the settings
    with workspace._local_state(settings):
        pass
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600 and len(passphrase.read_text().strip()) >= 40
    first = passphrase.read_text()
    with workspace._local_state(workspace.backend_settings(tmp_path, environ={})):
        pass
    assert passphrase.read_text() == first  # generated once, then reused


def test_an_operator_passphrase_wins(tmp_path):
    settings = workspace.backend_settings(tmp_path, environ={"PULUMI_CONFIG_PASSPHRASE": "from-vault"})
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in settings.env
    assert not (tmp_path / ".pulumi-state" / "passphrase").exists()


def test_team_backends(tmp_path):
    s3 = workspace.backend_settings(tmp_path, environ={
        "INFRA_BACKEND_URL": "s3://acme-state/infra?region=us-east-1",
        "INFRA_SECRETS_PROVIDER": "awskms://alias/infra-state?region=us-east-1"})
    assert s3.env["PULUMI_BACKEND_URL"] == "s3://acme-state/infra?region=us-east-1" and s3.needs_aws
    assert s3.secrets_provider.startswith("awskms://") and "PULUMI_CONFIG_PASSPHRASE_FILE" not in s3.env
    cloud = workspace.backend_settings(tmp_path, environ={"INFRA_BACKEND_URL": "https://api.pulumi.com"})
    assert cloud.secrets_provider is None and not cloud.needs_aws
    with pytest.raises(MissingPrerequisite, match="needs a KMS secrets provider"):
        workspace.backend_settings(tmp_path, environ={"INFRA_BACKEND_URL": "s3://acme-state"})
    with pytest.raises(InvalidInput, match="is not a backend URL"):
        workspace.backend_settings(tmp_path, environ={"INFRA_BACKEND_URL": "acme-state"})


def test_policy_pack_is_used_only_when_present(tmp_path):
    assert workspace.policy_packs(tmp_path) == []
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    assert workspace.policy_packs(tmp_path) == [str(tmp_path / "policies")]


def test_git_commit(tmp_path):
    assert workspace.git_commit(tmp_path) == "unknown"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert workspace.git_commit(tmp_path) == sha
    (tmp_path / "f").write_text("2")
    assert workspace.git_commit(tmp_path) == f"{sha}+dirty"


def test_release_settings_and_deletion_protection_come_from_the_stack_file(write_config):
    path = write_config("prod", lambda c: c["infra:release"].update(image="reg.example.com/app:1.0.0"))
    assert workspace.read_release_settings(path) == ReleaseSettings("reg.example.com/app:1.0.0", 3, 2)
    assert workspace.deletion_protected(path) is True
    bad = write_config("staging", lambda c: c["infra:release"].update(image="app"), name="bad.yaml")
    with pytest.raises(InvalidInput, match="infra:release"):
        workspace.read_release_settings(bad)
    assert workspace.deletion_protected(write_config("staging")) is False


def _event(**data):
    return EngineEvent.from_json({"sequence": 1, "timestamp": 1, **data})


def test_engine_events_become_cli_events():
    meta = {"op": "create", "urn": "urn:pulumi:staging::infra::aws:ec2/vpc:Vpc::infra-staging-vpc",
            "type": "aws:ec2/vpc:Vpc", "provider": ""}
    pre = workspace.convert_event(_event(resourcePreEvent={"metadata": meta, "planning": True}))
    assert pre == ResourceStep("create", meta["urn"], "aws:ec2/vpc:Vpc", "start", planning=True)
    assert pre.name == "infra-staging-vpc"
    done = workspace.convert_event(_event(resOutputsEvent={"metadata": meta}))
    assert done.phase == "done" and not done.planning
    failed = workspace.convert_event(_event(resOpFailedEvent={"metadata": meta, "status": 1, "steps": 1}))
    assert failed.phase == "failed"
    diag = workspace.convert_event(_event(diagnosticEvent={"message": "<{%reset%}>boom<{%reset%}>\n",
                                                           "severity": "error", "color": "raw"}))
    assert diag == Diagnostic("error", "boom", None)
    assert workspace.convert_event(_event(diagnosticEvent={"message": "x", "severity": "info"})) is None
    policy = workspace.convert_event(_event(policyEvent={
        "message": "no public buckets", "policyName": "s3-private", "policyPackName": "guardrails",
        "enforcementLevel": "mandatory", "color": "raw"}))
    assert policy == PolicyViolation("guardrails", "s3-private", "mandatory", "no public buckets", None)
    assert workspace.convert_event(_event(summaryEvent={"resourceChanges": {"same": 1}})) is None


class _StubStack:
    """Stands in for ``pulumi.automation.Stack`` to check what the adapter asks of it."""

    def __init__(self, error=None, events=()):
        self.error, self.events, self.calls = error, events, []

    def _run(self, name, kwargs):
        self.calls.append((name, kwargs))
        for e in self.events:
            kwargs["on_event"](e)
        if self.error:
            raise self.error
        summary = SimpleNamespace(resource_changes={"create": 1}, version=7)
        return SimpleNamespace(summary=summary, change_summary={"create": 1})

    def up(self, **kwargs):
        return self._run("up", kwargs)

    def preview(self, **kwargs):
        return self._run("preview", kwargs)

    def set_all_config(self, config, *, path=False):
        self.calls.append(("set_all_config", {"config": config, "path": path}))

    def remove_config(self, key, *, path=False):
        self.calls.append(("remove_config", {"key": key, "path": path}))


def _adapter(stub):
    stack = object.__new__(workspace.PulumiStack)
    stack.environment, stack._stack = "staging", stub
    return stack


def _failure(stderr):
    return auto.CommandError(auto.CommandResult(stdout="Updating (staging)\n", stderr=stderr, code=255))


def test_adapter_passes_message_policy_packs_and_events():
    meta = {"op": "create", "urn": "urn:pulumi:staging::infra::t::n", "type": "t"}
    stub = _StubStack(events=[_event(resourcePreEvent={"metadata": meta})])
    seen = []
    result = _adapter(stub).up(message="infra release: x", policy_packs=["/p/policies"], on_event=seen.append)
    assert result.version == 7 and result.changes == {"create": 1}
    [(name, kwargs)] = stub.calls
    assert kwargs["message"] == "infra release: x" and kwargs["policy_packs"] == ["/p/policies"]
    assert seen == [ResourceStep("create", meta["urn"], "t", "start")]
    _adapter(stub).preview(policy_packs=[], on_event=seen.append)
    assert stub.calls[-1][1]["policy_packs"] is None  # no pack: no --policy-pack flag


def test_adapter_translates_failures():
    with pytest.raises(OperationFailed, match="^up on staging failed: creating VPC: UnauthorizedOperation$"):
        _adapter(_StubStack(_failure("error: creating VPC: UnauthorizedOperation\n"))).up(
            message="m", policy_packs=[], on_event=lambda e: None)
    locked = auto.ConcurrentUpdateError(auto.CommandResult("", "error: the stack is currently locked", 255))
    with pytest.raises(StackLocked):
        _adapter(_StubStack(locked)).up(message="m", policy_packs=[], on_event=lambda e: None)
    violation = _event(policyEvent={"message": "RDS must be encrypted", "policyName": "rds-encrypted",
                                    "policyPackName": "guardrails", "enforcementLevel": "mandatory"})
    with pytest.raises(Blocked, match="refused by policy guardrails/rds-encrypted: RDS must be encrypted"):
        _adapter(_StubStack(_failure("error: update failed\n"), [violation])).preview(
            policy_packs=["p"], on_event=lambda e: None)


def test_the_error_line_names_the_cause_not_the_generic_update_failed():
    stdout = ("Updating (staging)\n\nDiagnostics:\n  pulumi:pulumi:Stack (infra-staging):\n    error: update failed\n\n"
              "  aws:ec2:Vpc (infra-staging-vpc):\n    error: creating EC2 VPC: UnauthorizedOperation\n")
    failure = auto.CommandError(auto.CommandResult(stdout=stdout, stderr="", code=255))
    with pytest.raises(OperationFailed, match="^up on staging failed: creating EC2 VPC: UnauthorizedOperation$"):
        _adapter(_StubStack(failure)).up(message="m", policy_packs=[], on_event=lambda e: None)
    only_generic = auto.CommandError(auto.CommandResult(stdout="", stderr="error: update failed\n", code=255))
    with pytest.raises(OperationFailed, match="^up on staging failed: update failed$"):
        _adapter(_StubStack(only_generic)).up(message="m", policy_packs=[], on_event=lambda e: None)


def test_adapter_writes_structured_release_keys():
    stub = _StubStack()
    _adapter(stub).set_release_settings(ReleaseSettings("reg.example.com/app:1.0.0", 3, 2))
    [(_, call)] = stub.calls
    assert call["path"] is True
    assert {k: v.value for k, v in call["config"].items()} == {
        "infra:release.image": "reg.example.com/app:1.0.0", "infra:release.appReplicas": "3",
        "infra:release.workerReplicas": "2"}


def test_adapter_removes_the_image_when_restoring_settings_that_had_none():
    """A first deploy that fails restores "no image yet": the key itself must go, not stay at the new image."""
    stub = _StubStack()
    _adapter(stub).set_release_settings(ReleaseSettings(None, 2, 2))
    assert ("remove_config", {"key": "infra:release.image", "path": True}) in stub.calls
    [written] = [call["config"] for name, call in stub.calls if name == "set_all_config"]
    assert {k: v.value for k, v in written.items()} == {"infra:release.appReplicas": "2",
                                                          "infra:release.workerReplicas": "2"}


class _OutputCommand:
    """Stands in for the pulumi CLI's `stack output --json`: masked unless --show-secrets."""

    CLEAR = {"cluster_name": "infra-staging-eks", "kubeconfig": "{apiVersion: v1}",
             "database": {"host": "db.internal", "password": "hunter2"}, "subnets": ["a", "b"]}
    MASKED = {"cluster_name": "infra-staging-eks", "kubeconfig": "[secret]",
              "database": {"host": "db.internal", "password": "[secret]"}, "subnets": ["a", "b"]}

    def __init__(self):
        self.calls = []

    def run(self, args, cwd, env):
        self.calls.append((args, cwd, env))
        doc = self.CLEAR if "--show-secrets" in args else self.MASKED
        return auto.CommandResult(stdout=json.dumps(doc), stderr="", code=0)


def _outputs_adapter():
    command = _OutputCommand()
    stub = _StubStack()
    stub.name = "staging"
    stub.workspace = SimpleNamespace(pulumi_home=None, env_vars={"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"},
                                     work_dir="/project", pulumi_command=command)
    return _adapter(stub), command


def test_outputs_read_only_the_masked_document_unless_secrets_are_asked_for():
    adapter, command = _outputs_adapter()
    values = adapter.outputs()
    [(args, cwd, env)] = command.calls  # the clear-text document is never read
    assert args == ["stack", "output", "--json", "--stack", "staging"] and cwd == "/project"
    assert env == {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"}
    assert {k: v.secret for k, v in values.items()} == {
        "cluster_name": False, "kubeconfig": True, "database": True, "subnets": False}  # nested secret found
    assert "hunter2" not in json.dumps({k: v.value for k, v in values.items()})
    adapter, command = _outputs_adapter()
    values = adapter.outputs(show_secrets=True)
    assert values["database"].value["password"] == "hunter2" and values["database"].secret
    assert command.calls[-1][0][-1] == "--show-secrets"


# --- integration: a real pulumi CLI, a tiny program, a local backend -------------------------------------------

PULUMI = workspace.find_pulumi()


@pytest.mark.skipif(PULUMI is None, reason="no pulumi CLI on PATH (install: curl -fsSL https://get.pulumi.com | sh); "
                                           "the fake-stack tests cover the commands")
def test_tiny_stack_on_a_local_backend(tmp_path, monkeypatch):
    project = tmp_path / "tiny"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(textwrap.dedent(f"""\
        name: tiny
        runtime:
          name: python
          options:
            virtualenv: {sys.prefix}
        """))
    (project / "__main__.py").write_text(textwrap.dedent("""\
        import pulumi
        cfg = pulumi.Config("infra").get_object("release") or {}
        pulumi.export("image", cfg.get("image"))
        pulumi.export("token", pulumi.Output.secret("s3cr3t"))
        pulumi.export("db", {"host": "db.internal", "password": pulumi.Output.secret("hunter2")})
        """))
    (project / "Pulumi.staging.yaml").write_text("config:\n  infra:release:\n    appReplicas: 2\n")
    monkeypatch.setenv("INFRA_PROJECT_DIR", str(project))
    for var in ("INFRA_BACKEND_URL", "PULUMI_BACKEND_URL", "INFRA_SECRETS_PROVIDER", "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    settings = workspace.backend_settings(project)
    stack = workspace.PulumiStack("staging", project, settings, PULUMI, create=True)
    wanted = ReleaseSettings("reg.example.com/app:1.0.0", 2, 2)
    stack.set_release_settings(wanted)
    assert stack.release_settings() == wanted
    events = []
    result = stack.up(message=releases.message(wanted, "abc"), policy_packs=[], on_event=events.append)
    assert result.version == 1 and result.changes.get("create") == 1  # the stack resource itself
    outputs = stack.outputs()
    assert outputs["image"].value == "reg.example.com/app:1.0.0" and outputs["token"].secret
    assert outputs["db"].secret and "hunter2" not in str(outputs["db"].value)  # a nested secret stays masked
    [release] = releases.releases(stack.history())
    assert release.ok and release.settings == wanted and release.commit == "abc"
    assert os.path.isdir(project / ".pulumi-state")
    stack.destroy(on_event=events.append)
