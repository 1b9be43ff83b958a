"""`infra plan` blocks on guardrails; `infra policy check|list`; `infra cost estimate`."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from cli.main import app


def infra(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def saved_plan(tmp_path):
    path = tmp_path / "plan.json"
    result = infra("plan", "prod", "--json")
    assert result.exit_code == 0
    path.write_text(result.stdout)
    return path


def test_plan_reports_guardrails_and_cost(staging_cfg):
    result = infra("plan", "staging")
    assert result.exit_code == 0
    assert "0 mandatory and 0 advisory violations" in result.stdout
    assert "Estimated monthly cost: $" in result.stdout and "of the $900.00 budget" in result.stdout


def test_plan_with_a_mandatory_violation_exits_4(monkeypatch, staging_plan):
    from stacks import offline

    broken = copy.deepcopy(staging_plan)
    db = next(r for r in broken.resources if r.type == "aws:rds/instance:Instance")
    db.inputs["publiclyAccessible"] = True
    monkeypatch.setattr(offline, "run", lambda cfg: broken)
    result = infra("plan", "staging")
    assert result.exit_code == 4
    assert "rds-not-public" in result.stdout and "infra-staging-postgres-instance" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "error: 1 mandatory guardrail violation: nothing may deploy (fix them or see: infra policy list)"]


def test_policy_check_passes_a_saved_plan(saved_plan):
    result = infra("policy", "check", str(saved_plan))
    assert result.exit_code == 0 and "0 mandatory and 0 advisory violations" in result.stdout


def test_policy_check_blocks_a_doctored_plan(saved_plan):
    doc = json.loads(saved_plan.read_text())
    for r in doc["resources"]:
        if r["type"] == "aws:elasticache/replicationGroup:ReplicationGroup":
            r["inputs"]["transitEncryptionEnabled"] = False
    saved_plan.write_text(json.dumps(doc))
    result = infra("policy", "check", str(saved_plan))
    assert result.exit_code == 4 and "redis-encryption" in result.stdout and "in transit" in result.stdout


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON (line 1, column 2)"),
    ('{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}', "not an infra plan document"),
    ('{"version": 2, "environment": "prod", "resources": []}', "plan document version 2 is not supported"),
    ('{"version": 1, "environment": "qa", "resources": []}', "$.environment: 'qa' is not one of"),
    ('{"version": 1, "environment": "prod", "resources": [42]}', "$.resources[0]: 42 is not of type 'object'"),
])
def test_policy_check_refuses_what_is_not_a_plan(tmp_path, content, message):
    path = tmp_path / "plan.json"
    path.write_text(content)
    result = infra("policy", "check", str(path))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert message in line and "Traceback" not in result.stderr


def test_policy_list_shows_levels_and_checkov_ids():
    out = infra("policy", "list").stdout
    assert "rds-storage-encrypted" in out and "mandatory" in out and "CKV_AWS_16" in out
    assert "cost-within-budget" in out and "advisory" in out


def test_cost_estimate_json(prod_cfg):
    result = infra("cost", "estimate", "prod", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["budgetMonthlyUsd"] == prod_cfg.budget.monthly_usd
    assert doc["unknownCount"] == 0 and doc["withinBudget"] is True
    assert doc["totalMonthlyUsd"] == doc["pricedMonthlyUsd"]
    assert doc["totalMonthlyUsd"] == pytest.approx(sum(i["monthlyUsd"] for i in doc["items"]), abs=0.05)
    rds = next(i for i in doc["items"] if i["type"] == "aws:rds/instance:Instance")
    assert "Multi-AZ" in rds["detail"]


def test_cost_estimate_table_lists_unknowns(monkeypatch, tmp_path):
    import policies.cost as cost

    table = cost.load_prices("us-east-1")
    monkeypatch.setattr(cost, "load_prices", lambda region: type(table)(
        region=table.region, hours_per_month=table.hours_per_month,
        prices={k: v for k, v in table.prices.items() if not k.startswith("elasticache:")},
        free=table.free, assumptions=table.assumptions))
    result = infra("cost", "estimate", "staging")
    assert result.exit_code == 0
    out = " ".join(result.stdout.split())
    assert "Estimated monthly cost: unknown: $" in out and "priced, plus 1 resource with no price " \
        "(infra-staging-redis-group); cannot tell whether it fits the $900.00 budget" in out
    assert "of the $900.00 budget (" not in out, "never claims to fit while something is unpriced"
    doc = json.loads(infra("cost", "estimate", "staging", "--json").stdout)
    assert doc["totalMonthlyUsd"] is None and doc["withinBudget"] is None and doc["unknownCount"] == 1
    assert doc["pricedMonthlyUsd"] == pytest.approx(sum(i["monthlyUsd"] or 0 for i in doc["items"]), abs=0.05)
    plan = infra("plan", "staging")
    assert "cost-within-budget" in plan.stdout and "cannot tell whether it fits" in " ".join(plan.stdout.split())
