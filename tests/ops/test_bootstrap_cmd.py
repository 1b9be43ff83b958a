"""`infra bootstrap plan|up` through Typer's runner; `up` drives the fake stack behind the same interface."""

from __future__ import annotations

import json

import pytest
import yaml

from bootstrap import config as bootstrap_config
from stacks import workspace
from stacks.workspace import OutputValue
from tests.ops.conftest import one_error_line

ARNS = {"github_oidc_provider_arn": "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
        **{f"{k}_role_arn": f"arn:aws:iam::210987654321:role/infra-ci-{k.replace('_', '-')}"
           for k in ("preview", "drift", "deploy", "cost_guard")}}


@pytest.fixture
def bootstrap_stack(fake, monkeypatch):
    opened = []

    def open_project_stack(name, work_dir, *, cloud, create=False, offline=None):
        opened.append((name, work_dir, cloud, create))
        fake.environment = name
        return fake

    monkeypatch.setattr(workspace, "open_project_stack", open_project_stack)
    fake.output_values = {k: OutputValue(v, False) for k, v in ARNS.items()}
    fake.opened_projects = opened
    return fake


def test_plan_shows_who_may_assume_each_role(infra):
    result = infra("bootstrap", "plan")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ci (us-east-1): 9 resources in 1 components" in out
    assert "infra-ci-deploy may be assumed by: repo:generic-corp/infra:environment:staging, " \
           "repo:generic-corp/infra:environment:prod" in out
    assert "infra-ci-preview may be assumed by: repo:generic-corp/infra:pull_request" in out
    assert "0 mandatory and 0 advisory violations" in out


def test_plan_json_is_the_same_versioned_document(infra):
    result = infra("bootstrap", "plan", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["environment"] == "ci"
    assert {r["type"] for r in doc["resources"]} == {
        "infra:aws:CiAccess", "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy"}
    assert all(r["urn"].startswith("urn:pulumi:ci::infra-bootstrap::") for r in doc["resources"])
    assert "Guardrails:" in result.stderr


def test_up_previews_asks_applies_and_prints_the_repository_variables(infra, bootstrap_stack, terminal):
    result = infra("bootstrap", "up", input="y\n")
    assert result.exit_code == 0, result.output
    [(name, work_dir, cloud, create)] = bootstrap_stack.opened_projects
    assert (name, work_dir, cloud, create) == ("ci", bootstrap_config.DIRECTORY, True, True)
    assert bootstrap_stack.mutations() == ["up"] and "preview" in bootstrap_stack.names()
    assert "Create the CI access for generic-corp/infra in ci? [y/N]" in result.stdout
    for variable, output in (("AWS_PREVIEW_ROLE_ARN", "preview"), ("AWS_DRIFT_ROLE_ARN", "drift"),
                             ("AWS_DEPLOY_ROLE_ARN", "deploy"), ("AWS_COST_GUARD_ROLE_ARN", "cost_guard")):
        assert f"gh variable set {variable} --body {ARNS[f'{output}_role_arn']}" in result.stdout


def test_up_declined_or_without_a_terminal_changes_nothing(infra, bootstrap_stack, terminal, monkeypatch):
    declined = infra("bootstrap", "up", input="n\n")
    assert declined.exit_code == 2 and bootstrap_stack.mutations() == []
    monkeypatch.setattr("cli.confirm.interactive", lambda: False)
    refused = infra("bootstrap", "up")
    assert refused.exit_code == 2
    assert one_error_line(refused) == "error: refusing to change ci without --yes (no terminal to confirm)"
    assert bootstrap_stack.mutations() == []


def test_an_inexact_trust_is_refused_before_the_account_is_touched(infra, bootstrap_stack, monkeypatch):
    from components import ci_access

    real = ci_access.trust_policy
    monkeypatch.setattr(ci_access, "trust_policy", lambda arn, subjects: real(arn, ["repo:generic-corp/*"]).replace(
        "StringEquals", "StringLike"))
    monkeypatch.setenv("COLUMNS", "400")  # the violations table on one line per row
    result = infra("bootstrap", "up", "--yes")
    assert result.exit_code == 4
    assert "oidc-trust-exact-subject" in result.stdout and "wildcard subject 'repo:generic-corp/*'" in result.stdout
    assert one_error_line(result) == ("error: 4 mandatory guardrail violations: nothing may deploy "
                                      "(fix them or see: infra policy list)")
    assert bootstrap_stack.opened_projects == [] and bootstrap_stack.calls == []


def test_a_bad_config_is_one_line_exit_2(infra, tmp_path, bootstrap_stack):
    doc = yaml.safe_load(bootstrap_config.STACK_FILE.read_text())
    doc["config"]["infra-bootstrap:github"]["repository"] = "*"
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_text(yaml.safe_dump(doc))
    for command in ("plan", "up"):
        result = infra("bootstrap", command, "--config", str(path), *(["--yes"] if command == "up" else []))
        assert result.exit_code == 2
        assert one_error_line(result).startswith(
            "error: Pulumi.ci.yaml: infra-bootstrap:github.repository: '*' is not OWNER/REPO")
    assert bootstrap_stack.calls == []


def test_without_the_pulumi_cli_it_points_at_the_offline_plan(infra, monkeypatch):
    monkeypatch.setattr(workspace, "find_pulumi", lambda: None)
    result = infra("bootstrap", "up", "--yes")
    assert result.exit_code == 3
    assert one_error_line(result).endswith("`infra bootstrap plan` works offline)")
