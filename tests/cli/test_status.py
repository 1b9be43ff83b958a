"""`infra status ENV` against moto's server over HTTP (RDS, ElastiCache, CloudWatch, Cost Explorer) and the
kubernetes client fed recorded API responses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import moto_api
from tests.runbooks.k8s_api import RecordedApiServer, api_client
from tests.runbooks.test_aws_runbooks import aws_client, create_db, create_group

DEPLOYMENTS = "/apis/apps/v1/namespaces/{}/deployments"


def infra(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def environment(aws, monkeypatch):
    """A staging environment as AWS and the cluster report it: healthy unless a test says otherwise."""
    create_db()
    create_group()
    cloudwatch = aws_client("cloudwatch")
    for name in ("infra-staging-rds-cpu", "infra-staging-api-5xx", "infra-prod-api-5xx"):
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="n", Statistic="Sum", Period=300,
                                    EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    for name in ("infra-staging-rds-cpu", "infra-staging-api-5xx"):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    cloudwatch.set_alarm_state(AlarmName="infra-prod-api-5xx", StateValue="ALARM", StateReason="prod's")
    server = RecordedApiServer({("GET", DEPLOYMENTS.format(ns)): [(200, "workers_running.json")]
                                for ns in ("app", "workers")})
    server.routes[("GET", DEPLOYMENTS.format("temporal"))] = [(200, "temporal_running.json")]
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))
    return server


def spend(server: str, usd: float) -> None:
    moto_api(server, "static/ce/cost-and-usage-results", {"results": [{"ResultsByTime": [{
        "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-23"},
        "Total": {"UnblendedCost": {"Amount": str(usd), "Unit": "USD"}}, "Groups": [], "Estimated": True}]}]})


def parts(result) -> dict[str, dict]:
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["environment"] == "staging"
    return {p["part"]: p for p in doc["parts"]}


def test_a_healthy_environment_reads_ok_everywhere(environment, aws):
    spend(aws, 310.0)
    result = infra("status", "staging", "--json")

    assert result.exit_code == 0, result.output
    found = parts(result)
    assert all(p["state"] == "ok" for p in found.values()), found
    assert found["database"]["detail"] == ("infra-staging-postgres available, Multi-AZ, primary in us-east-1a, "
                                           "with a standby")
    assert "infra-staging-redis available, 2 nodes, primary" in found["redis"]["detail"]
    assert "automatic failover on" in found["redis"]["detail"]
    assert found["alarms"]["detail"] == "no alarm firing"  # prod's firing alarm is not staging's
    assert found["budget"]["detail"].startswith("$310.00 of $900.00 (34%) this month: breaker ok")
    assert found["workloads"]["detail"] == (  # app and workers 3 each, Temporal's 5; the release from app and workers
        "11 deployments, every replica ready; running registry.example.com/platform/app:2.0.0")


def test_what_needs_attention_is_named_and_exits_1(environment, aws):
    aws_client("cloudwatch").set_alarm_state(AlarmName="infra-staging-api-5xx", StateValue="ALARM",
                                             StateReason="Threshold Crossed")
    spend(aws, 850.0)  # 94% of $900
    environment.routes[("GET", DEPLOYMENTS.format("temporal"))] = [(200, "temporal_unavailable.json")]

    result = infra("status", "staging")

    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "alarms ATTENTION 1 firing: infra-staging-api-5xx" in out
    assert "budget ATTENTION $850.00 of $900.00 (94%) this month: breaker warn" in out
    assert ("workloads ATTENTION 5 of 11 deployments short: temporal/temporal-frontend 0/2 ready; "
            "temporal/temporal-history missing; temporal/temporal-matching missing; temporal/temporal-web missing; "
            "temporal/temporal-worker missing") in out
    assert "database ok" in out and "redis ok" in out
    assert "needs attention: alarms, budget, workloads" in out


def test_a_part_that_cannot_be_read_is_unknown_and_the_rest_still_answer(environment, aws, monkeypatch):
    spend(aws, 310.0)
    from stacks.errors import MissingPrerequisite

    def no_kubeconfig():
        raise MissingPrerequisite("no Kubernetes credentials: no kubeconfig and not running in a cluster")

    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", no_kubeconfig)
    aws_client("rds").delete_db_instance(DBInstanceIdentifier="infra-staging-postgres", SkipFinalSnapshot=True)

    result = infra("status", "staging", "--json")

    found = parts(result)
    assert found["workloads"]["state"] == "unknown" and "no Kubernetes credentials" in found["workloads"]["detail"]
    assert found["database"]["state"] == "unknown" and "infra-staging-postgres" in found["database"]["detail"]
    assert found["redis"]["state"] == found["alarms"]["state"] == found["budget"]["state"] == "ok"
    assert result.exit_code == 3


def test_unknown_environment_is_one_line_exit_2():
    result = infra("status", "qa")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown environment 'qa' (use one of: staging, prod)"


def test_when_no_part_can_be_read_it_says_it_could_not_tell_and_exits_3(monkeypatch):
    # No AWS endpoint and no cluster reachable: every row is unknown, and so is the verdict.
    from stacks.errors import MissingPrerequisite

    def nothing(cfg):
        raise MissingPrerequisite("no AWS credentials found")

    from cli import status_cmd

    for part in status_cmd.PARTS:
        monkeypatch.setitem(status_cmd.PARTS, part, nothing)

    result = infra("status", "staging")

    assert result.exit_code == 3
    out = " ".join(result.stdout.split())
    assert "nothing needs attention" not in out and "healthy" not in out
    assert out.endswith("could not tell: no part could be read (each row says why; `infra doctor` checks access)")
    doc = json.loads(infra("status", "staging", "--json").stdout)
    assert doc["healthy"] is False and {p["state"] for p in doc["parts"]} == {"unknown"}


def test_some_parts_unread_are_named_in_the_verdict(environment, aws, monkeypatch):
    spend(aws, 310.0)
    from stacks.errors import MissingPrerequisite

    def no_kubeconfig():
        raise MissingPrerequisite("no Kubernetes credentials")

    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", no_kubeconfig)
    result = infra("status", "staging")
    assert result.exit_code == 3
    assert result.stdout.strip().splitlines()[-1] == "could not read workloads; nothing needs attention in the rest"
