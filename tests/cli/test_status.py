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
AUTOSCALERS = "/apis/autoscaling/v2/namespaces/{}/horizontalpodautoscalers"


def infra(*args: str):
    if args[0] == "status" and len(args) > 1:  # moto on a busy machine may need more than the 2.5 s default
        args = (*args, "--timeout", "60")
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def environment(aws, monkeypatch):
    """A staging environment as AWS and the cluster report it: healthy unless a test says otherwise."""
    create_db()
    create_group()
    cloudwatch = aws_client("cloudwatch")
    topic = "arn:aws:sns:us-east-1:123456789012:infra-staging-alerts"
    for name in ("infra-staging-rds-cpu", "infra-staging-api-5xx", "infra-prod-api-5xx"):
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="n", Statistic="Sum", Period=300,
                                    EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                                    AlarmActions=[topic])
    # one window of a burn-rate pair: no actions of its own (its composite pages), so not shown as firing
    cloudwatch.put_metric_alarm(AlarmName="infra-staging-api-burn-5m", MetricName="m", Namespace="n", Statistic="Sum",
                                Period=300, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="infra-staging-api-burn-5m", StateValue="ALARM", StateReason="a blip")
    for name in ("infra-staging-rds-cpu", "infra-staging-api-5xx"):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    cloudwatch.set_alarm_state(AlarmName="infra-prod-api-5xx", StateValue="ALARM", StateReason="prod's")
    server = RecordedApiServer({
        **{("GET", DEPLOYMENTS.format(ns)): [(200, "workers_running.json")] for ns in ("app", "workers")},
        ("GET", DEPLOYMENTS.format("temporal")): [(200, "temporal_running.json")],
        ("GET", AUTOSCALERS.format("app")): [(200, "hpas_app.json")],
        # staging's workers: a ceiling equal to the floor (the quota leaves no room), calm there
        ("GET", AUTOSCALERS.format("workers")): [(200, "hpas_workers_fixed.json")],
        ("GET", AUTOSCALERS.format("temporal")): [(200, "hpas_none.json")],
    })
    traffic(load_balancer(), requests_per_day=[40_000] * 5, errors_per_day=[4] * 5)
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))
    return server


def load_balancer(name: str = "infra-staging-api") -> str:
    """The environment's ALB as AWS reports it; returns CloudWatch's LoadBalancer dimension (its ARN suffix)."""
    found = aws_client("elbv2").describe_load_balancers()["LoadBalancers"]
    if any(b["LoadBalancerName"] == name for b in found):
        arn = next(b["LoadBalancerArn"] for b in found if b["LoadBalancerName"] == name)
        return arn.split(":loadbalancer/", 1)[1]
    ec2 = aws_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i * 4}.0/22", AvailabilityZone=f"us-east-1{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    arn = aws_client("elbv2").create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    return arn.split(":loadbalancer/", 1)[1]


def traffic(dimension: str, *, requests_per_day: list[int], errors_per_day: list[int], elb_errors: int = 0) -> None:
    """What the load balancer published over the last days: requests and the app's 5xx, one figure a day."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    data = []
    for day, (requests, errors) in enumerate(zip(requests_per_day, errors_per_day, strict=True), start=1):
        when = now - timedelta(days=day, hours=3)
        dims = [{"Name": "LoadBalancer", "Value": dimension}]
        data += [{"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": when, "Value": requests},
                 {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": when, "Value": errors}]
    if elb_errors:
        data.append({"MetricName": "HTTPCode_ELB_5XX_Count", "Timestamp": now - timedelta(days=1),
                     "Dimensions": [{"Name": "LoadBalancer", "Value": dimension}], "Value": elb_errors})
    aws_client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


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
    # 20 of 200,000 requests failed: 99.99% against 99.5% leaves 98% of the budget (1,000 may fail)
    assert found["slo"]["detail"] == ("availability 99.990% (SLO 99.5% over 30 days); error budget 98% left; "
                                      "20 of 200,000 requests answered 5xx")
    assert found["autoscaling"]["detail"] == ("2 autoscalers, none asking for more than its maximum; at their "
                                              "maximum, not asking for more: workers/worker 2/2")


def test_what_needs_attention_is_named_and_exits_1(environment, aws):
    aws_client("cloudwatch").set_alarm_state(AlarmName="infra-staging-api-5xx", StateValue="ALARM",
                                             StateReason="Threshold Crossed")
    spend(aws, 850.0)  # 94% of $900
    environment.routes[("GET", DEPLOYMENTS.format("temporal"))] = [(200, "temporal_unavailable.json")]
    environment.routes[("GET", AUTOSCALERS.format("app"))] = [(200, "hpas_app_at_max.json")]
    # a bad day: the app's 5xx and the load balancer's own (no healthy target) both spend the budget
    traffic(load_balancer("infra-staging-api"), requests_per_day=[], errors_per_day=[], elb_errors=1500)

    result = infra("status", "staging")

    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "alarms ATTENTION 1 firing: infra-staging-api-5xx" in out
    assert "budget ATTENTION $850.00 of $900.00 (94%) this month: breaker warn" in out
    assert ("workloads ATTENTION 5 of 11 deployments short: temporal/temporal-frontend 0/2 ready; "
            "temporal/temporal-history missing; temporal/temporal-matching missing; temporal/temporal-web missing; "
            "temporal/temporal-worker missing") in out
    assert "database ok" in out and "redis ok" in out
    assert ("slo ATTENTION availability 99.240% (SLO 99.5% over 30 days); error budget 0% left (spent: the SLO is "
            "broken); 1,520 of 200,000 requests answered 5xx") in out
    assert ("autoscaling ATTENTION 1 of 2 at their maximum and asking for more: app/app 3/3 (raise "
            "infra:autoscaling maxReplicas") in out
    assert "needs attention: alarms, budget, slo, workloads, autoscaling" in out


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
    assert result.stdout.strip().splitlines()[-1] == ("could not read workloads, autoscaling; "
                                                      "nothing needs attention in the rest")


def test_the_recorded_autoscalers_are_real_api_objects():
    """The recorded answers the autoscaling part reads validate against the cluster version's schema."""
    import kubernetes_validate

    from tests.runbooks.k8s_api import RECORDED

    for name in ("hpas_app.json", "hpas_app_at_max.json", "hpas_workers_fixed.json"):
        for item in json.loads((RECORDED / name).read_text())["items"]:
            manifest = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", **item}
            kubernetes_validate.validate(manifest, "1.33.0", strict=True)


def test_a_part_that_never_answers_costs_the_deadline_not_the_answer(staging_cfg, monkeypatch):
    """One silent endpoint: its part is unknown after the deadline, the others answer, nothing waits longer."""
    import threading
    import time

    from cli import status_cmd

    release = threading.Event()

    def silent(cfg):
        release.wait(30)
        return True, "too late"

    monkeypatch.setattr(status_cmd, "PARTS", {"database": lambda cfg: (True, "quick"), "slo": silent})
    start = time.monotonic()
    try:
        readings, waiting = status_cmd._read_all(staging_cfg, 1.0)
        assert time.monotonic() - start < 3
        assert [t.name for t in waiting] == ["status-slo"]  # `infra status` leaves without waiting for it
    finally:
        release.set()
    for thread in waiting:
        thread.join(5)
    assert [(r.part, r.state) for r in readings] == [("database", "ok"), ("slo", "unknown")]
    assert readings[1].detail.startswith("no answer within 1 s")
