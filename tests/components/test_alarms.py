from __future__ import annotations

import json
import re

import pytest

from components.alarms import GB, Alarms, AlarmsArgs

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


API = ("app/infra-prod-api/abc", "targetgroup/infra-prod-app/def")
ENDPOINT = "infra-prod-api-123.us-east-1.elb.amazonaws.com"


def _plan(build, cfg, api=None, endpoint=None):
    return build(cfg, lambda: Alarms("a", AlarmsArgs(
        config=cfg, topic_arn=TOPIC, database_instance_id="db-1", redis_replication_group_id="cache",
        cluster_name="eks-1", api=api, endpoint=endpoint)).alarm_names)


def _alarms(build, cfg, api=None):
    plan = _plan(build, cfg, api)
    return {r.inputs["name"].removeprefix(f"{cfg.name_prefix}-"): r.inputs
            for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_memo_targets_cpu_70_memory_80(build, staging_cfg):
    alarms = _alarms(build, staging_cfg)
    assert alarms["rds-cpu"]["threshold"] == 70 and alarms["nodes-cpu"]["threshold"] == 70
    assert alarms["nodes-memory"]["threshold"] == 80 and alarms["redis-1-memory"]["threshold"] == 80
    assert alarms["nodes-memory"]["namespace"] == "ContainerInsights"
    assert alarms["nodes-memory"]["dimensions"] == {"ClusterName": "eks-1"}


def test_database_alarms(build, prod_cfg):
    alarms = _alarms(build, prod_cfg)
    storage = alarms["rds-free-storage"]
    assert storage["comparisonOperator"] == "LessThanThreshold"
    assert storage["threshold"] == prod_cfg.alarms.database_free_storage_gb * GB
    assert alarms["rds-connections"]["threshold"] == prod_cfg.alarms.database_connections
    assert all(alarms[k]["dimensions"] == {"DBInstanceIdentifier": "db-1"}
               for k in ("rds-cpu", "rds-free-storage", "rds-connections"))


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_redis_node_is_watched(build, request, env):
    cfg = request.getfixturevalue(f"{env}_cfg")
    alarms = _alarms(build, cfg)
    nodes = 1 + cfg.redis.replicas
    for i in range(1, nodes + 1):
        for metric in ("memory", "evictions", "cpu"):
            assert alarms[f"redis-{i}-{metric}"]["dimensions"] == {"CacheClusterId": f"cache-{i:03d}"}
    assert f"redis-{nodes + 1}-cpu" not in alarms


def test_alarms_and_recoveries_reach_the_topic(build, staging_cfg):
    for alarm in _alarms(build, staging_cfg).values():
        assert alarm["alarmActions"] == [TOPIC] and alarm["okActions"] == [TOPIC]
        assert alarm["period"] == 300 and alarm["evaluationPeriods"] >= 1
    for key, alarm in _alarms(build, staging_cfg, api=API).items():  # a burn window pages only through its pair
        assert (alarm.get("alarmActions"), alarm.get("okActions")) == (
            (None, None) if key.startswith("api-burn-") else ([TOPIC], [TOPIC])), key


def test_the_api_is_watched_once_a_release_serves_it(build, prod_cfg):
    assert not any(k.startswith("api-") for k in _alarms(build, prod_cfg))  # nothing serves yet: no alarm noise
    alarms = _alarms(build, prod_cfg, api=API)
    dims = {"LoadBalancer": API[0], "TargetGroup": API[1]}
    healthy = alarms["api-healthy-targets"]
    assert (healthy["metricName"], healthy["comparisonOperator"], healthy["threshold"], healthy["dimensions"]) == (
        "HealthyHostCount", "LessThanThreshold", 1, dims)
    # the memo's latency targets, by percentile, in seconds (the metric's unit)
    for percentile, seconds in (("p50", 0.1), ("p95", 0.5), ("p99", 1.0)):
        latency = alarms[f"api-latency-{percentile}"]
        assert latency["extendedStatistic"] == percentile and "statistic" not in latency
        assert latency["threshold"] == seconds and latency["dimensions"] == dims
        assert latency["metricName"] == "TargetResponseTime" and latency["namespace"] == "AWS/ApplicationELB"
    # errors as a rate of requests (the memo's 0.1%), not a count
    rate = alarms["api-error-rate"]
    assert "metricName" not in rate and rate["threshold"] == 0.1 and rate["evaluationPeriods"] == 3
    [expression] = [q["expression"] for q in rate["metricQueries"] if q.get("returnData")]
    assert expression == "100 * IF(requests > 0, (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)"
    assert {q["metric"]["metricName"] for q in rate["metricQueries"] if "metric" in q} == {
        "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount"}


def test_availability_slo_pages_on_a_fast_and_a_slow_burn(build, prod_cfg):
    """The SRE workbook's pairs: 14.4x over 1 h and 5 min (2% of a 30-day budget), 6x over 6 h and 30 min (5%)."""
    plan = _plan(build, prod_cfg, api=API)
    alarms = {r.inputs["name"].removeprefix("infra-prod-"): r.inputs
              for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    for key, seconds, factor in (("1h", 3600, 14.4), ("5m", 300, 14.4), ("6h", 21600, 6), ("30m", 1800, 6)):
        burn = alarms[f"api-burn-{key}"]
        assert burn["threshold"] == factor and burn["evaluationPeriods"] == 1
        assert {q["metric"]["period"] for q in burn["metricQueries"] if "metric" in q} == {seconds}
        [expression] = [q["expression"] for q in burn["metricQueries"] if q.get("returnData")]
        assert expression.endswith(" / 0.005")  # the error budget of 99.5%
        assert burn["treatMissingData"] == "notBreaching"  # no traffic burns nothing
    composites = {r.inputs["alarmName"]: r.inputs for r in plan.by_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")}
    assert composites["infra-prod-api-slo-fast-burn"]["alarmRule"] == (
        'ALARM("infra-prod-api-burn-1h") AND ALARM("infra-prod-api-burn-5m")')
    assert composites["infra-prod-api-slo-slow-burn"]["alarmRule"] == (
        'ALARM("infra-prod-api-burn-6h") AND ALARM("infra-prod-api-burn-30m")')
    assert all(c["alarmActions"] == [TOPIC] == c["okActions"] for c in composites.values())


def test_a_different_slo_changes_the_budget(build, staging_cfg):
    cfg = staging_cfg.model_copy(update={"alarms": staging_cfg.alarms.model_copy(
        update={"availability_slo_percent": 99.9})})
    burn = _alarms(build, cfg, api=API)["api-burn-1h"]
    assert [q["expression"] for q in burn["metricQueries"] if q.get("returnData")][0].endswith(" / 0.001")


IDENTIFIER = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\b")
FUNCTIONS = {"IF", "FILL", "SUM", "AVG", "MIN", "MAX", "METRICS", "RATE", "AND", "OR"}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_every_metric_math_alarm_is_well_formed(build, request, env):
    """Ids valid and unique, every expression uses only defined ids, exactly one query returns data."""
    cfg = request.getfixturevalue(f"{env}_cfg")
    math = [a for a in _alarms(build, cfg, api=API).values() if "metricQueries" in a]
    assert len(math) == 5
    for alarm in math:
        queries = alarm["metricQueries"]
        ids = [q["id"] for q in queries]
        assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z][a-zA-Z0-9_]*", i) for i in ids)
        assert sum(bool(q.get("returnData")) for q in queries) == 1, alarm["name"]
        assert not {"metricName", "namespace", "statistic", "period"} & alarm.keys()  # math and metric exclude
        for q in queries:
            assert ("metric" in q) != ("expression" in q)
            if "expression" in q:
                used = set(IDENTIFIER.findall(q["expression"])) - FUNCTIONS
                assert used <= set(ids) - {q["id"]}, f"{alarm['name']}: {used - set(ids)} undefined"
            else:
                assert q["metric"]["stat"] == "Sum" and q["metric"]["dimensions"] == {"LoadBalancer": API[0]}


def test_uptime_is_checked_from_outside_on_the_health_path(build, prod_cfg):
    plan = _plan(build, prod_cfg, api=API, endpoint=ENDPOINT)
    [check] = plan.by_type("aws:route53/healthCheck:HealthCheck")
    check = check.inputs
    assert (check["type"], check["fqdn"], check["port"], check["resourcePath"], check["enableSni"]) == (
        "HTTPS", ENDPOINT, 443, "/readyz", True)
    [uptime] = [r.inputs for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if r.inputs["name"] == "infra-prod-api-uptime"]
    assert (uptime["namespace"], uptime["metricName"], uptime["threshold"]) == ("AWS/Route53", "HealthCheckStatus", 1)
    assert uptime["dimensions"] == {"HealthCheckId": plan.by_type("aws:route53/healthCheck:HealthCheck")[0].id}
    assert uptime["alarmActions"] == [TOPIC]
    # the API's own domain, when configured, is what users call: check that instead of the load balancer
    cfg = prod_cfg.model_copy(update={"alarms": prod_cfg.alarms.model_copy(
        update={"health_check_domain": "api.generic-corp.com"})})
    [check] = _plan(build, cfg, api=API, endpoint=ENDPOINT).by_type("aws:route53/healthCheck:HealthCheck")
    assert check.inputs["fqdn"] == "api.generic-corp.com"
    assert not _plan(build, prod_cfg, endpoint=ENDPOINT).by_type("aws:route53/healthCheck:HealthCheck")  # no release
    # outside us-east-1 the check's metrics are out of the topic's reach: the check stays, its alarm does not
    elsewhere = _plan(build, prod_cfg.model_copy(update={"region": "eu-west-1"}), api=API, endpoint=ENDPOINT)
    assert elsewhere.by_type("aws:route53/healthCheck:HealthCheck")
    assert not [r for r in elsewhere.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if r.inputs["name"] == "infra-prod-api-uptime"]


def test_slack_only_when_configured_and_without_a_secret(build, staging_cfg):
    from stacks.config import SlackConfig

    assert not _plan(build, staging_cfg).by_type("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration")
    cfg = staging_cfg.model_copy(update={"alarms": staging_cfg.alarms.model_copy(
        update={"slack": SlackConfig(workspace_id="T0123ABCDE", channel_id="C0123ABCDE")})})
    plan = _plan(build, cfg)
    [slack] = plan.by_type("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration")
    assert (slack.inputs["slackTeamId"], slack.inputs["slackChannelId"], slack.inputs["snsTopicArns"]) == (
        "T0123ABCDE", "C0123ABCDE", [TOPIC])
    [role] = plan.by_type("aws:iam/role:Role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "chatbot.amazonaws.com"}
    [policy] = plan.by_type("aws:iam/rolePolicy:RolePolicy")
    assert all(a.startswith("cloudwatch:") for a in json.loads(policy.inputs["policy"])["Statement"][0]["Action"])
