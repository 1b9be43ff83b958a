"""`infra plan ENV --compare-to BASE.json`: what a pull request changes and costs, through Typer's runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.fixture
def infra():
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def base(tmp_path, staging_plan):
    """The target branch's plan document, as `infra plan staging --json` prints it."""
    from cli.plan_view import document

    def write(mutate=None, name="base.json"):
        doc = document(staging_plan)
        if mutate:
            mutate(doc)
        path = tmp_path / name
        path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
        return path

    return write


def bigger_database(cfg):
    cfg["infra:postgres"]["instanceClass"] = "db.t4g.large"


def test_no_change_against_the_same_plan(infra, base):
    result = infra("plan", "staging", "--compare-to", str(base()))
    assert result.exit_code == 0, result.output
    assert "staging: 0 to add, 0 to remove, 0 to change" in result.stdout
    assert "no change in estimated cost" in result.stdout
    assert "Monthly cost: $499.43 -> $499.43 ($0.00), budget $900.00 (55%)" in result.stdout


def test_a_change_property_by_property_with_cost_before_after_and_difference(infra, base, write_config):
    def drop_log_group(doc):  # the base lacks one resource: this branch adds it
        doc["resources"] = [r for r in doc["resources"] if r["name"] != "infra-staging-network-flow-logs"]

    path = write_config("staging", bigger_database)
    result = infra("plan", "staging", "--config", str(path), "--compare-to", str(base(drop_log_group)))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "staging: 1 to add, 0 to remove, 1 to change" in out
    assert "~ rds.Instance infra-staging-postgres-instance\n    instanceClass: db.t4g.medium -> db.t4g.large" in out
    assert "+ cloudwatch.LogGroup infra-staging-network-flow-logs\n" in out
    assert "retentionInDays: 30" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["infra-staging-postgres-instance", "rds.Instance", "$106.80", "$200.24", "+$93.44"] in rows
    assert ["infra-staging-network-flow-logs", "cloudwatch.LogGroup", "-", "$10.00", "+$10.00"] in rows
    assert "Monthly cost: $489.43 -> $592.87 (+$103.44), budget $900.00 (66%)" in out


def test_json_carries_infracost_totals(infra, base, write_config):
    result = infra("plan", "staging", "--config", str(write_config("staging", bigger_database)),
                   "--compare-to", str(base()), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["pastTotalMonthlyCost"] == 499.43
    assert doc["diffTotalMonthlyCost"] == 93.44
    assert doc["totalMonthlyCost"] == round(499.43 + 93.44, 2)
    assert doc["summary"] == {"add": 0, "remove": 0, "change": 1}
    [change] = doc["resources"]
    assert change["properties"] == [{"path": "instanceClass", "before": "db.t4g.medium", "after": "db.t4g.large"}]
    assert doc["costs"] == [{"type": "aws:rds/instance:Instance", "name": "infra-staging-postgres-instance",
                             "pastMonthlyCost": 106.8, "monthlyCost": 200.24, "diffMonthlyCost": 93.44,
                             "unknown": False}]
    assert "Guardrails:" in result.stderr  # stdout stays pure JSON


def test_a_change_over_the_budget_fails_the_check_after_showing_everything(infra, base, write_config):
    def bigger_and_tighter(cfg):
        bigger_database(cfg)
        cfg["infra:budget"]["monthlyUsd"] = 550

    result = infra("plan", "staging", "--config", str(write_config("staging", bigger_and_tighter)),
                   "--compare-to", str(base()))
    assert result.exit_code == 4
    assert "instanceClass: db.t4g.medium -> db.t4g.large" in result.stdout
    assert result.stderr.strip() == (
        "error: this change takes staging's estimate to $592.87 a month (+$93.44), over its $550.00 budget "
        "(make it cheaper, or raise infra:budget.monthlyUsd in the same change)")


def test_a_change_that_lifts_protect_on_prods_database_is_shown(infra, tmp_path, prod_plan):
    from cli.plan_view import document

    doc = document(prod_plan)
    for r in doc["resources"]:
        if r["type"] == "aws:rds/instance:Instance":
            assert r["protect"] is True
            r["protect"] = False  # the base had it off: this branch turns it on
    base = tmp_path / "prod.json"
    base.write_text(json.dumps(doc))
    result = infra("plan", "prod", "--compare-to", str(base))
    assert result.exit_code == 0, result.output
    assert "~ rds.Instance infra-prod-postgres-instance\n    (protect): false -> true" in result.stdout


BAD_BASES = [
    (lambda doc: doc.update(version=2), "plan document version 2 is not supported"),
    (lambda doc: doc.update(environment="prod"), "the document's environment and its URNs disagree"),
    (lambda doc: doc["resources"][5].update(urn=doc["resources"][5]["urn"].replace("::infra::", "::billing::")),
     "not one of project 'infra' stack 'staging'"),
    (lambda doc: doc.pop("resources"), "not an infra plan document"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_BASES)
def test_a_bad_base_is_one_line_exit_2_before_anything_runs(infra, base, mutate, message, monkeypatch):
    from stacks import offline

    monkeypatch.setattr(offline, "run", lambda cfg: pytest.fail("planned despite a bad base"))
    result = infra("plan", "staging", "--compare-to", str(base(mutate)))
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_a_malformed_or_missing_base_is_one_line_exit_2(infra, tmp_path):
    broken = tmp_path / "base.json"
    broken.write_text('{"version": 1, "environment": "staging", "resources": [')
    for path, message in ((broken, "not valid JSON"), (tmp_path / "none.json", "no such file")):
        result = infra("plan", "staging", "--compare-to", str(path))
        assert result.exit_code == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
