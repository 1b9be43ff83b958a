"""`infra plan` through Typer's test runner: what the SRE sees, and what CI parses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.fixture
def infra():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_plan_shows_every_component_and_its_key_settings(infra, staging_plan):
    result = infra("plan", "staging")
    assert result.exit_code == 0, result.output
    out = result.stdout
    custom = len(staging_plan.custom_resources())
    components = {r.type for r in staging_plan.resources if not r.custom} - {"pulumi:pulumi:Stack"}
    assert f"staging (us-east-1): {custom} resources in {len(components)} components" in out
    assert len(components) >= 9
    for component in ("infra:aws:Network", "infra:aws:EksCluster", "infra:aws:PostgresDatabase",
                      "infra:aws:RedisCache", "infra:aws:EncryptionKeys", "infra:aws:ApplicationSecrets",
                      "infra:k8s:NetworkPolicies", "infra:aws:BudgetAlerts", "infra:aws:Alarms"):
        assert component in out
    assert "multiAz=True" in out and "storageEncrypted=True" in out
    assert "transitEncryptionEnabled=True" in out
    # network policies in words: what each namespace may reach
    assert "denies all ingress and egress" in out and "to namespace temporal on 7233/TCP" in out
    assert "except 5 private ranges on 443/TCP" in out
    # workloads by their containers: Temporal's servers, images pinned, with their limits
    assert "infra:k8s:Temporal" in out
    assert "frontend: temporalio/server:1.29.1 (limits cpu=1, memory=512Mi)" in " ".join(out.split())


def test_json_document_is_versioned_and_complete(infra, staging_plan):
    result = infra("plan", "staging", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["environment"] == "staging"
    assert len(doc["resources"]) == len(staging_plan.resources) - 1  # all but the stack itself
    for r in doc["resources"]:
        assert {"type", "name", "parent", "inputs"} <= r.keys()
    [db] = [r for r in doc["resources"] if r["type"] == "aws:rds/instance:Instance"]
    # engine property names, as Pulumi sends them
    assert db["inputs"]["storageEncrypted"] is True and "storage_encrypted" not in db["inputs"]
    assert db["parent"].endswith("infra:aws:PostgresDatabase::infra-staging-postgres")
    components = [r for r in doc["resources"] if not r["custom"]]
    assert all(c["parent"] is None for c in components)
    assert "[secret]" in result.stdout and "mock-" not in result.stdout


def test_json_is_stable_between_runs(infra):
    assert infra("plan", "prod", "--json").stdout == infra("plan", "prod", "--json").stdout


def test_config_what_if_plans_from_another_file(infra, write_config):
    def bigger(cfg):
        cfg["infra:eks"]["nodeGroups"].append({
            "name": "gpu", "instanceTypes": ["g5.xlarge"], "minSize": 0, "desiredSize": 0, "maxSize": 2})

    path = write_config("staging", bigger, name="what-if.yaml")
    doc = json.loads(infra("plan", "staging", "--config", str(path), "--json").stdout)
    groups = sorted(r["inputs"]["nodeGroupName"] for r in doc["resources"]
                    if r["type"] == "aws:eks/nodeGroup:NodeGroup")
    assert groups == ["infra-staging-general", "infra-staging-gpu"]


def test_a_what_if_plan_says_so_and_its_own_stack_file_does_not(infra, write_config):
    from tests.conftest import ROOT

    path = write_config("staging", name="what-if.yaml")
    label = f"WHAT-IF: staging planned from {path}, not Pulumi.staging.yaml; `infra up staging` would not apply this"
    shown = infra("plan", "staging", "--config", str(path))
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert lines[0] == label and lines[-1] == label  # first thing seen, and beside the verdict
    as_json = infra("plan", "staging", "--config", str(path), "--json")
    assert label in as_json.stderr and json.loads(as_json.stdout)["environment"] == "staging"
    estimate = infra("cost", "estimate", "staging", "--config", str(path))
    assert estimate.stdout.splitlines()[-1] == label
    own = infra("plan", "staging", "--config", str(ROOT / "Pulumi.staging.yaml"))
    assert "WHAT-IF" not in own.stdout


def test_another_environments_stack_file_is_refused_under_this_name(infra, tmp_path, monkeypatch):
    from stacks import offline
    from tests.conftest import ROOT

    monkeypatch.setattr(offline, "run", lambda cfg: pytest.fail("planned prod's file as staging"))
    copy = tmp_path / "candidate.yaml"
    copy.write_bytes((ROOT / "Pulumi.prod.yaml").read_bytes())
    for path in (ROOT / "Pulumi.prod.yaml", copy):  # by its name, and by its content under another name
        for command in (["plan", "staging"], ["cost", "estimate", "staging"]):
            result = infra(*command, "--config", str(path))
            assert result.exit_code == 2, result.output
            assert result.stderr.strip() == (
                f"error: --config {path} is prod's stack file, not a what-if for staging; nothing was planned "
                "(run `infra plan prod`, or start a what-if for staging from a copy of Pulumi.staging.yaml)")


BAD = [
    (["plan", "qa"], "unknown environment 'qa'"),
    (["plan", "../prod"], "unknown environment '../prod'"),
    (["plan", ""], "the environment name is empty"),
    (["plan", "staging", "--config", "/nonexistent/Pulumi.staging.yaml"], "config file not found"),
    # usage errors too: one line naming the help to read, not click's usage block and boxed message
    (["plan"], "Missing argument 'env' (see `infra plan --help`)"),
    (["plna", "staging"], "No such command 'plna'. Did you mean 'plan'? (see `infra --help`)"),
    (["--bogus"], "No such option: --bogus (see `infra --help`)"),
    (["policy", "chek", "plan.json"], "Did you mean 'check'? (see `infra policy --help`)"),
    (["cost", "report", "staging", "--days", "x"], "Invalid value for '--days'"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_is_one_line_exit_2(infra, args, message):
    result = infra(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: c["infra:postgres"].update(multiAz=False), "infra:postgres.multiAz: prod must be Multi-AZ"),
    (lambda c: c["infra:network"].update(privateSubnets=["10.30.0.0/19", "10.30.64.0/19", "10.30.96.0/19"]),
     "overlaps"),
    (lambda c: c.update({"infra:nodeGroups": []}), "unknown key"),
])
def test_bad_prod_config_is_refused_before_anything_runs(infra, write_config, mutate, message, monkeypatch):
    from stacks import offline

    def must_not_run(cfg):
        raise AssertionError("the program ran on an invalid config")

    monkeypatch.setattr(offline, "run", must_not_run)
    result = infra("plan", "prod", "--config", str(write_config("prod", mutate)))
    assert result.exit_code == 2
    assert message in result.stderr and "Pulumi.prod.yaml" in result.stderr


def test_help_documents_exit_codes(infra):
    result = infra("--help")
    assert result.exit_code == 0
    for code in ("0 ok", "1 operation failed", "2 invalid input", "3 missing prerequisite",
                 "4 blocked by a guardrail"):
        assert code in result.stdout
