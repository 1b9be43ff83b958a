"""`infra up|preview|refresh|destroy|outputs|history` driven through Typer with a fake stack."""

from __future__ import annotations

import json

import pytest

from stacks import workspace
from stacks.errors import OperationFailed
from stacks.workspace import OutputValue, PolicyViolation, StackLocked
from tests.ops.conftest import one_error_line, plain_record


def test_up_with_yes_applies_straight_away_with_the_policy_pack(infra, fake):
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 0, result.output
    assert fake.opened == [("staging", True)]
    assert fake.mutations() == ["up"] and "preview" not in fake.names()
    [(_, up)] = [c for c in fake.calls if c[0] == "up"]
    assert up["message"] == "infra up: commit=abc123def4567890abc123def4567890abc12345"
    assert up["policy_packs"][0].endswith("policies")
    # live progress, then the change summary
    assert "kubernetes:apps/v1:Deployment app" in result.stdout and "created" in result.stdout
    assert "warning: node group at 80% of maxSize" in result.stdout
    assert "staging updated (update 1): 2 created, 1 updated, 90 unchanged" in result.stdout


def test_mutating_without_yes_and_without_a_terminal_refuses_before_anything(infra, fake):
    for args in (["up", "staging"], ["refresh", "prod"], ["destroy", "staging"]):
        result = infra(*args)
        assert result.exit_code == 2
        assert one_error_line(result) == (
            f"error: refusing to change {args[1]} without --yes (no terminal to confirm)")
    assert fake.opened == [] and fake.calls == []


@pytest.mark.parametrize("stdin", [None, "closed"])
def test_no_usable_stdin_is_not_a_terminal(monkeypatch, stdin):
    """`infra up prod <&-` (stdin closed: Python's sys.stdin is None) refuses like a pipe, not with a traceback."""
    import io
    import sys

    from cli.confirm import interactive

    if stdin == "closed":
        stdin = io.StringIO()
        stdin.close()
    monkeypatch.setattr(sys, "stdin", stdin)
    assert interactive() is False


def test_up_staging_previews_then_asks(infra, fake, terminal):
    result = infra("up", "staging", input="y\n")
    assert result.exit_code == 0, result.output
    assert fake.names()[-2:] == ["preview", "up"]
    assert "Update staging? [y/N]" in result.stdout
    assert "staging preview: 2 to create, 1 to update, 90 unchanged" in result.stdout


def test_up_staging_declined_changes_nothing(infra, fake, terminal):
    result = infra("up", "staging", input="n\n")
    assert result.exit_code == 2
    assert one_error_line(result) == "error: not confirmed; nothing was changed"
    assert "preview" in fake.names() and fake.mutations() == []


def test_ctrl_c_at_the_confirmation_is_an_interruption_and_changes_nothing(infra, fake, terminal):
    result = infra("up", "staging", input="")  # the prompt's input ends, as on Ctrl-C / Ctrl-D
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted (Ctrl-C)" and "Aborted" not in result.output
    assert fake.mutations() == []


def test_prod_wants_its_name_typed(infra, fake, terminal):
    wrong = infra("up", "prod", input="yes\n")
    assert wrong.exit_code == 2 and fake.mutations() == []
    assert "Type the environment name to continue" in wrong.stdout
    assert one_error_line(wrong) == "error: the typed name does not match 'prod'; nothing was changed"
    right = infra("up", "prod", input="prod\n")
    assert right.exit_code == 0, right.output
    assert fake.mutations() == ["up"]


def test_unknown_environment_is_one_line_exit_2(infra, fake):
    for command in ("up", "preview", "refresh", "destroy", "outputs", "history"):
        result = infra(command, "qa", "--yes") if command in ("up", "refresh", "destroy") else infra(command, "qa")
        assert result.exit_code == 2, command
        assert one_error_line(result) == "error: unknown environment 'qa' (use one of: staging, prod)"
    assert fake.calls == [] and fake.opened == []


def test_invalid_stack_file_stops_up_before_the_backend(infra, fake, write_config, monkeypatch, tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: infra\n")
    write_config("staging", lambda c: c["infra:postgres"].update(multiAz="perhaps"))
    monkeypatch.setenv("INFRA_PROJECT_DIR", str(tmp_path))
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 2
    assert "Pulumi.staging.yaml: infra:postgres.multiAz" in one_error_line(result)
    assert fake.opened == []


def test_preview_needs_no_confirmation_and_changes_nothing(infra, fake):
    result = infra("preview", "prod")
    assert result.exit_code == 0, result.output
    assert fake.opened == [("prod", True)] and fake.names() == ["outputs", "preview"] and fake.mutations() == []
    assert "policy pack:" in result.stdout
    assert "to create" in result.stdout and "prod preview: 2 to create" in result.stdout


def test_policy_violations_are_shown_as_they_happen(infra, fake):
    fake.events.append(PolicyViolation("infra-guardrails", "rds-multi-az", "mandatory", "prod must be Multi-AZ",
                                       "urn:x"))
    result = infra("preview", "prod")
    assert "policy mandatory infra-guardrails/rds-multi-az: prod must be Multi-AZ" in result.stdout


def test_failed_update_is_exit_1_one_line(infra, fake):
    fake.fail["up"] = OperationFailed("up on staging failed: creating EKS Cluster: AccessDenied")
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 1
    assert one_error_line(result) == "error: up on staging failed: creating EKS Cluster: AccessDenied"


def test_a_locked_stack_is_blocked_exit_4(infra, fake):
    fake.fail["up"] = StackLocked("staging is locked by another update")
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 4
    assert one_error_line(result) == "error: staging is locked by another update"


def test_refresh_with_yes(infra, fake):
    result = infra("refresh", "staging", "--yes")
    assert result.exit_code == 0, result.output
    assert fake.mutations() == ["refresh"] and "staging refreshed: 93 unchanged" in result.stdout


def test_destroy_staging(infra, fake, terminal):
    result = infra("destroy", "staging", input="y\n")
    assert result.exit_code == 0, result.output
    assert "Destroy every resource of staging? [y/N]" in result.stdout
    assert fake.mutations() == ["destroy"] and "staging destroyed: 93 deleted" in result.stdout


def test_destroy_prod_needs_the_extra_flag(infra, fake):
    result = infra("destroy", "prod", "--yes")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "error: destroying prod needs --destroy-production as well; nothing was changed")
    assert fake.opened == []


def test_destroy_is_blocked_while_deletion_protection_is_on(infra, fake):
    result = infra("destroy", "prod", "--yes", "--destroy-production")
    assert result.exit_code == 4
    assert one_error_line(result).startswith(
        "error: Pulumi.prod.yaml: infra:postgres.deletionProtection is on; destroy refused")
    assert fake.opened == [] and fake.calls == []


def test_destroy_staging_blocked_when_its_file_turns_protection_on(infra, fake, write_config, monkeypatch, tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: infra\n")
    write_config("staging", lambda c: c["infra:postgres"].update(deletionProtection=True))
    monkeypatch.setenv("INFRA_PROJECT_DIR", str(tmp_path))
    result = infra("destroy", "staging", "--yes")
    assert result.exit_code == 4 and "set it to false and run `infra up staging` first" in result.stderr
    assert fake.calls == []


OUTPUTS = {
    "cluster_name": OutputValue("infra-staging-eks", False),
    "database_port": OutputValue(5432, False),
    "kubeconfig": OutputValue('{"apiVersion": "v1"}', True),
}


def test_outputs_hide_secrets_unless_asked(infra, fake):
    fake.output_values = dict(OUTPUTS)
    table = infra("outputs", "staging")
    assert table.exit_code == 0, table.output
    assert fake.opened == [("staging", False)]  # reading state calls no cloud API
    assert "infra-staging-eks" in table.stdout and "[secret]" in table.stdout and "apiVersion" not in table.stdout
    doc = json.loads(infra("outputs", "staging", "--json").stdout)
    assert doc == {"cluster_name": "infra-staging-eks", "database_port": 5432, "kubeconfig": "[secret]"}
    shown = json.loads(infra("outputs", "staging", "--json", "--show-secrets").stdout)
    assert shown["kubeconfig"] == '{"apiVersion": "v1"}'
    assert [c[1]["show_secrets"] for c in fake.calls if c[0] == "outputs"] == [False, False, True]
    assert fake.mutations() == []


def test_an_output_with_a_secret_inside_is_hidden_whole(infra, fake):
    fake.output_values = {"database": OutputValue({"host": "db.internal", "password": "[secret]"}, True)}
    doc = json.loads(infra("outputs", "staging", "--json").stdout)
    assert doc == {"database": "[secret]"}


def test_history_lists_updates_newest_first(infra, fake):
    fake.history_records = [plain_record(3, result="failed", message="infra up: commit=bad"),
                            plain_record(2, kind="refresh"), plain_record(1)]
    result = infra("history", "staging")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("infra up: commit=bad") < out.index("refresh") < out.rindex("infra up")
    assert "failed" in out and "42s" in out and "92 unchanged" in out
    assert fake.opened == [("staging", False)] and fake.mutations() == []


def test_history_json_is_a_versioned_document_newest_first(infra, fake):
    fake.history_records = [plain_record(2, result="failed", message="infra up: commit=bad"), plain_record(1)]
    result = infra("history", "staging", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["environment"] == "staging"
    assert [(u["version"], u["result"], u["message"]) for u in doc["updates"]] == [
        (2, "failed", "infra up: commit=bad"), (1, "succeeded", "infra up")]
    first = doc["updates"][1]
    assert first["startTime"] == "2025-01-06T10:00:00" and first["endTime"] == "2025-01-06T10:00:42"
    assert first["changes"] == {"same": 92}


def test_applying_the_shipped_example_values_is_refused_before_anything(infra, fake, monkeypatch):
    """Applied, the example access entries would fail after the cluster exists: a half-applied change."""
    from stacks import config
    from tests.ops.conftest import SHIPPED_EXAMPLE_VALUES

    monkeypatch.setattr(config, "example_values", SHIPPED_EXAMPLE_VALUES)
    for args in (["up", "staging", "--yes"], ["deploy", "prod", "--image", "reg.example.com/app:1.0.0", "--yes"],
                 ["rollback", "staging", "--yes"]):
        result = infra(*args)
        assert result.exit_code == 2, (args, result.output)
        line = one_error_line(result)
        assert line.startswith(f"error: Pulumi.{args[1]}.yaml still has example values: eks.publicAccessCidrs")
        assert "111122223333" in line and "nothing was changed" in line
    assert fake.opened == [] and fake.calls == []
    assert infra("preview", "staging").exit_code == 0  # reading what would change is fine


def test_only_preview_and_up_may_create_the_stack(infra, fake):
    """Reading outputs or history, deploying or destroying an environment that was never created must not
    register an empty stack as a side effect."""
    commands = {("preview", "staging"): True, ("up", "staging", "--yes"): True,
                ("outputs", "staging"): False, ("history", "staging"): False, ("releases", "staging"): False,
                ("refresh", "staging", "--yes"): False, ("destroy", "staging", "--yes"): False,
                ("deploy", "staging", "--image", "reg.example.com/app:1.0.0", "--yes"): False}
    for args, creates in commands.items():
        before = len(fake.creating)
        result = infra(*args)
        assert result.exit_code == 0, (args, result.output)
        assert fake.creating[before:] == [creates], args


# --- prerequisites: the real open_stack --------------------------------------------------------------------


@pytest.fixture
def real_open(infra, monkeypatch, tmp_path):
    """The real `open_stack`, on a throwaway project holding the real stack files."""
    from tests.conftest import ROOT

    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    monkeypatch.setenv("INFRA_PROJECT_DIR", str(tmp_path))
    for var in ("INFRA_BACKEND_URL", "PULUMI_BACKEND_URL", "INFRA_SECRETS_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_no_pulumi_cli_is_exit_3_with_the_offline_pointer(infra, real_open, monkeypatch):
    monkeypatch.setattr(workspace, "find_pulumi", lambda: None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")  # only the CLI is missing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    for args in (["preview", "staging"], ["up", "staging", "--yes"], ["outputs", "prod"], ["history", "prod"]):
        result = infra(*args)
        assert result.exit_code == 3, args
        line = one_error_line(result)
        assert line.startswith("error: the pulumi CLI is not on PATH (install it with")
        assert f"`infra plan {args[1]}` works offline" in line


def test_a_fresh_clone_hears_every_missing_prerequisite_at_once_and_keeps_nothing(infra, real_open, monkeypatch):
    import boto3

    class NoCredentials:
        def get_credentials(self):
            return None

    monkeypatch.setattr(workspace, "find_pulumi", lambda: None)
    monkeypatch.setattr(boto3, "Session", NoCredentials)
    for args in (["up", "staging", "--yes"], ["preview", "staging"]):
        result = infra(*args)
        assert result.exit_code == 3, result.output
        line = one_error_line(result)
        assert line.startswith("error: 2 prerequisites are missing: the pulumi CLI is not on PATH (install it with")
        assert "; no AWS credentials found (run `aws sso login`" in line
        assert line.endswith("(`infra doctor staging` checks them all; `infra plan staging` works offline)")
        assert line.count("works offline") == 1
    assert not (real_open / ".pulumi-state").exists()  # no passphrase generated for a command that failed

    # As cloned: the shipped example values are still there too. One refusal names all of it (exit 2 first,
    # as doctor orders them: the settings are the user's to fix before anything else).
    from stacks import config
    from tests.ops.conftest import SHIPPED_EXAMPLE_VALUES

    monkeypatch.setattr(config, "example_values", SHIPPED_EXAMPLE_VALUES)
    result = infra("up", "staging", "--yes")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("error: Pulumi.staging.yaml still has example values: eks.publicAccessCidrs")
    assert ("; and 2 prerequisites are missing: the pulumi CLI is not on PATH (install it with" in line
            and "; no AWS credentials found (" in line)
    assert line.endswith("`infra doctor staging` lists everything with its fix)")
    assert not (real_open / ".pulumi-state").exists()


def test_a_stack_that_cannot_be_opened_leaves_no_passphrase_behind(infra, real_open, monkeypatch):
    from pulumi import automation as auto

    def unreachable(**kwargs):
        raise auto.CommandError(auto.CommandResult(stdout="", stderr="error: could not read the state\n", code=255))

    monkeypatch.setattr(workspace, "find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    monkeypatch.setattr(auto, "PulumiCommand", lambda **kwargs: object())
    monkeypatch.setattr(auto, "select_stack", unreachable)
    monkeypatch.setattr(auto, "create_or_select_stack", unreachable)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert infra("preview", "staging").exit_code == 3
    assert not (real_open / ".pulumi-state").exists()

    opened = []
    monkeypatch.setattr(auto, "create_or_select_stack", lambda **kwargs: opened.append(kwargs) or object())
    workspace.open_stack("staging", cloud=True, create=True)
    passphrase = real_open / ".pulumi-state" / "passphrase"
    assert opened and passphrase.stat().st_mode & 0o777 == 0o600  # kept once the stack exists
    assert opened[0]["opts"].env_vars["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(passphrase)


def test_no_aws_credentials_is_exit_3(infra, real_open, monkeypatch):
    import boto3

    class NoCredentials:
        def get_credentials(self):
            return None

    monkeypatch.setattr(workspace, "find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    monkeypatch.setattr(boto3, "Session", NoCredentials)
    result = infra("preview", "staging")
    assert result.exit_code == 3
    line = one_error_line(result)
    assert line.startswith("error: no AWS credentials found") and "`infra plan staging` works offline" in line


def test_shared_s3_backend_without_kms_is_exit_3(infra, real_open, monkeypatch):
    monkeypatch.setenv("INFRA_BACKEND_URL", "s3://acme-pulumi-state/infra?region=us-east-1")
    result = infra("history", "staging")
    assert result.exit_code == 3
    assert "needs a KMS secrets provider" in one_error_line(result)


def test_unreachable_backend_is_exit_3(infra, real_open, monkeypatch):
    from pulumi import automation as auto

    def unreachable(**kwargs):
        raise auto.CommandError(auto.CommandResult(
            stdout="", stderr="error: failed to load checkpoint: blob (key \".pulumi/meta.yaml\") "
                              "(code=Unknown): dial tcp: lookup s3.amazonaws.com: no such host\n", code=255))

    monkeypatch.setattr(workspace, "find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    monkeypatch.setattr(auto, "PulumiCommand", lambda **kwargs: object())
    monkeypatch.setattr(auto, "select_stack", unreachable)
    result = infra("history", "staging")
    assert result.exit_code == 3
    line = one_error_line(result)
    assert f"state backend file://{real_open}/.pulumi-state unreachable: failed to load checkpoint" in line
    assert "`infra plan staging` works offline" in line


def test_a_stack_never_created_is_exit_3_and_is_not_created(infra, real_open, monkeypatch):
    from pulumi import automation as auto

    selected, created = [], []

    def select_stack(**kwargs):
        selected.append(kwargs["stack_name"])
        raise auto.StackNotFoundError(auto.CommandResult(
            stdout="", stderr="error: no stack named 'staging' found\n", code=255))

    monkeypatch.setattr(workspace, "find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    monkeypatch.setattr(auto, "PulumiCommand", lambda **kwargs: object())
    monkeypatch.setattr(auto, "select_stack", select_stack)
    monkeypatch.setattr(auto, "create_or_select_stack", lambda **kwargs: created.append(kwargs["stack_name"]))
    for args in (["outputs", "staging"], ["history", "staging"], ["releases", "staging"]):
        result = infra(*args)
        assert result.exit_code == 3, (args, result.output)
        assert one_error_line(result) == (
            f"error: staging has not been created yet: no stack staging in file://{real_open}/.pulumi-state "
            "(create it with `infra up staging`; `infra preview staging` shows what that would do)")
    assert selected == ["staging"] * 3 and created == []


def test_engine_diagnostics_are_masked_on_the_console(infra, fake):
    """A provider error quoting its request (here a presigned URL and a connection string) shows no secret."""
    from stacks.workspace import Diagnostic

    fake.events.append(Diagnostic("error", "GET https://b.s3.amazonaws.com/k?X-Amz-Signature=fe5f80f77d5fa3be "
                                           "failed; dsn postgres://app:hunter2@db/app"))
    result = infra("preview", "staging")
    assert "X-Amz-Signature=***" in result.stdout and "postgres://app:***@db/app" in result.stdout
    assert "fe5f80f77d5fa3be" not in result.stdout and "hunter2" not in result.stdout
